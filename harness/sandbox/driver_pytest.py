"""The verdict protocol's pytest mode inside the sandbox (NaturalCodeBench Python): the problem's pytest module runs
in the tests process against the names of the model's code, which runs in another process.

Stdlib only at import, and self-contained but for driver.py, which protocol.py puts before this file's source
(its _fds, _read_nonce, _write_verdict, _dumps, _clip, LinkBroken, _register_source); one call, `_pytest_tests_main(...)` or
`_pytest_solution_main(...)`, follows.

Tests side: asks the solution's process for the names its code defines (as `from solution import *` would bind
them), binds each in a module the test file star-imports: plain values as values, modules and what the code
imported from another module as the tests' own import of it, everything else as a *handle* (`_Handle`), a proxy
whose every use (call, attribute, item, iteration, len, str) is a request over the pipe. It then runs the pytest
module with pytest.main and a counting plugin, and writes the verdict: "passed" only when at least one test was
collected and every collected test passed (upstream's rule: a sample counts when 100% of its test cases pass),
nothing failed to collect, and the link to the solution never broke.

Solution side: runs the model's code as module `solution` (so an `if __name__ == "__main__":` block does not run,
as upstream imports it), then answers requests. What it prints during a request comes back with the reply and is
written to the tests' sys.stdout/sys.stderr, where capsys and capfd see it.

Values: tagged JSON. Besides driver.py's plain data: bytearray, paths (pathlib; a py.path from `tmpdir`), datetime,
date, time, timedelta, Decimal, Fraction, range, Counter, OrderedDict, defaultdict (a builtin default factory),
deque, numpy arrays and scalars (np.save / np.load with allow_pickle=False; object arrays are handles), torch
tensors (through numpy, with dtype and requires_grad), pandas Series, DataFrame, Index and Timestamp (rebuilt from
their columns), lxml elements (as XML text, parsed without entities). The tests' side rebuilds each with its own trusted code from checked fields, never by unpickling;
anything else the solution returns stays in its process as a handle. A handle is never equal to a value by
itself: `==` asks the solution for a plain value of the object (a subclass of a builtin type as that type, a named
tuple as a tuple) and compares that in the tests' process; without one it is False (two handles: the same
object). Ordering and arithmetic use the plain value likewise, else TypeError. bool() is the object's own truth
value (one bit, as the solution could return True). Exceptions: a builtin exception type arrives as itself
(StopIteration excepted), a class of a module the tests' process has imported (json.JSONDecodeError) as that class,
any other (a class the solution defines) as a local stand-in of that name deriving from its nearest builtin base.

Names never bound, though upstream's star import would bind them: names starting with an underscore (even when
__all__ lists them), pytest's own (pytest, pytestmark, pytest_plugins) and every builtin's name, so a solution that
defines `all` or `round` cannot answer the tests' own asserts.
"""

import json as _pj
import os as _pos
import sys as _psys

TYPE_CHECKING = False  # mypy and ruff read it as True; in the sandbox these names come from driver.py, put first
if TYPE_CHECKING:
    from harness.sandbox.driver import LinkBroken, _clip, _dumps, _fds, _read_nonce, _register_source, _write_verdict

_MAX_MSG = 64 << 20  # bytes of one request or reply (arrays travel inside: 100x130x80 float64 is 11 MB as base64)
_MAX_OUT = 1 << 20  # characters of one request's stdout/stderr sent back
# modules whose names the tests never import for the solution: binding them could change how pytest itself decides
_NO_IMPORT = ("_pytest", "pytest", "pluggy", "unittest", "builtins", "__main__", "solution", "_ncb_solution")
_NOT_BOUND = ("pytest_plugins", "pytestmark", "pytest")  # names pytest reads from a test module, and pytest itself
_NOPLAIN = object()
_MAX_NAME_VALUE = 1 << 20  # bytes of one module-level value sent with the names; a bigger one is a handle


def _b64(data):
    import base64

    return base64.b64encode(data).decode("ascii")


def _unb64(text):
    import base64

    if type(text) is not str:
        raise ValueError("not base64 text")
    return base64.b64decode(text.encode("ascii"), validate=True)


def _np_dump(arr):
    import io

    import numpy

    buf = io.BytesIO()
    numpy.save(buf, arr, allow_pickle=False)
    return _b64(buf.getvalue())


def _np_load(text):
    import io

    import numpy

    arr = numpy.load(io.BytesIO(_unb64(text)), allow_pickle=False)
    if type(arr) is not numpy.ndarray or arr.dtype.hasobject:
        raise ValueError("not a plain numpy array")
    return arr


def _builtin_exceptions():
    import builtins

    return {n: c for n, c in vars(builtins).items()
            if isinstance(c, type) and issubclass(c, Exception) and c not in (StopIteration, StopAsyncIteration)}


class _Codec:
    """Values to and from tagged JSON. `side` is "tests" (decodes into trusted types only; a handle becomes a
    _Handle) or "solution" (keeps the objects a handle names)."""

    def __init__(self, side, link=None):
        self.side = side
        self.link = link  # tests side: makes _Handle proxies
        self.objects = []  # solution side: handle id -> object
        self.ids = {}  # solution side: id(object) -> handle id
        self.proxies = {}  # tests side: handle id -> _Handle

    # ---- encoding (both sides)
    def enc(self, x, depth=0):
        if depth > 100:
            raise TypeError("value nested too deeply")
        t = type(x)
        if x is None or t is bool or t is int or t is float or t is str:
            return x
        d = depth + 1
        if t is list:
            return [self.enc(v, d) for v in x]
        if t is tuple:
            return {"t": "tuple", "v": [self.enc(v, d) for v in x]}
        if t is dict:
            return {"t": "dict", "v": [[self.enc(k, d), self.enc(v, d)] for k, v in x.items()]}
        if t is set or t is frozenset:
            return {"t": t.__name__, "v": [self.enc(v, d) for v in x]}
        if t is complex:
            return {"t": "complex", "v": [x.real, x.imag]}
        if t is bytes or t is bytearray:
            return {"t": t.__name__, "v": x.hex()}
        if t is _Handle:
            return {"t": "ref", "v": object.__getattribute__(x, "_hid")}
        special = self._enc_special(x, t, d)
        if special is not None:
            return special
        if self.side == "tests":
            raise TypeError(f"the tests cannot send a {t.__module__}.{t.__qualname__} to the solution")
        return self.handle(x)

    def _enc_special(self, x, t, d):
        import collections
        import datetime
        import decimal
        import fractions
        import pathlib

        mod = t.__module__ or ""
        if isinstance(x, pathlib.PurePath) and mod == "pathlib":
            return {"t": "path", "v": str(x)}
        if t.__name__ == "LocalPath" and mod.startswith(("_pytest", "py")) and self.side == "tests":
            return {"t": "path", "v": str(x)}
        if t in (datetime.datetime, datetime.date, datetime.time):
            return {"t": t.__name__, "v": x.isoformat()}
        if t is datetime.timedelta:
            return {"t": "timedelta", "v": [x.days, x.seconds, x.microseconds]}
        if t is decimal.Decimal:
            return {"t": "decimal", "v": str(x)}
        if t is fractions.Fraction:
            return {"t": "fraction", "v": [x.numerator, x.denominator]}
        if t is range:
            return {"t": "range", "v": [x.start, x.stop, x.step]}
        if t is collections.Counter or t is collections.OrderedDict:
            return {"t": t.__name__, "v": [[self.enc(k, d), self.enc(v, d)] for k, v in dict.items(x)]}
        if t is collections.defaultdict:
            f = x.default_factory
            name = f.__name__ if f in (int, float, str, list, dict, set, tuple) else None
            return {"t": "defaultdict", "f": name, "v": [[self.enc(k, d), self.enc(v, d)] for k, v in dict.items(x)]}
        if t is collections.deque:
            return {"t": "deque", "m": x.maxlen, "v": [self.enc(v, d) for v in x]}
        if mod == "numpy" or mod.startswith("numpy."):
            return self._enc_numpy(x, t)
        if mod.startswith("torch") and t.__name__ in ("Tensor", "Parameter"):
            return self._enc_tensor(x, t)
        if mod.startswith("pandas"):
            return self._enc_pandas(x, t, d)
        if mod == "lxml.etree" and t.__name__ == "_Element":
            from lxml import etree

            return {"t": "lxml", "v": etree.tostring(x, encoding="unicode")}
        return None

    def _enc_numpy(self, x, t):
        import numpy

        if t is numpy.ndarray and not x.dtype.hasobject:
            return {"t": "ndarray", "v": _np_dump(x)}
        if isinstance(x, numpy.generic) and not x.dtype.hasobject:
            return {"t": "npscalar", "v": _np_dump(numpy.asarray(x))}
        return None

    def _enc_tensor(self, x, t):
        import torch

        if t not in (torch.Tensor, torch.nn.Parameter) or x.layout != torch.strided or x.is_quantized:
            return None
        dtype = str(x.dtype).replace("torch.", "")
        y = x.detach().cpu()
        if dtype == "bfloat16":
            y = y.float()
        return {"t": "tensor", "v": _np_dump(y.resolve_conj().resolve_neg().numpy()), "dtype": dtype,
                "grad": bool(x.requires_grad), "param": t is torch.nn.Parameter}

    def _column(self, values, d):
        """One column's (or an index's) values: a numpy array when its dtype needs no pickle, else a list."""
        import numpy

        arr = numpy.asarray(values)
        if not arr.dtype.hasobject:
            return {"t": "ndarray", "v": _np_dump(arr)}
        return [self.enc(v, d) for v in arr.tolist()]

    def _enc_pandas(self, x, t, d):
        import pandas

        if t is pandas.Timestamp:
            return {"t": "timestamp", "v": x.isoformat()}
        if t is pandas.RangeIndex:
            return {"t": "rangeindex", "v": [x.start, x.stop, x.step], "name": self.enc(x.name, d)}
        if t is pandas.Index:
            return {"t": "index", "v": self._column(x.to_numpy(dtype=object) if x.dtype == object else x.to_numpy(), d),
                    "dtype": str(x.dtype), "name": self.enc(x.name, d)}
        if t is pandas.Series:
            return {"t": "series", "v": self._series_values(x, d), "dtype": str(x.dtype),
                    "index": self.enc(x.index, d), "name": self.enc(x.name, d)}
        if t is pandas.DataFrame:
            if not x.columns.is_unique:
                return None
            return {"t": "dataframe", "columns": self.enc(x.columns, d), "index": self.enc(x.index, d),
                    "v": [self._series_values(x.iloc[:, i], d) for i in range(x.shape[1])],
                    "dtypes": [str(v) for v in x.dtypes]}
        return None

    def _series_values(self, s, d):
        import numpy

        if isinstance(s.dtype, numpy.dtype) and not s.dtype.hasobject:
            return {"t": "ndarray", "v": _np_dump(s.to_numpy())}
        return [self.enc(v, d) for v in s.to_numpy(dtype=object).tolist()]

    def handle(self, x):
        key = id(x)
        hid = self.ids.get(key)
        if hid is None:
            hid = len(self.objects)
            self.objects.append(x)
            self.ids[key] = hid
        t = type(x)
        return {"t": "handle", "v": hid, "type": _clip(f"{t.__module__}.{t.__qualname__}", 200)}

    # ---- decoding
    def dec(self, x, depth=0):
        if depth > 100:
            raise ValueError("value nested too deeply")
        t = type(x)
        if x is None or t is bool or t is int or t is float or t is str:
            return x
        d = depth + 1
        if t is list:
            return [self.dec(v, d) for v in x]
        if t is not dict or type(x.get("t")) is not str:
            raise ValueError(f"not a value: {str(x)[:80]}")
        kind, v = x["t"], x.get("v")
        if kind == "tuple" and type(v) is list:
            return tuple(self.dec(e, d) for e in v)
        if kind in ("dict", "Counter", "OrderedDict", "defaultdict") and type(v) is list:
            pairs = [(self.dec(p[0], d), self.dec(p[1], d)) for p in v if type(p) is list and len(p) == 2]
            if len(pairs) != len(v):
                raise ValueError("malformed mapping")
            return self._mapping(kind, x, pairs)
        if kind in ("set", "frozenset") and type(v) is list:
            items = [self.dec(e, d) for e in v]
            return set(items) if kind == "set" else frozenset(items)
        if kind == "complex" and type(v) is list and len(v) == 2 and all(type(e) in (int, float) for e in v):
            return complex(v[0], v[1])
        if kind in ("bytes", "bytearray") and type(v) is str:
            return bytes.fromhex(v) if kind == "bytes" else bytearray.fromhex(v)
        if kind == "handle" and type(v) is int and v >= 0:
            return self._proxy(v, x.get("type"))
        if kind == "ref" and type(v) is int:
            if self.side == "tests" or not 0 <= v < len(self.objects):
                raise ValueError("not a handle of this process")
            return self.objects[v]
        return self._dec_special(kind, v, x, d)

    def _mapping(self, kind, x, pairs):
        import collections

        if kind == "dict":
            return dict(pairs)
        if kind == "Counter":
            return collections.Counter(dict(pairs))
        if kind == "OrderedDict":
            return collections.OrderedDict(pairs)
        factories = {"int": int, "float": float, "str": str, "list": list, "dict": dict, "set": set, "tuple": tuple}
        f = x.get("f")
        if f is not None and f not in factories:
            raise ValueError("unknown default factory")
        return collections.defaultdict(factories.get(f) if f else None, pairs)

    def _dec_special(self, kind, v, x, d):
        import collections
        import datetime
        import decimal
        import fractions
        import pathlib

        if kind == "path" and type(v) is str:
            return pathlib.Path(v)
        if kind in ("datetime", "date", "time") and type(v) is str:
            return getattr(datetime, kind).fromisoformat(v)
        if kind == "timedelta" and type(v) is list and len(v) == 3 and all(type(e) is int for e in v):
            return datetime.timedelta(days=v[0], seconds=v[1], microseconds=v[2])
        if kind == "decimal" and type(v) is str:
            return decimal.Decimal(v)
        if kind in ("fraction", "range") and type(v) is list and all(type(e) is int for e in v):
            return fractions.Fraction(*v) if kind == "fraction" else range(*v)
        if kind == "deque" and type(v) is list and (x.get("m") is None or type(x.get("m")) is int):
            return collections.deque([self.dec(e, d) for e in v], x.get("m"))
        if kind == "ndarray":
            return _np_load(v)
        if kind == "npscalar":
            arr = _np_load(v)
            if arr.ndim != 0:
                raise ValueError("a numpy scalar with dimensions")
            return arr[()]
        if kind == "tensor":
            return self._dec_tensor(v, x)
        if kind == "lxml" and type(v) is str:  # entities unresolved, no network: the text is the solution's
            from lxml import etree

            return etree.fromstring(v, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False))
        if kind in ("timestamp", "rangeindex", "index", "series", "dataframe"):
            return self._dec_pandas(kind, v, x, d)
        raise ValueError(f"not a value: {str(x)[:80]}")

    def _dec_tensor(self, v, x):
        import torch

        dtype = x.get("dtype")
        if type(dtype) is not str or not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ValueError("not a torch dtype")
        t = torch.from_numpy(_np_load(v).copy()).to(getattr(torch, dtype))
        if x.get("param") is True:
            return torch.nn.Parameter(t, requires_grad=x.get("grad") is True)
        return t.requires_grad_(True) if x.get("grad") is True and t.is_floating_point() else t

    def _values(self, v, d):
        return _np_load(v["v"]) if type(v) is dict and v.get("t") == "ndarray" else self.dec(v, d)

    def _dec_pandas(self, kind, v, x, d):
        import pandas

        if kind == "timestamp" and type(v) is str:
            return pandas.Timestamp(v)
        name = self.dec(x.get("name"), d)
        if kind == "rangeindex" and type(v) is list and len(v) == 3 and all(type(e) is int for e in v):
            return pandas.RangeIndex(v[0], v[1], v[2], name=name)
        if kind == "index":
            return self._typed(pandas.Index(self._values(v, d), name=name, dtype=object), x.get("dtype"))
        if kind == "series":
            index = self.dec(x.get("index"), d)
            if not isinstance(index, pandas.Index):
                raise ValueError("a series without an index")
            return self._typed(pandas.Series(self._values(v, d), index=index, name=name), x.get("dtype"))
        if kind == "dataframe" and type(v) is list:
            index, columns, dtypes = self.dec(x.get("index"), d), self.dec(x.get("columns"), d), x.get("dtypes")
            if not (isinstance(index, pandas.Index) and isinstance(columns, pandas.Index) and type(dtypes) is list
                    and len(dtypes) == len(v) == len(columns)):
                raise ValueError("malformed data frame")
            cols = [self._typed(pandas.Series(self._values(c, d), index=index), t) for c, t in zip(v, dtypes)]
            frame = pandas.concat(cols, axis=1) if cols else pandas.DataFrame(index=index)
            frame.columns = columns
            return frame
        raise ValueError(f"not a value: {kind}")

    @staticmethod
    def _typed(obj, dtype):
        if type(dtype) is not str:
            raise ValueError("no dtype")
        if str(obj.dtype) == dtype:
            return obj
        try:
            return obj.astype(dtype)
        except (TypeError, ValueError):
            return obj

    def _proxy(self, hid, type_name):
        if self.side != "tests":
            raise ValueError("a handle sent to the solution")
        p = self.proxies.get(hid)
        if p is None:
            p = _Handle(self.link, hid, type_name if type(type_name) is str else "?")
            self.proxies[hid] = p
        return p


# ------------------------------------------------------------------------------------------------ tests side
class _PytestLink:
    """The tests' end of the pipes: one request, one reply (its stdout/stderr written here first)."""

    def __init__(self, fds):
        import threading

        self.out = fds["calls"]
        self.inp = _pos.fdopen(fds["replies"], "rb", buffering=1 << 16)
        self.calls = 0
        self.broken = None
        self.codec = _Codec("tests", self)
        self.lock = threading.Lock()
        self.builtin_exceptions = _builtin_exceptions()
        self.standins = {}

    def fail(self, why):
        if self.broken is None:
            self.broken = why
        raise LinkBroken(self.broken)

    def request(self, op, **fields):
        __tracebackhide__ = True  # pytest shows the test's line, not the driver's
        with self.lock:
            return self._request(op, fields)

    def _request(self, op, fields):
        __tracebackhide__ = True
        if self.broken is not None:
            raise LinkBroken(self.broken)
        self.calls += 1
        n = self.calls
        try:
            message = _dumps({"id": n, "op": op, **fields})
        except (TypeError, ValueError) as e:
            raise TypeError(f"cannot send to the solution: {e}") from None
        try:
            view = memoryview(message)
            while view:
                view = view[_pos.write(self.out, view):]
        except OSError:
            pass
        line = self.inp.readline(_MAX_MSG + 1)
        if not line:
            self.fail(f"the solution's process ended before answering request {n} ({op})")
        if len(line) > _MAX_MSG or not line.endswith(b"\n"):
            self.fail(f"request {n}: the reply is too long or cut off")
        try:
            reply = _pj.loads(line)
            if type(reply) is not dict or type(reply.get("id")) is not int or reply["id"] != n:
                raise ValueError("not a reply to this request")
            for stream, key in ((_psys.stdout, "out"), (_psys.stderr, "err")):
                text = reply.get(key)
                if text is not None:
                    if type(text) is not str:
                        raise ValueError("output is not text")
                    stream.write(text)
            if "error" in reply:
                err = reply["error"]
                exc = self._exception(err)
            elif reply.get("stop") is True:  # the end of an iterator, and nothing else: a call that "stopped"
                if op != "next":  # would end a map() in the tests early, passing its loop without its asserts
                    raise ValueError(f"an iterator's end in reply to {op}")
                exc = StopIteration()
            else:
                return self.codec.dec(reply.get("value"))
        except MemoryError:
            raise
        except (ValueError, TypeError, OverflowError, RecursionError, ImportError, AttributeError) as e:
            self.fail(f"request {n} ({op}): the reply is not a value ({_clip(e, 200)})")
        raise exc

    def _exception(self, err):
        """The tests' own exception for the solution's: same builtin type, a library's class, or a stand-in."""
        if type(err) is not dict or type(err.get("type")) is not str or type(err.get("message")) is not str:
            raise ValueError("malformed error")
        cls = self.exception_class(err.get("type"), err.get("module"), err.get("bases"))
        message = err["message"][:2000]
        try:
            args = self.codec.dec(err.get("args")) if err.get("args") is not None else (message,)
            if type(args) is not tuple:
                return cls(message)
            filename = err.get("filename")
            if issubclass(cls, OSError) and type(filename) is str and len(args) == 2:
                return cls(args[0], args[1], filename)
            return cls(*args)
        except Exception:
            try:  # a library's class whose __init__ wants other arguments (json.JSONDecodeError): args only
                exc = cls.__new__(cls, message)
                exc.args = (message,)
                return exc
            except Exception:
                return self.standin(err["type"], [b for b in err.get("bases") or [] if type(b) is str])(message)

    def exception_class(self, name, module, bases):
        if module == "builtins" and name in self.builtin_exceptions:
            return self.builtin_exceptions[name]
        if type(module) is str and module.split(".")[0] not in _NO_IMPORT and "." not in name:
            try:  # only a module the tests' process has imported: naming one runs no import in the tests
                cls = getattr(_psys.modules[module], name)
                if isinstance(cls, type) and issubclass(cls, Exception) and not issubclass(cls, StopIteration):
                    return cls
            except Exception:
                pass
        return self.standin(name, [b for b in bases or [] if type(b) is str])

    def standin(self, name, bases):
        """One local class per name the solution's exceptions use, deriving from their nearest builtin base."""
        cls = self.standins.get(name)
        if cls is None:
            base = next((self.builtin_exceptions[b] for b in bases if b in self.builtin_exceptions), Exception)
            cls = type(name, (base,), {"__module__": "solution"})
            self.standins[name] = cls
        return cls


class _Handle:
    """An object that lives in the solution's process. Every use is a request; what comes back is a value or
    another handle. Never equal to a value by itself (see the module docstring)."""

    __slots__ = ("_link", "_hid", "_type", "__weakref__")

    def __init__(self, link, hid, type_name):
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_hid", hid)
        object.__setattr__(self, "_type", type_name)

    def _req(self, op, **fields):
        __tracebackhide__ = True
        return object.__getattribute__(self, "_link").request(op, h=object.__getattribute__(self, "_hid"), **fields)

    def _enc(self, x):
        return object.__getattribute__(self, "_link").codec.enc(x)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__") and name not in ("__name__", "__qualname__", "__doc__",
                                                                          "__dict__", "__self__", "__func__"):
            raise AttributeError(name)
        return self._req("getattr", name=name)

    def __setattr__(self, name, value):
        self._req("setattr", name=str(name), value=self._enc(value))

    def __delattr__(self, name):
        self._req("delattr", name=str(name))

    def __call__(self, *args, **kwargs):
        __tracebackhide__ = True
        return self._req("call", args=self._enc(list(args)), kwargs=[[str(k), self._enc(v)] for k, v in kwargs.items()])

    def __getitem__(self, key):
        return self._req("getitem", key=self._enc(key))

    def __setitem__(self, key, value):
        self._req("setitem", key=self._enc(key), value=self._enc(value))

    def __delitem__(self, key):
        self._req("delitem", key=self._enc(key))

    def __contains__(self, item):
        return self._checked("contains", bool, item=self._enc(item))

    def __len__(self):
        return self._checked("len", int)

    def __bool__(self):
        return self._checked("bool", bool)

    def __iter__(self):
        return self._req("iter")

    def __next__(self):
        return self._req("next")

    def __str__(self):
        return self._checked("str", str)

    def __repr__(self):
        return self._checked("repr", str)

    def _checked(self, op, kind, **fields):
        value = self._req(op, **fields)
        if type(value) is not kind:
            raise TypeError(f"{op}: the solution answered a {type(value).__name__}, not a {kind.__name__}")
        return value

    @property
    def __signature__(self):
        """The callable's parameters as the solution reports them (scipy's curve_fit counts them), or None."""
        params = self._req("signature")
        if params is None:
            return None
        import inspect

        if type(params) is not list or not all(type(p) is list and len(p) in (2, 3) and type(p[0]) is str
                                               and type(p[1]) is int and 0 <= p[1] <= 4 for p in params):
            raise TypeError("signature: malformed answer")
        kinds = list(type(inspect.Parameter.POSITIONAL_ONLY))
        return inspect.Signature([inspect.Parameter(p[0], kinds[p[1]], **({"default": p[2]} if len(p) == 3 else {}))
                                  for p in params])

    def __enter__(self):
        return self._req("method", name="__enter__", args=[], kwargs=[])

    def __exit__(self, *exc):
        self._req("method", name="__exit__", args=[None, None, None], kwargs=[])
        return False

    def __hash__(self):
        return hash(("handle", object.__getattribute__(self, "_hid")))

    def _plain(self):
        """The object as a plain value, computed by the solution, or _NOPLAIN."""
        answer = self._req("plain")
        if type(answer) is not dict or set(answer) - {"value"}:
            raise TypeError("plain: malformed answer")
        return answer["value"] if "value" in answer else _NOPLAIN

    def __eq__(self, other):
        if type(other) is _Handle and object.__getattribute__(other, "_hid") == object.__getattribute__(self, "_hid"):
            return True
        mine = self._plain()
        if mine is _NOPLAIN:
            return False
        return bool(mine == other)

    def __ne__(self, other):
        return not self.__eq__(other)

    def _value(self, op):
        mine = self._plain()
        if mine is _NOPLAIN:
            raise TypeError(f"{op}: {object.__getattribute__(self, '_type')} (in the solution's process) has no plain value")
        return mine

    def __format__(self, spec):
        return format(self._value("format"), spec) if spec else str(self)

    def __float__(self):
        return float(self._value("float"))

    def __int__(self):
        return int(self._value("int"))

    def __round__(self, *ndigits):
        return round(self._value("round"), *ndigits)

    def __index__(self):
        v = self._value("index")
        if type(v) is not int:
            raise TypeError("not an integer")
        return v


def _binary(name, reflected=False):
    import operator

    fn = getattr(operator, name)

    def method(self, other):
        mine = self._value(name)
        return fn(other, mine) if reflected else fn(mine, other)

    return method


for _name in ("lt", "le", "gt", "ge", "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and_", "or_", "xor",
              "matmul"):
    _dunder = "__" + _name.rstrip("_") + "__"
    setattr(_Handle, _dunder, _binary(_name))
    if _name not in ("lt", "le", "gt", "ge"):
        setattr(_Handle, "__r" + _dunder[2:], _binary(_name, True))
for _name in ("neg", "pos", "abs", "invert"):
    setattr(_Handle, "__" + _name + "__", (lambda fn: lambda self: fn(self._value(fn.__name__)))(
        getattr(__import__("operator"), _name)))


class _Counts:
    """A pytest plugin that counts outcomes: the verdict needs every collected test to pass."""

    def __init__(self):
        self.collected = 0
        self.passed = set()
        self.bad = []  # (nodeid, outcome) of every test that did not pass
        self.collect_errors = []

    def pytest_collection_finish(self, session):
        self.collected = len(session.items)

    def pytest_collectreport(self, report):
        if report.failed:
            self.collect_errors.append(report.nodeid or "<module>")

    def pytest_runtest_logreport(self, report):
        if report.when == "call" and report.passed and not hasattr(report, "wasxfail"):
            self.passed.add(report.nodeid)
        elif report.failed or report.skipped or hasattr(report, "wasxfail"):
            outcome = "xfail" if hasattr(report, "wasxfail") else report.outcome
            crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
            message = getattr(crash, "message", "") if crash is not None else ""
            self.bad.append((report.nodeid, f"{outcome} in {report.when}" + (f": {_clip(message, 200)}" if message
                                                                              else "")))
            self.passed.discard(report.nodeid)


def _names_module(link, names):
    """The module the test file star-imports: the solution's names bound as the module docstring says (`names`
    is the decoded reply: each entry's value already a value or a _Handle)."""
    import builtins
    import types

    mod = types.ModuleType("_ncb_solution")
    bound = []
    if type(names) is not list:
        link.fail("names: malformed answer")
    for entry in names:
        if type(entry) is not list or len(entry) != 3 or type(entry[0]) is not str or type(entry[1]) is not str:
            link.fail("names: malformed entry")
        name, kind, info = entry
        if not name.isidentifier() or name.startswith("_") or name in _NOT_BOUND or hasattr(builtins, name):
            continue  # never __builtins__, __test__, a name pytest reads from a test module, or a builtin the
            # tests would then call in the solution's place (`all`, `round`, `len`: a forged assert)
        if kind in ("module", "import"):
            if type(info) is not list or len(info) != 3 or not all(type(i) is str for i in info[:2]):
                link.fail(f"names: malformed entry for {name}")
            if kind == "module" and info[0].split(".")[0] in _NO_IMPORT:
                continue  # `import pytest` in the solution leaves the tests' own pytest in place
            value = _local_import(info[0], info[1], kind == "module")
            if value is _NOPLAIN:
                value = info[2]  # the object itself, as the solution sent it (a handle)
        elif kind == "exception":
            if type(info) is not list or not all(type(b) is str for b in info):
                link.fail(f"names: malformed entry for {name}")
            value = link.standin(name, info)
        elif kind == "value":
            value = info
        else:
            link.fail(f"names: unknown kind {_clip(kind, 40)}")
        setattr(mod, name, value)
        bound.append(name)
    mod.__all__ = bound
    return mod


def _local_import(module, qual, whole):
    """The tests' own import of `module` (whole) or of the class or function `module`.`qual`, when it is what it
    says it is (its __module__ and __qualname__ match, no module on the way), else _NOPLAIN."""
    import importlib
    import types

    if module.split(".")[0] in _NO_IMPORT or (whole and qual):
        return _NOPLAIN
    try:
        value = importlib.import_module(module)
        if whole:
            return value if value.__name__ == module else _NOPLAIN
        for part in qual.split("."):
            value = getattr(value, part)
            if isinstance(value, types.ModuleType):
                return _NOPLAIN
    except Exception:
        return _NOPLAIN
    if not (isinstance(value, type) or callable(value)):
        return _NOPLAIN
    if getattr(value, "__module__", None) != module or getattr(value, "__qualname__", None) != qual:
        return _NOPLAIN
    return value


def _pytest_tests_main(source, shared, site_dirs):
    fds = _fds()
    vfd = fds["verdict"]
    nonce = _read_nonce(vfd)
    link = _PytestLink(fds)
    counts = _Counts()

    def verdict(passed, reason):
        _write_verdict(vfd, nonce, passed, link.calls, reason)

    try:
        _setup_process(site_dirs)
        _psys.modules["_ncb_solution"] = _names_module(link, link.request("names"))
        here = _pos.getcwd()  # the private work directory: the test file and pytest's config live here only
        test_file = _pos.path.join(here, "test_solution.py")
        with open(test_file, "w", encoding="utf-8") as f:
            f.write("import pytest\nfrom _ncb_solution import *\n" + source)
        ini = _pos.path.join(here, "pytest.ini")
        with open(ini, "w", encoding="utf-8") as f:
            f.write("[pytest]\n")
        _pos.chdir(shared)
        _shared_mkdir()
        _pos.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        import pytest

        code = pytest.main([test_file, "-q", "-s", "-p", "no:cacheprovider", "--noconftest", "-c", ini,
                            "--rootdir", here, f"--basetemp={_pos.path.join(shared, 'pytest-tmp')}",
                            "-W", "ignore::DeprecationWarning"], plugins=[counts])
    except MemoryError:
        try:
            verdict(False, "MemoryError in the tests' process")
        except BaseException:
            pass
        raise
    except BaseException as e:
        verdict(False, link.broken or f"{type(e).__name__}: {_clip(e, 300)}")
        _pos._exit(1)
    total = counts.collected
    good = len(counts.passed)
    if link.broken:
        verdict(False, link.broken + f" ({good}/{total} tests passed)")
        _pos._exit(1)
    if counts.collect_errors:
        verdict(False, f"the tests could not be collected ({counts.collect_errors[0]})")
        _pos._exit(1)
    if total == 0:
        verdict(False, "no tests were collected")
        _pos._exit(1)
    if good != total or counts.bad or int(code) != 0:
        first = counts.bad[0] if counts.bad else ("", f"pytest exit status {int(code)}")
        verdict(False, f"{good}/{total} tests passed; first failure: {first[0].split('::', 1)[-1]} ({first[1]})")
        _pos._exit(1)
    verdict(True, f"{total}/{total} tests passed ({link.calls} requests)")
    _pos._exit(0)


def _setup_process(site_dirs):
    """Third-party modules from the harness's site-packages (read-only); one thread per numeric library; chmod
    that the sandbox refuses (EPERM) is a no-op, so shutil.copy/copy2/copytree work as upstream (files are made
    with umask 0 already)."""
    import errno

    for d in site_dirs:
        if d not in _psys.path:
            _psys.path.append(d)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        _pos.environ[var] = "1"
    for name in ("chmod", "fchmod", "lchmod"):
        real = getattr(_pos, name, None)
        if real is None:
            continue

        def shim(*args, _real=real, **kwargs):
            try:
                return _real(*args, **kwargs)
            except PermissionError as e:
                if e.errno != errno.EPERM:
                    raise
                return None

        setattr(_pos, name, shim)


def _shared_mkdir():
    """Folders the tests make (pytest's tmp_path is mkdir(mode=0o700)) are made open to the solution's uid: both
    processes work in the shared folder, where each runs under a uid of its own."""
    real = _pos.mkdir

    def mkdir(path, mode=0o777, *, dir_fd=None):
        return real(path, 0o777, dir_fd=dir_fd)

    _pos.mkdir = mkdir


# ------------------------------------------------------------------------------------------------ solution side
def _export(namespace, codec):
    """`from solution import *`: __all__, else every name not starting with an underscore."""
    import types

    names = namespace.get("__all__")
    if not (isinstance(names, (list, tuple)) and all(type(n) is str for n in names)):
        names = [n for n in namespace if not n.startswith("_")]
    out = []
    for name in names:
        if name not in namespace:
            continue
        value = namespace[name]
        if isinstance(value, types.ModuleType):
            out.append([name, "module", [value.__name__, "", codec.handle(value)]])
            continue
        module = getattr(value, "__module__", None) if isinstance(value, type) or callable(value) else None
        if type(module) is str and module != "solution" and type(getattr(value, "__qualname__", None)) is str:
            out.append([name, "import", [module, value.__qualname__, codec.enc(value)]])
        elif isinstance(value, type) and issubclass(value, BaseException):
            out.append([name, "exception", [c.__name__ for c in value.__mro__ if c.__module__ == "builtins"]])
        else:
            try:
                encoded = codec.enc(value)
                if len(_pj.dumps(encoded)) > _MAX_NAME_VALUE:  # a big module-level array: used through a handle
                    encoded = codec.handle(value)
            except (TypeError, ValueError, RecursionError):
                encoded = codec.handle(value)
            out.append([name, "value", encoded])
    return out


def _as_plain(x):
    """A plain value for `==` on the tests' side: a builtin type's subclass as that type, a named tuple as a tuple."""
    for base in (bool, int, float, complex, str, bytes, tuple, list, dict, set, frozenset):
        if isinstance(x, base) and type(x) is not base:
            if base in (list, tuple, set, frozenset):
                return base(base.__iter__(x))
            if base is dict:
                return {k: dict.__getitem__(x, k) for k in dict.__iter__(x)}
            if base is str:
                return str.__str__(x)
            return {int: int.__int__, float: float.__float__, bool: bool, complex: complex,
                    bytes: bytes}[base](x)
    return _NOPLAIN


def _pytest_solution_main(source, shared, site_dirs):
    import io
    import types

    fds = _fds()
    inp = _pos.fdopen(fds["calls"], "rb", buffering=1 << 16)
    out = fds["replies"]
    write = _pos.write
    codec = _Codec("solution")
    real_out, real_err = _psys.stdout, _psys.stderr

    def send(obj):
        data = memoryview(_dumps(obj))
        while data:
            data = data[write(out, data):]

    def captured():
        o, e = _psys.stdout, _psys.stderr
        _psys.stdout, _psys.stderr = real_out, real_err
        texts = {}
        for key, buf in (("out", o), ("err", e)):
            text = buf.getvalue() if isinstance(buf, io.StringIO) else ""
            if text:
                texts[key] = text[:_MAX_OUT]
        return texts

    _setup_process(site_dirs)
    _pos.chdir(shared)
    module = types.ModuleType("solution")
    module.__file__ = _pos.path.join(shared, "solution.py")
    _psys.modules["solution"] = module
    _register_source("solution.py", source)
    _psys.stdout, _psys.stderr = io.StringIO(), io.StringIO()
    try:
        exec(compile(source, "solution.py", "exec"), module.__dict__)
    except BaseException:  # it ends the process (boot.py prints the traceback): what it printed goes first
        for stream, text in zip((real_out, real_err), captured().values()):
            stream.write(text)
        raise
    pending = captured()
    ops = _Ops(module.__dict__, codec)
    while True:
        line = inp.readline(_MAX_MSG + 1)
        if not line:
            _pos._exit(0)  # the tests are done
        request = _pj.loads(line)
        n = request["id"]
        _psys.stdout, _psys.stderr = io.StringIO(), io.StringIO()
        try:
            result = ops.run(request)
        except MemoryError:
            raise
        except Exception as e:
            reply = {"id": n, "error": _error(e, codec)}
        else:
            reply = {"id": n, "stop": True} if result is _NOPLAIN else {"id": n, "value": result}
        texts = captured()
        for key, text in pending.items():  # what the module printed when it was run comes with the first reply
            texts[key] = text + texts.get(key, "")
        pending = {}
        send({**reply, **texts})


def _error(e, codec):
    t = type(e)
    err = {"type": t.__name__, "module": t.__module__, "message": _clip(e, 1000),
           "bases": [c.__name__ for c in t.__mro__ if c.__module__ == "builtins"]}
    try:
        err["args"] = codec.enc(tuple(e.args)) if all(type(a) in (int, float, str, bool, type(None)) for a in e.args) \
            else None
    except Exception:
        err["args"] = None
    if isinstance(e, OSError) and type(e.filename) is str:
        err["filename"] = e.filename
    return err


class _Ops:
    """The requests the solution's process answers; each result is encoded (values, or handles)."""

    def __init__(self, namespace, codec):
        self.ns = namespace
        self.codec = codec

    def target(self, request):
        h = request.get("h")
        if type(h) is not int or not 0 <= h < len(self.codec.objects):
            raise NameError("no such object in the solution's process")
        return self.codec.objects[h]

    def run(self, request):
        op = request.get("op")
        c = self.codec
        if op == "names":
            return _export(self.ns, c)
        obj = self.target(request)
        if op == "call":
            args = c.dec(request["args"])
            kwargs = {str(k): c.dec(v) for k, v in request["kwargs"]}
            return c.enc(obj(*args, **kwargs))
        if op == "method":
            args = c.dec(request["args"])
            return c.enc(getattr(obj, request["name"])(*args))
        if op == "getattr":
            return c.enc(getattr(obj, request["name"]))
        if op == "setattr":
            setattr(obj, request["name"], c.dec(request["value"]))
            return None
        if op == "delattr":
            delattr(obj, request["name"])
            return None
        if op == "getitem":
            return c.enc(obj[c.dec(request["key"])])
        if op == "setitem":
            obj[c.dec(request["key"])] = c.dec(request["value"])
            return None
        if op == "delitem":
            del obj[c.dec(request["key"])]
            return None
        if op == "contains":
            return bool(c.dec(request["item"]) in obj)
        if op == "len":
            return len(obj)
        if op == "bool":
            return bool(obj)
        if op == "iter":
            return c.handle(iter(obj))
        if op == "next":  # the end of an iterator is an answer, never an exception (see driver.py: _RAISABLE)
            try:
                value = next(obj)
            except StopIteration:
                return _NOPLAIN
            return c.enc(value)
        if op == "str":
            return str(obj)
        if op == "repr":
            return repr(obj)
        if op == "signature":
            import inspect

            try:
                sig = inspect.signature(obj)
            except (TypeError, ValueError):
                return None
            out = []
            for p in sig.parameters.values():
                entry = [p.name, int(p.kind)]
                if p.default is not p.empty:
                    entry.append(c.enc(p.default))
                out.append(entry)
            return out
        if op == "plain":
            value = _as_plain(obj)
            return {"t": "dict", "v": []} if value is _NOPLAIN else {"t": "dict", "v": [["value", c.enc(value)]]}
        raise ValueError(f"unknown request {op!r}")
