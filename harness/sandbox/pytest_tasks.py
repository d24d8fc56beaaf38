"""What a pytest-mode code task (NaturalCodeBench Python, execution.tests: pytest) reads from an answer and a row:
the code block, by NaturalCodeBench's own rules, and the third-party modules the problem needs, so that a problem
whose modules are not installed where the harness runs is excluded and named instead of scored 0.

Runs in the harness: the model's answer and the row's code are only parsed here (ast), never run.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from functools import cache

# NaturalCodeBench (ncb/test_setup.py) takes the first ```python block, else the first ``` block, else the text
# from the first `from`/`import`/`class`/`def` on; each fence must be closed (an unclosed one gives no code)
_PY_BLOCK = re.compile(r"```python[\n\r](.*?)[\n\r]```", re.S)
_ANY_BLOCK = re.compile(r"```[\n\r](.*?)[\n\r]```", re.S)
_TAGGED = re.compile(r"\[Python\](.*?)\[/Python\]", re.S)


def extract_ncb_code(output: str) -> str:
    """The code NaturalCodeBench would run for this answer ("" when it finds none)."""
    tagged = _TAGGED.search(output)
    if tagged and "```" not in tagged.group(1):
        return tagged.group(1)
    if "```python" in output:
        m = _PY_BLOCK.search(output)
        return m.group(1) if m else ""
    if "```" in output:
        m = _ANY_BLOCK.search(output)
        return m.group(1) if m else ""
    has_from, has_import = "from " in output, "import " in output
    if has_from and has_import:
        word = "from" if output.find("from") < output.find("import") else "import"
    elif has_import or has_from:
        word = "import" if has_import else "from"
    elif "class " in output or "def " in output:
        word = "class" if "class " in output else "def"
    else:
        return ""
    m = re.search(word + r"\s(.*)", output, re.S)
    return m.group() if m else ""


def imported_modules(source: str) -> set[str]:
    """Top-level names of the absolute imports in `source` (none when it does not parse)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def needed_modules(row: dict) -> list[str]:
    """The third-party modules a problem needs: imported by its tests or by its reference solution."""
    sources = [str(row.get("testcases") or ""), extract_ncb_code(str(row.get("reference_solution") or ""))]
    names = set().union(*(imported_modules(s) for s in sources))
    return sorted(n for n in names if n not in sys.stdlib_module_names and n not in ("pytest", "__future__"))


@cache
def installed(module: str) -> bool:
    """Whether `module` can be imported here (the sandbox imports from the same site-packages)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def unavailable_modules(row: dict) -> list[str]:
    """What the problem needs that is not installed here; pytest itself first (the tests' process runs it)."""
    return [m for m in ["pytest", *needed_modules(row)] if not installed(m)]
