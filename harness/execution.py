"""Answers checked by running programs: generated code with the task's tests (HumanEval-zh), or a verifier that
ships with the data (CPIFOpen's `check_response`). Both are untrusted, so programs run only through
harness/sandbox.py: a separate process per program with time, CPU, memory, process, network and file limits.

A program passes when it exits with status 0 within its limits; anything else (a failed assert, a timeout,
the memory limit, a blocked system call) is a failure and its status is recorded per sample.
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|\Z)", re.S | re.I)


def extract_code(output: str, entry_point: str | None = None) -> str:
    """The code to put after the prompt. A chat model answers with a fenced block, usually the whole function:
    take the block that defines `entry_point` (else the first). A base model continues the prompt's function
    body: keep the indented lines and stop at the first line back at column 0 that is not a decorator or
    `def` continuing the solution (the harness's stop rule, applied after generation so fenced answers survive)."""
    blocks = _FENCE.findall(output)
    if blocks:
        if entry_point:
            for b in blocks:
                if re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", b, re.M):
                    return "\n" + b
        return "\n" + blocks[0]
    lines = output.split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        if i > 0 and line and not line[0].isspace() and not line.startswith(("#", ")", "]", "}")):
            break
        kept.append(line)
    return "\n".join(kept)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    if n < k:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod((n - c - i) / (n - i) for i in range(k))


def render_programs(task: Any, sample: Any, outputs: Sequence[str]) -> list[tuple[str, str | None]]:
    """(program, stdin) for each generation of one item, from the task's execution templates."""
    from harness.tasks import _doc

    spec = task.spec.execution
    doc = _doc(sample)
    entry = _entry_point(sample.raw)
    out = []
    for text in outputs:
        code = extract_code(text, entry) if spec.code == "python" else ""
        program = task.execution_program.render(doc=doc, output=text, code=code)
        stdin = task.execution_stdin.render(doc=doc, output=text, code=code) if task.execution_stdin else None
        out.append((program, stdin))
    return out


def _entry_point(row: dict[str, Any]) -> str | None:
    """HumanEval's `entry_point`, or (HumanEval-X style files have none) the name in `func_title`/the test's check()."""
    if row.get("entry_point"):
        return str(row["entry_point"])
    m = re.match(r"\s*def\s+(\w+)\s*\(", str(row.get("func_title", ""))) or re.search(r"check\((\w+)\)\s*$", str(row.get("test", "")))
    return m.group(1) if m else None
