"""Prompt templates: rendered in a sandboxed Jinja2 environment, since task files may come from anyone.

StrictUndefined turns a misspelt variable into an error instead of a silently empty prompt.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from harness.errors import HarnessError


MAX_RESULT = 1_000_000  # characters or items one `*` or `**` may produce: a prompt never needs more


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox plus a cap on `*` and `**`, so `{{ 'a' * 10**10 }}` fails instead of eating memory."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise jinja2.exceptions.SecurityError("exponent too large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_RESULT:
                    raise jinja2.exceptions.SecurityError("repetition result too large")
        return super().call_binop(context, operator, left, right)


def fill(template: str, **fields: Any) -> str:
    """Fill `{name}` placeholders in one pass (a judge prompt shipped with the data, MT-Bench's): an answer that
    itself contains "{answer_2}" is not filled again, as chained replace() calls would do."""
    return re.sub(r"\{(\w+)\}", lambda m: str(fields[m.group(1)]) if m.group(1) in fields else m.group(0), template)


def _environment(search_dir: Path | None, keep_trailing_newline: bool = False) -> ImmutableSandboxedEnvironment:
    loader = jinja2.FileSystemLoader(str(search_dir)) if search_dir else None
    env = _BoundedSandbox(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=keep_trailing_newline,  # a template file's final newline is not part of the prompt
        autoescape=False,  # prompts are plain text; HTML escaping happens in the leaderboard
    )
    env.filters["fill"] = fill
    return env


def _allowed_roots(task_file: Path) -> list[Path]:
    """The task's own folder, and the tasks root holding it (so categories can share a template)."""
    from harness.tasks import task_dirs

    here = task_file.parent.resolve()
    roots = [here]
    for root in task_dirs():
        root = root.resolve()
        if root == here or root in here.parents:
            roots.append(root)
    return roots


class PromptTemplate:
    """A compiled template plus the hash of its source (recorded in results so prompt changes are visible)."""

    def __init__(self, source: str, origin: str, search_dir: Path | None = None, keep_trailing_newline: bool = False) -> None:
        self.source = source
        self.origin = origin
        self.hash = hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]
        try:
            self._template = _environment(search_dir, keep_trailing_newline).from_string(source)
        except jinja2.TemplateSyntaxError as e:
            raise HarnessError(f"{origin}: template syntax error at line {e.lineno}: {e.message}") from None

    @classmethod
    def from_task_field(cls, value: str, task_file: Path, field: str) -> "PromptTemplate":
        """`value` names a template file beside the task file when it ends in .jinja/.j2, else it is inline."""
        if value.endswith((".jinja", ".j2", ".jinja2")):
            path = (task_file.parent / value).resolve()
            if not any(root in path.parents for root in _allowed_roots(task_file)):
                raise HarnessError(f"{task_file}: field '{field}': template must live in the task's folder (or its tasks root)")
            try:
                source = path.read_text(encoding="utf-8")
            except OSError:
                raise HarnessError(f"{task_file}: field '{field}': template file {path} not found") from None
            return cls(source, str(path), task_file.parent)
        return cls(value, f"{task_file} field '{field}'", task_file.parent)

    def render(self, **context: Any) -> str:
        try:
            return self._template.render(**context)
        except jinja2.UndefinedError as e:
            raise HarnessError(f"{self.origin}: undefined variable in template: {e.message}") from None
        except jinja2.exceptions.SecurityError as e:
            raise HarnessError(f"{self.origin}: template tried an unsafe operation: {e}") from None
        except jinja2.TemplateNotFound as e:
            raise HarnessError(f"{self.origin}: included template '{e.name}' not found in the task's folder") from None
        except Exception as e:  # anything else the template does wrong (1/0, calling a string, ...)
            msg = (str(e).splitlines() or [""])[0][:200]
            raise HarnessError(f"{self.origin}: template failed: {type(e).__name__}: {msg}") from None
