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


def extract_code(output: str, entry_point: str | None = None) -> tuple[str, bool]:
    """The code a generation holds, and whether it is a whole function (True) or a body (False).

    A chat model answers with a fenced block, usually the whole function: take the block that defines
    `entry_point` (else the first). A base model continues the prompt's function body: keep lines until the first
    one back at column 0 that is not a comment or a closing bracket (the usual HumanEval stop rule, applied after
    generation so that fenced answers survive it)."""
    blocks = _FENCE.findall(output)
    if blocks:
        chosen = blocks[0]
        if entry_point:
            chosen = next((b for b in blocks if _defines(b, entry_point)), chosen)
        return chosen, bool(entry_point) and _defines(chosen, entry_point)
    if entry_point and re.match(rf"\s*def\s+{re.escape(entry_point)}\s*\(", output):
        return output, True  # an unfenced whole function
    lines = output.split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        if i > 0 and line and not line[0].isspace() and not line.startswith(("#", ")", "]", "}")):
            break
        kept.append(line)
    return "\n".join(kept), False


def _defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*def\s+{re.escape(name)}\s*\(", code, re.M) is not None


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    if n < k:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod((n - c - i) / (n - i) for i in range(k))


def render_programs(task: Any, sample: Any, outputs: Sequence[str]) -> list[tuple[str, str | None]]:
    """(program, stdin) for each generation of one item, from the task's execution templates. Templates see
    `code` and `full` (see extract_code) and `prefix`, the row's `declaration` (else prompt) up to the entry point's
    `def` line: the imports and helper functions a whole-function answer needs in front of it."""
    from harness.tasks import _doc

    spec = task.spec.execution
    doc = _doc(sample)
    entry = _entry_point(sample.raw)
    head = str(sample.raw.get("declaration") or sample.raw.get("prompt") or "")
    cut = re.search(rf"^def\s+{re.escape(entry)}\s*\(", head, re.M) if entry else None
    prefix = head[: cut.start()] if cut else ""
    out = []
    for text in outputs:
        code, full = extract_code(text, entry) if spec.code == "python" else ("", False)
        context = dict(doc=doc, output=text, code=code, full=full, prefix=prefix)
        program = task.execution_program.render(**context)
        stdin = task.execution_stdin.render(**context) if task.execution_stdin else None
        out.append((program, stdin))
    return out


def _entry_point(row: dict[str, Any]) -> str | None:
    """HumanEval's `entry_point`, or (HumanEval-X style files have none) the name in `func_title`/the test's check()."""
    if row.get("entry_point"):
        return str(row["entry_point"])
    m = re.match(r"\s*def\s+(\w+)\s*\(", str(row.get("func_title", ""))) or re.search(r"check\((\w+)\)\s*$", str(row.get("test", "")))
    return m.group(1) if m else None
