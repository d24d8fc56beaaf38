"""The verdict protocol's code inside the sandbox (the harness side is harness/sandbox/protocol.py).

Stdlib only and self-contained: harness/sandbox/protocol.py puts this file's source at the top of each sandboxed program,
followed by one call, `_tests_main(...)` or `_solution_main(...)`, with the code to run as a string literal.

Tests side (the judge): reads a nonce from the `verdict` descriptor, binds the entry point's name to a proxy,
runs the tests' code in a fresh namespace, and writes one JSON line to `verdict`: {"nonce", "verdict", "calls",
"reason"}. "passed" is written only when the tests' code ran to its end without raising (SystemExit included)
and, where a solution is linked, called it at least once and every reply was well-formed.

Solution side: runs the model's code in a fresh namespace, then answers calls read from `calls` on `replies`,
one JSON line each way. Its process holds no part of the tests and no way to the verdict descriptor: whatever it
does to its own interpreter, the tests only ever see the data in its replies.

Values cross as JSON with tags, decoded into plain data only (None, bool, int, float, str, bytes, complex, list,
tuple, set, frozenset, dict), checked by exact type, so no object of the solution's making (a custom __eq__, an
int subclass) can reach the tests.
"""

import json as _json
import os as _os
import sys as _sys

_MAX_LINE = 16 << 20  # bytes of one message; a longer reply fails the tests
_MAX_DEPTH = 100  # nesting of one value
_REASON_CHARS = 500
# exceptions a solution may raise that the tests see as such (a test may expect one); any other is SolutionError,
# never a StopIteration or SystemExit that could end a loop or the tests early
_RAISABLE = ("ArithmeticError", "AssertionError", "AttributeError", "IndexError", "KeyError", "LookupError",
             "NameError", "NotImplementedError", "OverflowError", "RecursionError", "RuntimeError", "TypeError",
             "UnboundLocalError", "UnicodeError", "ValueError", "ZeroDivisionError")


class SolutionError(Exception):
    """The solution raised an exception of a type the tests are not shown as such."""


class LinkBroken(BaseException):
    """The link to the solution failed (it ended, or sent something that is not a reply): the tests fail, even if
    their code catches the exception."""


def _fds():
    out = {}
    for part in _os.environ.get("HARNESS_FDS", "").split(","):
        if "=" in part:
            name, fd = part.split("=", 1)
            out[name] = int(fd)
    return out


# ------------------------------------------------------------------------------------------------ plain data
def _encode(x, depth=0):
    """A JSON-ready form of plain data; TypeError for anything else."""
    if depth > _MAX_DEPTH:
        raise TypeError("value nested too deeply")
    t = type(x)
    if x is None or t is bool or t is int or t is float or t is str:
        return x
    if t is list:
        return [_encode(v, depth + 1) for v in x]
    if t is tuple:
        return {"t": "tuple", "v": [_encode(v, depth + 1) for v in x]}
    if t is dict:
        return {"t": "dict", "v": [[_encode(k, depth + 1), _encode(v, depth + 1)] for k, v in x.items()]}
    if t is set or t is frozenset:
        return {"t": t.__name__, "v": [_encode(v, depth + 1) for v in x]}
    if t is complex:
        return {"t": "complex", "v": [x.real, x.imag]}
    if t is bytes:
        return {"t": "bytes", "v": x.hex()}
    raise TypeError(f"not plain data: {t.__module__}.{t.__qualname__}")


def _plain(x):
    """Stdlib containers an honest solution may return, as their plain equivalents (dict subclasses such as
    Counter, OrderedDict, defaultdict; named tuples). Runs on the solution's side only: it is a convenience
    there, never a guarantee; the tests' side decodes plain data only."""
    import collections

    t = type(x)
    if t in (collections.Counter, collections.OrderedDict, collections.defaultdict):
        return {_plain(k): _plain(v) for k, v in dict.items(x)}
    if isinstance(x, tuple) and t is not tuple and hasattr(t, "_fields"):
        return tuple(_plain(v) for v in tuple.__iter__(x))
    if t is list:
        return [_plain(v) for v in x]
    if t is tuple:
        return tuple(_plain(v) for v in x)
    if t is dict:
        return {_plain(k): _plain(v) for k, v in x.items()}
    return x


def _decode(x, depth=0):
    """Plain data from what json.loads gave; ValueError for anything that is not a value this protocol writes."""
    if depth > _MAX_DEPTH:
        raise ValueError("value nested too deeply")
    t = type(x)
    if x is None or t is bool or t is int or t is float or t is str:
        return x
    if t is list:
        return [_decode(v, depth + 1) for v in x]
    if t is dict and len(x) == 2 and type(x.get("t")) is str and type(x.get("v")) in (list, str):
        kind, v = x["t"], x["v"]
        if kind == "tuple" and type(v) is list:
            return tuple(_decode(e, depth + 1) for e in v)
        if kind == "dict" and type(v) is list and all(type(p) is list and len(p) == 2 for p in v):
            return {_decode(k, depth + 1): _decode(e, depth + 1) for k, e in v}
        if kind == "set" and type(v) is list:
            return {_decode(e, depth + 1) for e in v}
        if kind == "frozenset" and type(v) is list:
            return frozenset(_decode(e, depth + 1) for e in v)
        if kind == "complex" and type(v) is list and len(v) == 2 and all(type(e) in (int, float) for e in v):
            return complex(v[0], v[1])
        if kind == "bytes" and type(v) is str:
            return bytes.fromhex(v)
    raise ValueError(f"not a plain value: {str(x)[:80]}")


def _dumps(obj):
    return (_json.dumps(obj, ensure_ascii=True, allow_nan=True, separators=(",", ":")) + "\n").encode("ascii")


def _clip(text, n=_REASON_CHARS):
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


# ------------------------------------------------------------------------------------------------ tests side
class _Link:
    """The tests' end of the pipes to the solution's process."""

    def __init__(self, fds):
        self.out = fds["calls"]
        self.inp = _os.fdopen(fds["replies"], "rb", buffering=1 << 16)
        self.calls = 0
        self.broken = None  # why the link failed: sticky, the tests cannot pass after it

    def fail(self, why):
        if self.broken is None:
            self.broken = why
        raise LinkBroken(self.broken)

    def call(self, name, args, kwargs):
        if self.broken is not None:
            raise LinkBroken(self.broken)
        self.calls += 1
        n = self.calls
        try:
            message = _dumps({"id": n, "call": name, "args": _encode(list(args)),
                              "kwargs": [[str(k), _encode(v)] for k, v in kwargs.items()]})
        except (TypeError, ValueError) as e:
            self.fail(f"call {n}: the tests' arguments are not plain data ({e})")
        try:
            view = memoryview(message)
            while view:
                view = view[_os.write(self.out, view):]
        except OSError:
            pass  # the solution stopped reading: whatever it wrote before that is its reply, else it is gone
        line = self.inp.readline(_MAX_LINE + 1)
        if not line:
            self.fail(f"the solution's process ended before answering call {n}")
        if len(line) > _MAX_LINE:
            self.fail(f"call {n}: reply longer than {_MAX_LINE} bytes")
        if not line.endswith(b"\n"):
            self.fail(f"the solution's process ended in the middle of its reply to call {n}")
        try:
            reply = _json.loads(line)
            if type(reply) is not dict or reply.get("id") != n or type(reply.get("id")) is not int:
                raise ValueError("not a reply to this call")
            if "error" in reply:
                err = reply["error"]
                if type(err) is not dict or type(err.get("type")) is not str or type(err.get("message")) is not str:
                    raise ValueError("malformed error")
                kind, text = err["type"], err["message"][:2000]
            else:
                if set(reply) != {"id", "value"}:
                    raise ValueError("unexpected fields")
                return _decode(reply["value"])
        except MemoryError:
            raise
        except (ValueError, TypeError, OverflowError, RecursionError) as e:  # TypeError: an unhashable set member
            self.fail(f"call {n}: the reply is not plain data ({_clip(e, 200)})")
        import builtins

        cls = getattr(builtins, kind, None) if kind in _RAISABLE else None
        if cls is None:
            raise SolutionError(f"{kind}: {text}")
        raise cls(f"(raised by the solution) {text}")


class _Remote:
    """What the tests see in place of the entry point: each call goes to the solution's process."""

    def __init__(self, link, name):
        self._link = link
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args, **kwargs):
        return self._link.call(self.__name__, args, kwargs)

    def __repr__(self):
        return f"<function {self.__name__} (in the solution's process)>"


def _register_source(filename, source):
    import linecache

    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)


def _where(exc, filename):
    """'tests.py:12: assert f(1) == 2' for the innermost frame of `filename` in exc's traceback."""
    import linecache

    tb, found = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            found = tb
        tb = tb.tb_next
    if found is None:
        return ""
    line = linecache.getline(filename, found.tb_lineno).strip()
    return f" at {filename}:{found.tb_lineno}" + (f": {_clip(line, 160)}" if line else "")


def _print_from(exc, filename):
    """The traceback through the frames of `filename` only (the driver's own frames left out)."""
    import traceback

    try:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
        text = "".join(traceback.format_list(frames)) + "".join(traceback.format_exception_only(type(exc), exc))
        _sys.stderr.write("Traceback (most recent call last):\n" + text if frames else text)
    except BaseException:
        pass


def _read_nonce(vfd):
    """The nonce the harness sent first on the verdict socket (one line)."""
    nonce = b""
    while not nonce.endswith(b"\n") and len(nonce) < 256:
        chunk = _os.read(vfd, 256)
        if not chunk:
            break
        nonce += chunk
    return nonce.decode("ascii", "replace").strip()


def _write_verdict(vfd, nonce, passed, calls, reason):
    """The verdict line on the socket only the tests process holds (after its own output is flushed)."""
    record = {"nonce": nonce, "verdict": "passed" if passed else "failed", "calls": calls, "reason": _clip(reason)}
    try:
        _sys.stdout.flush()
        _sys.stderr.flush()
    except BaseException:
        pass
    data = _dumps(record)
    while data:
        data = data[_os.write(vfd, data):]


def _tests_main(source, entry):
    fds = _fds()
    vfd = fds["verdict"]
    nonce = _read_nonce(vfd)
    link = _Link(fds) if entry and "calls" in fds else None

    def verdict(passed, reason):
        _write_verdict(vfd, nonce, passed, link.calls if link else 0, reason)

    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    if link is not None:
        namespace[entry] = _Remote(link, entry)
    _register_source("tests.py", source)
    try:
        exec(compile(source, "tests.py", "exec", dont_inherit=True, optimize=0), namespace)  # asserts always on
    except MemoryError as e:
        try:
            verdict(False, "MemoryError" + _where(e, "tests.py"))
        except BaseException:
            pass
        raise  # boot.py reports it: status "memory"
    except BaseException as e:  # SystemExit and KeyboardInterrupt too: only running to the end passes
        _print_from(e, "tests.py")
        why = link.broken if link is not None and link.broken else f"{type(e).__name__}{_where(e, 'tests.py')}"
        if not link or not link.broken:
            msg = _clip(e, 200)
            why += f" ({msg})" if msg else ""
        verdict(False, why)
        _os._exit(1)
    if link is not None and link.broken:
        verdict(False, link.broken + " (caught by the tests)")
        _os._exit(1)
    if link is not None and link.calls == 0:
        verdict(False, f"the tests never called {entry}")
        _os._exit(1)
    verdict(True, f"tests passed ({link.calls} calls)" if link is not None else "passed")
    _os._exit(0)


# ------------------------------------------------------------------------------------------------ solution side
def _solution_main(source, entry):
    fds = _fds()
    inp = _os.fdopen(fds["calls"], "rb", buffering=1 << 16)
    out = fds["replies"]
    write = _os.write

    def send(obj):
        data = memoryview(_dumps(obj))
        while data:
            data = data[write(out, data):]

    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    _register_source("solution.py", source)
    exec(compile(source, "solution.py", "exec"), namespace)  # an exception here ends the process: boot.py
    while True:
        line = inp.readline(_MAX_LINE + 1)
        if not line:
            _os._exit(0)  # the tests are done
        request = _json.loads(line)
        n = request["id"]
        try:
            fn = namespace.get(entry)
            if not callable(fn):
                raise NameError(f"the solution defines no function {entry!r}")
            args = _decode(request["args"])
            kwargs = {k: _decode(v) for k, v in request["kwargs"]}
            value = fn(*args, **kwargs)
            try:
                encoded = _encode(_plain(value))
            except RecursionError:
                raise TypeError("returned value nested too deeply") from None
        except MemoryError:
            raise
        except Exception as e:
            send({"id": n, "error": {"type": type(e).__name__, "message": _clip(e, 1000)}})
        else:
            send({"id": n, "value": encoded})
