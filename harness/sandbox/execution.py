"""Answers checked by running programs: generated code with the task's tests (HumanEval-zh), or a verifier that
ships with the data (CPIFOpen's `check_response`). Both are untrusted, so programs run only through
harness/sandbox/core.py: a separate process per program with time, CPU, memory, process, network and file limits.

A check is decided by the verdict protocol (harness/sandbox/protocol.py): the tests run in one process and the model's
code (where the task has a `solution` template) in another, reached over a pipe with plain data; the check passes
only when the tests' process reports, with a nonce, that the tests ran to their end. Anything else (a failed
assert, a solution that exits or sends a non-data value, a timeout, the memory limit, a blocked system call) is a
failure, and its status and reason are recorded per sample. A pytest-mode task (NaturalCodeBench Python,
execution.tests: pytest) runs the row's pytest module against every name the model's code defines
(harness/sandbox/driver_pytest.py); a problem whose modules are not installed here is excluded (missing_modules).
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

from harness.sandbox.protocol import Check
from harness.sandbox.pytest_tasks import extract_ncb_code, unavailable_modules

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
        return chosen, bool(entry_point and _defines(chosen, entry_point))
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


def render_checks(task: Any, sample: Any, outputs: Sequence[str]) -> list[Check]:
    """The check of each generation of one item, from the task's execution templates: the tests (`program`),
    its stdin, and the model's code (`solution`, whose entry point the tests call). Templates see `code` and
    `full` (see extract_code), `entry` (the function the tests call) and `prefix`, the row's `declaration` (else
    prompt) up to the entry point's `def` line: the imports and helper functions a whole-function answer needs in
    front of it, and the helpers the tests themselves call."""
    from harness.tasks.task import template_doc

    spec = task.spec.execution
    doc = template_doc(sample)
    entry = _entry_point(sample.raw)
    head = str(sample.raw.get("declaration") or sample.raw.get("prompt") or "")
    cut = re.search(rf"^def\s+{re.escape(entry)}\s*\(", head, re.M) if entry else None
    prefix = head[: cut.start()] if cut else ""
    solution = _solution_template(task)
    pytest_mode = spec.tests == "pytest"
    out = []
    for text in outputs:
        if pytest_mode:  # NaturalCodeBench: its own code-block rules; the tests reach every name, not one entry
            code, full = extract_ncb_code(text), True
        else:
            code, full = extract_code(text, entry) if spec.code == "python" else ("", False)
        context = dict(doc=doc, output=text, code=code, full=full, prefix=prefix, entry=entry)
        program = task.execution_program.render(**context)
        stdin = task.execution_stdin.render(**context) if task.execution_stdin else None
        sol = solution.render(**context) if solution else None
        out.append(Check(program, stdin, sol, None if pytest_mode else entry, tests=spec.tests))
    return out


def missing_modules(task: Any, sample: Any) -> list[str]:
    """The third-party modules a pytest-mode problem needs (its tests' and its reference's imports) that are not
    installed here: such an item is excluded and named, never scored 0. Other tasks: none."""
    if task.spec.execution is None or task.spec.execution.tests != "pytest":
        return []
    return unavailable_modules(sample.raw)


def _solution_template(task: Any) -> Any:
    """The task's `execution.solution` template, loaded once per task (beside the others, under the same rules)."""
    source = task.spec.execution.solution
    if source is None:
        return None
    cached = getattr(task, "_execution_solution", None)
    if cached is None or cached[0] != source:
        from harness.tasks.templates import PromptTemplate

        cached = (source, PromptTemplate.from_task_field(source, task.path, "execution.solution"))
        task._execution_solution = cached
    return cached[1]


def _entry_point(row: dict[str, Any]) -> str | None:
    """HumanEval's `entry_point`, or (HumanEval-X style files have none) the function the test's final check()
    call hands over, else the one in `func_title` (which names a helper where the prompt starts with one)."""
    if row.get("entry_point"):
        return str(row["entry_point"])
    m = re.search(r"check\((\w+)\)\s*$", str(row.get("test", ""))) or re.match(r"\s*def\s+(\w+)\s*\(", str(row.get("func_title", "")))
    return m.group(1) if m else None
