"""Prompt templates: rendered in a sandboxed Jinja2 environment, since task files may come from anyone.

StrictUndefined turns a misspelt variable into an error instead of a silently empty prompt.

What a template may do is bounded, so that a hostile or careless task file ends in a one-line HarnessError within
seconds instead of eating the machine's memory or hanging the run:

- files: `{% include %}` (and import/extends) read only files inside the task's folder or the tasks root holding it,
  with symlinks resolved; a template file named by a task field likewise.
- size: no string or list a template builds may exceed MAX_OUTPUT characters (items), and no operation may make
  more than MAX_RESULT from a number (`'a' * n`, `|center(n)`, `'%*d'`, `|batch(n)`, ...). Every filter and
  method that makes text is checked *before* it runs (the allocation is the damage), every printed value and `~`
  concatenation too, and the rendered text as a whole.
- steps: `range()` loops take at most MAX_STEPS iterations per render, however they are nested; `lipsum` is capped.
- time: a render that runs past MAX_RENDER_S seconds is interrupted (a watchdog thread raises an exception in the
  rendering thread), which ends any loop, including loops over data.
- the rendered text never holds a lone surrogate (harness/contain.py): it becomes U+FFFD.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import itertools
import os
import posixpath
import re
import string
import threading
import time
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterator

import jinja2
from jinja2.compiler import CodeGenerator, optimizeconst
from jinja2.loaders import split_template_path
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range
from jinja2.utils import Namespace, generate_lorem_ipsum

from harness.contain import clean_text
from harness.errors import HarnessError
from harness.tasks.roots import task_dirs

MAX_RESULT = 1_000_000  # characters or items one operation may make from a number: a prompt never needs more
MAX_OUTPUT = 16_000_000  # characters of any string a template builds or prints, and of the rendered text
MAX_STEPS = 1_000_000  # range() iterations in one render, over all loops together
MAX_RENDER_S = 3.0  # wall-clock seconds one render may take (a prompt takes milliseconds)
MAX_INT_BITS = 1 << 16  # integers a template computes (a number printed in a prompt has a few digits)
MAX_TEMPLATE_FILE = 4 << 20  # bytes of an included template file


class TemplateLimit(jinja2.exceptions.SecurityError):
    """A template went past one of the limits above."""


class _OutsideRoots(jinja2.exceptions.SecurityError):
    """An included template resolves outside the folders a task's templates may read."""


class _RenderTimeout(BaseException):
    """Raised inside a render that ran past MAX_RENDER_S. A BaseException, so no `except Exception` inside Jinja
    or a filter can swallow it."""


# ------------------------------------------------------------------------------------------------ sizes
def _size(obj: Any, budget: int = MAX_OUTPUT) -> int:
    """About how many characters str(obj) takes (containers counted generously), walked without recursion and
    only until it is over `budget` or MAX_RESULT items have been looked at (then a number over budget)."""
    total = 0
    seen = 0
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, str):
            total += len(o)
        elif isinstance(o, (bytes, bytearray)):
            total += 4 * len(o) + 3
        elif isinstance(o, bool) or o is None or isinstance(o, float):
            total += 24
        elif isinstance(o, int):
            total += o.bit_length() // 3 + 2
        elif isinstance(o, (list, tuple, set, frozenset, dict, Namespace)):
            items = o._Namespace__attrs if isinstance(o, Namespace) else o
            seen += len(items)
            if seen > MAX_RESULT:
                return budget + 1
            total += 2 + 2 * len(items)
            if isinstance(items, dict):
                for k, v in items.items():
                    stack.append(k)
                    stack.append(v)
            else:
                stack.extend(items)
        else:
            total += 64  # a range, a loop, a macro, an undefined value: a short repr
        if total > budget:
            return total
    return total


def _limit(what: str, value: int, limit: int) -> None:
    if value > limit:
        raise TemplateLimit(f"{what}: {value:,} is over the limit of {limit:,}")


def _count(value: Any, what: str, limit: int = MAX_RESULT) -> None:
    """A width, count or repetition given as a number."""
    if isinstance(value, int) and not isinstance(value, bool):
        _limit(what, abs(value), limit)


def _check_size(value: Any, what: str) -> None:
    _limit(f"{what} (characters)", _size(value), MAX_OUTPUT)


def _check_result(value: Any, what: str) -> Any:
    if isinstance(value, (str, list, tuple)):
        _limit(f"{what} (result length)", len(value), MAX_OUTPUT)
    return value


def _materialise(value: Any, what: str) -> list[Any]:
    items = list(islice(iter(value), MAX_RESULT + 1))
    _limit(f"{what} (items)", len(items), MAX_RESULT)
    return items


def _biggest(values: Any) -> int:
    return max((_size(v) for v in values), default=0)


_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def _check_percent(fmt: str, args: Any, what: str = "'%' formatting") -> None:
    """`fmt % args`: widths and precisions are capped, and the result's size estimated before it is made."""
    values = list(args.values()) if isinstance(args, dict) else list(args) if isinstance(args, tuple) else [args]
    biggest = _biggest(values)
    estimate = len(fmt)
    for m in _PERCENT.finditer(fmt):
        estimate += biggest
        for n in m.groups():
            if n == "*":
                for v in values:
                    _count(v, f"{what}: a '*' width")
            elif n:
                _limit(f"{what}: a width", int(n) if len(n) < 10 else MAX_RESULT + 1, MAX_RESULT)
                estimate += int(n)
    _limit(f"{what} (characters)", estimate, MAX_OUTPUT)


_FORMATTER = string.Formatter()


def _check_str_format(fmt: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """`fmt.format(...)`: the same for format fields ('{:>999999999}', '{0}{0}{0}...')."""
    try:
        fields = list(_FORMATTER.parse(fmt))
    except ValueError:
        return  # str.format raises the same error itself
    values = [*args, *kwargs.values()]
    biggest = _biggest(values)
    estimate = len(fmt)
    for _, name, spec, _ in fields:
        if name is None:
            continue
        estimate += biggest
        if spec and "{" in spec:  # a nested field gives the width: the arguments are the widths
            for v in values:
                _count(v, "str.format: a nested width")
        for n in re.findall(r"\d+", spec or ""):
            _limit("str.format: a width", int(n) if len(n) < 10 else MAX_RESULT + 1, MAX_RESULT)
            estimate += int(n)
    _limit("str.format (characters)", estimate, MAX_OUTPUT)


def _check_replace(s: Any, old: Any, new: Any, count: Any, what: str) -> None:
    if not (isinstance(s, str) and isinstance(old, str) and isinstance(new, str)):
        return
    n = (len(s) + 1) if not old else s.count(old)
    if isinstance(count, int) and count >= 0:
        n = min(n, count)
    _limit(f"{what} (characters)", len(s) + n * max(0, len(new) - len(old)), MAX_OUTPUT)


# ------------------------------------------------------------------------------------------------ per render
class _RenderState(threading.local):
    steps = 0
    printed = 0


_STATE = _RenderState()


def _step(n: int = 1) -> None:
    _STATE.steps += n
    if _STATE.steps > MAX_STEPS:
        raise TemplateLimit(f"loops: over {MAX_STEPS:,} range() iterations in one render")


class _Range:
    """range() as templates see it: at most jinja2's MAX_RANGE items, and every iteration counted against the
    render's MAX_STEPS (two nested range(100000) loops would otherwise run 10^10 times)."""

    __slots__ = ("_r",)

    def __init__(self, r: range) -> None:
        self._r = r

    def __len__(self) -> int:
        return len(self._r)

    def __getitem__(self, i: Any) -> Any:
        v = self._r[i]
        return _Range(v) if isinstance(v, range) else v

    def __contains__(self, x: Any) -> bool:
        return x in self._r

    def __iter__(self) -> Iterator[int]:
        return _counted(iter(self._r))

    def __reversed__(self) -> Iterator[int]:
        return _counted(reversed(self._r))

    def __repr__(self) -> str:
        return repr(self._r)


def _counted(it: Iterator[int]) -> Iterator[int]:
    for x in it:
        _step()
        yield x


def _range(*args: Any) -> _Range:
    return _Range(safe_range(*args))


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002 - jinja's names
    for value, what, cap in ((n, "lipsum paragraphs", 100), (max, "lipsum words per paragraph", 1000)):
        if not isinstance(value, int):
            raise TemplateLimit(f"{what}: not a number")
        _limit(what, abs(value), cap)
    _step(abs(n) * abs(max) // 10)
    return generate_lorem_ipsum(n, html, min, max)


def _finalize(value: Any) -> Any:
    """Every printed value ({{ ... }}), before it becomes text: its size, and what the render printed so far
    (macro bodies and {% set %} blocks included) are capped."""
    n = _size(value)
    _limit("a printed value (characters)", n, MAX_OUTPUT)
    _STATE.printed += n
    _limit("printed values of one render (characters)", _STATE.printed, 4 * MAX_OUTPUT)
    return value


def _bounded_concat(join: Callable[[Any], str], values: tuple[Any, ...]) -> str:
    """The `~` operator: sizes checked before the strings are joined."""
    _limit("'~' (characters)", sum(_size(v) for v in values), MAX_OUTPUT)
    return join(values)


# ------------------------------------------------------------------------------------------------ filters
def _filter_checks() -> dict[str, Callable[..., Any]]:
    """Per filter, a check of its arguments (after the value's size, which every filter checks) made before it
    runs; it may return a list to use instead of the value (an iterable read once, and measured)."""

    def center(value: Any, width: Any = 80, *a: Any, **k: Any) -> None:
        _count(width, "|center width")

    def indent(s: Any, width: Any = 4, *a: Any, **k: Any) -> None:
        pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        _count(pad, "|indent width")
        lines = s.count("\n") + 1 if isinstance(s, str) else 1
        _limit("|indent (characters)", _size(s) + lines * abs(pad), MAX_OUTPUT)

    def format_(value: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(value, str):
            _check_percent(value, kwargs or args, "|format")

    def replace(s: Any, old: Any = "", new: Any = "", count: Any = None, *a: Any, **k: Any) -> None:
        _check_replace(str(s) if isinstance(s, (int, float)) else s, old, new, count, "|replace")

    def batch(value: Any, linecount: Any = 1, *a: Any, **k: Any) -> None:
        _count(linecount, "|batch size")

    def slice_(value: Any, slices: Any = 1, *a: Any, **k: Any) -> None:
        _count(slices, "|slice count")

    def wordwrap(s: Any, width: Any = 79, break_long_words: Any = True, wrapstring: Any = None, *a: Any,
                 **k: Any) -> None:
        if isinstance(s, str) and isinstance(wrapstring, str):
            _limit("|wordwrap (characters)", len(s) * (1 + len(wrapstring)), MAX_OUTPUT)

    def truncate(s: Any, length: Any = 255, killwords: Any = False, end: Any = "...", *a: Any, **k: Any) -> None:
        _check_size(end, "|truncate end")

    def join(value: Any, d: Any = "", *a: Any, **k: Any) -> list[Any]:
        items = _materialise(value, "|join")
        sep = len(d) if isinstance(d, str) else _size(d)
        _limit("|join (characters)", _size(items) + sep * max(0, len(items) - 1), MAX_OUTPUT)
        return items

    def sum_(iterable: Any, attribute: Any = None, start: Any = 0, *a: Any, **k: Any) -> list[Any]:
        items = _materialise(iterable, "|sum")
        if not isinstance(start, (int, float)):  # adding sequences copies the sum so far each time
            size = _size(items) + _size(start)
            _limit("|sum of sequences (characters)", size, MAX_OUTPUT)
            _limit("|sum of sequences (work)", size * max(1, len(items)), 50 * MAX_RESULT)
        return items

    def fill_(template: Any, **fields: Any) -> None:
        if isinstance(template, str):
            _limit("|fill (characters)", len(template) + template.count("{") * _biggest(fields.values()), MAX_OUTPUT)

    return {"center": center, "indent": indent, "format": format_, "replace": replace, "batch": batch,
            "slice": slice_, "wordwrap": wordwrap, "truncate": truncate, "join": join, "sum": sum_, "fill": fill_}


_CHECKS = _filter_checks()


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0  # the context/environment comes first
    check = _CHECKS.get(name)

    @functools.wraps(func)  # keeps jinja_pass_arg
    def bounded(*args: Any, **kwargs: Any) -> Any:
        head, rest = args[:skip], args[skip:]
        if rest:
            _check_size(rest[0], f"|{name} input")
        if check is not None and rest:
            try:
                replaced = check(*rest, **kwargs)
            except TypeError:  # arguments the filter itself will refuse
                replaced = None
            if replaced is not None:
                rest = (replaced, *rest[1:])
        return _check_result(func(*head, *rest, **kwargs), f"|{name}")

    return bounded


# ------------------------------------------------------------------------------------------------ environment
class _BoundedCodeGenerator(CodeGenerator):
    """Compiles `~` to a size-checked join (jinja2 otherwise joins the operands whatever their size)."""

    @optimizeconst
    def visit_Concat(self, node: Any, frame: Any) -> None:
        if frame.eval_ctx.volatile:
            func_name = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            func_name = "markup_join"
        else:
            func_name = "str_join"
        self.write(f"environment.bounded_concat({func_name}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox plus caps on what operators, filters, methods and loops may produce (see the module doc)."""

    intercepted_binops = frozenset(["*", "**", "+", "%"])
    code_generator_class = _BoundedCodeGenerator

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, finalize=_finalize, **kwargs)
        self.globals["range"] = _range
        self.globals["lipsum"] = _lipsum
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}

    def add_filter(self, name: str, func: Callable[..., Any]) -> None:
        self.filters[name] = _bounded_filter(name, func)

    @staticmethod
    def bounded_concat(join: Callable[[Any], str], values: tuple[Any, ...]) -> str:
        return _bounded_concat(join, values)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int) and abs(right) > 64:
                raise jinja2.exceptions.SecurityError("exponent too large")
            if isinstance(left, int) and isinstance(right, int) and right > 0:
                _limit("'**' (bits)", left.bit_length() * right, MAX_INT_BITS)
        elif operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_RESULT:
                    raise jinja2.exceptions.SecurityError("repetition result too large")
            if isinstance(left, int) and isinstance(right, int):
                _limit("'*' (bits)", left.bit_length() + right.bit_length(), MAX_INT_BITS)
        elif operator == "+":
            if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
                _limit("'+' (length)", len(left) + len(right), MAX_OUTPUT)
        elif operator == "%" and isinstance(left, str):
            _check_percent(left, right)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        fmt = super().wrap_str_format(value)
        if fmt is None:
            return None
        source = value.__self__
        is_map = value.__name__ == "format_map"

        def checked(*args: Any, **kwargs: Any) -> str:
            if is_map and len(args) == 1 and isinstance(args[0], dict):
                _check_str_format(source, (), args[0])
            else:
                _check_str_format(source, args, kwargs)
            return _check_result(fmt(*args, **kwargs), "str.format")

        return checked

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - jinja's form
        owner, name = getattr(__obj, "__self__", None), getattr(__obj, "__name__", "")
        if isinstance(owner, str):
            if name in ("center", "ljust", "rjust", "zfill") and args:
                _count(args[0], f"str.{name} width")
            elif name == "expandtabs":
                tab = args[0] if args else kwargs.get("tabsize", 8)
                if isinstance(tab, int):
                    _limit("str.expandtabs (characters)", len(owner) + owner.count("\t") * abs(tab), MAX_OUTPUT)
            elif name == "join" and args:
                items = _materialise(args[0], "str.join")
                _limit("str.join (characters)", _size(items) + len(owner) * max(0, len(items) - 1), MAX_OUTPUT)
                args = (items, *args[1:])
            elif name == "replace" and len(args) >= 2:
                _check_replace(owner, args[0], args[1], args[2] if len(args) > 2 else kwargs.get("count", -1),
                               "str.replace")
        return _check_result(super().call(__context, __obj, *args, **kwargs), f"{name or 'a call'}()")


class _RootedLoader(jinja2.FileSystemLoader):
    """Loads included templates from the task's folder, refusing any whose real path (symlinks resolved) is not
    inside the allowed roots, before a byte of it is read, and anything that is not a regular file."""

    def __init__(self, search_dir: Path, roots: list[Path]) -> None:
        super().__init__(str(search_dir))
        self.roots = [os.path.realpath(r) for r in roots]

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Callable[[], bool]]:
        pieces = split_template_path(template)  # refuses '..'
        for searchpath in self.searchpath:
            filename = posixpath.join(searchpath, *pieces)
            if os.path.lexists(filename):
                break
        else:
            raise jinja2.TemplateNotFound(template)
        real = os.path.realpath(filename)
        if not any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in self.roots):
            raise _OutsideRoots(f"included template '{template}' resolves to {real}, outside the task's folder "
                                f"and its tasks root")
        if not os.path.isfile(real):
            raise jinja2.TemplateNotFound(template)
        if os.path.getsize(real) > MAX_TEMPLATE_FILE:
            raise TemplateLimit(f"included template '{template}': over {MAX_TEMPLATE_FILE:,} bytes")
        with open(real, encoding=self.encoding) as f:
            contents = f.read()
        mtime = os.path.getmtime(real)

        def uptodate() -> bool:
            try:
                return os.path.getmtime(real) == mtime
            except OSError:
                return False

        return contents, os.path.normpath(filename), uptodate


# ------------------------------------------------------------------------------------------------ render time
try:
    _set_async_exc: Any = ctypes.pythonapi.PyThreadState_SetAsyncExc
except (AttributeError, OSError):  # not CPython: no time limit (the size and step limits still hold)
    _set_async_exc = None


class _Watchdog:
    """Interrupts renders that run past their deadline, by raising _RenderTimeout in the rendering thread (at its
    next bytecode: every loop in a compiled template is Python code). One daemon thread, polling only while
    renders are in progress; each render is interrupted at most once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: dict[int, tuple[int, float]] = {}
        self.tokens = itertools.count()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self, seconds: float) -> int | None:
        if _set_async_exc is None:
            return None
        token = next(self.tokens)
        with self.lock:
            self.active[token] = (threading.get_ident(), time.monotonic() + seconds)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="template-watchdog", daemon=True)
                self.thread.start()
        self.wake.set()
        return token

    def stop(self, token: int | None) -> None:
        """The render is over. Raises _RenderTimeout if the watchdog fired for it (clearing an exception still
        pending, so none is raised later, outside the render)."""
        if token is None:
            return
        with self.lock:
            entry = self.active.pop(token, None)
        if entry is None:
            _set_async_exc(ctypes.c_ulong(threading.get_ident()), ctypes.c_void_p(None))
            raise _RenderTimeout()

    def _run(self) -> None:
        while True:
            self.wake.wait()
            time.sleep(0.05)
            now = time.monotonic()
            with self.lock:
                for token, (tid, deadline) in list(self.active.items()):
                    if now >= deadline:
                        del self.active[token]
                        _set_async_exc(ctypes.c_ulong(tid), ctypes.py_object(_RenderTimeout))
                if not self.active:
                    self.wake.clear()


_WATCHDOG = _Watchdog()


# ------------------------------------------------------------------------------------------------ templates
def fill(template: str, **fields: Any) -> str:
    """Fill `{name}` placeholders in one pass (a judge prompt shipped with the data, MT-Bench's): an answer that
    itself contains "{answer_2}" is not filled again, as chained replace() calls would do."""
    return re.sub(r"\{(\w+)\}", lambda m: str(fields[m.group(1)]) if m.group(1) in fields else m.group(0), template)


def _environment(search_dir: Path | None, keep_trailing_newline: bool = False,
                 roots: list[Path] | None = None) -> ImmutableSandboxedEnvironment:
    loader = _RootedLoader(search_dir, roots or [search_dir]) if search_dir else None
    env = _BoundedSandbox(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=keep_trailing_newline,  # a template file's final newline is not part of the prompt
        autoescape=False,  # prompts are plain text; HTML escaping happens in the leaderboard
    )
    env.add_filter("fill", fill)
    return env


def _roots_of(folder: Path) -> list[Path]:
    """A task folder, and the tasks root holding it (so categories can share a template)."""
    here = folder.resolve()
    roots = [here]
    for root in task_dirs():
        root = root.resolve()
        if root == here or root in here.parents:
            roots.append(root)
    return roots


def _allowed_roots(task_file: Path) -> list[Path]:
    """The task's own folder, and the tasks root holding it (so categories can share a template)."""
    return _roots_of(task_file.parent)


class PromptTemplate:
    """A compiled template plus the hash of its source (recorded in results so prompt changes are visible)."""

    def __init__(self, source: str, origin: str, search_dir: Path | None = None, keep_trailing_newline: bool = False) -> None:
        self.source = source
        self.origin = origin
        self.hash = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        roots = _roots_of(search_dir) if search_dir else None
        try:
            self._template = _environment(search_dir, keep_trailing_newline, roots).from_string(source)
        except jinja2.TemplateSyntaxError as e:
            raise HarnessError(f"{origin}: template syntax error at line {e.lineno}: {e.message}") from None

    @classmethod
    def from_task_field(cls, value: str, task_file: Path, field: str) -> PromptTemplate:
        """`value` names a template file beside the task file when it ends in .jinja/.j2, else it is inline."""
        if value.endswith((".jinja", ".j2", ".jinja2")):
            path = (task_file.parent / value).resolve()
            if not any(root in path.parents for root in _allowed_roots(task_file)):
                raise HarnessError(f"{task_file}: field '{field}': template must live in the task's folder (or its tasks root)")
            if path.is_file() and path.stat().st_size > MAX_TEMPLATE_FILE:
                raise HarnessError(f"{task_file}: field '{field}': template file {path} is over {MAX_TEMPLATE_FILE:,} bytes")
            try:
                source = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                raise HarnessError(f"{task_file}: field '{field}': template file {path} not found or not UTF-8 text") from None
            return cls(source, f"{path} (field '{field}' of {task_file.name})", task_file.parent)
        return cls(value, f"{task_file} field '{field}'", task_file.parent)

    def render(self, **context: Any) -> str:
        _STATE.steps = _STATE.printed = 0
        token = _WATCHDOG.start(MAX_RENDER_S)
        try:
            try:
                return self._render(context)
            finally:
                _WATCHDOG.stop(token)
        except _RenderTimeout:
            raise HarnessError(f"{self.origin}: template stopped: rendering took over {MAX_RENDER_S:g} s (a loop that "
                               f"runs too long)") from None

    def _render(self, context: dict[str, Any]) -> str:
        try:
            out: list[str] = []
            length = 0
            for chunk in self._template.generate(**context):
                length += len(chunk)
                if length > MAX_OUTPUT:
                    raise TemplateLimit(f"rendered text: over the limit of {MAX_OUTPUT:,} characters")
                out.append(chunk)
            return clean_text("".join(out))
        except jinja2.UndefinedError as e:
            raise HarnessError(f"{self.origin}: undefined variable in template: {e.message}") from None
        except _OutsideRoots as e:
            raise HarnessError(f"{self.origin}: {e}") from None
        except TemplateLimit as e:
            raise HarnessError(f"{self.origin}: template stopped at a limit: {_one_line(e)}") from None
        except jinja2.exceptions.SecurityError as e:
            raise HarnessError(f"{self.origin}: template tried an unsafe operation: {_one_line(e)}") from None
        except jinja2.TemplateNotFound as e:
            raise HarnessError(f"{self.origin}: included template '{e.name}' not found in the task's folder") from None
        except Exception as e:  # anything else the template does wrong (1/0, calling a string, ...)
            raise HarnessError(f"{self.origin}: template failed: {type(e).__name__}: {_one_line(e)}") from None


def _one_line(e: BaseException) -> str:
    return clean_text((str(e).strip().splitlines() or [""])[0][:200])
