"""The verdict protocol's pytest mode (harness/sandbox/driver_pytest.py): a pytest module in one sandboxed process,
the model's code in another, every name of the code reached over a pipe.

What crosses: values rebuilt by the tests' own code (numpy, pandas, torch, datetime, paths, ...), handles to the
solution's objects (calls, attributes, items, iteration, len, str), exceptions by type, printed output for capsys
and capfd, files in the shared folder. A check passes only when every collected test passed. Then the forgery
corpus: solutions that try to pass without solving, each of which must fail.
"""

from __future__ import annotations

import re

import pytest

from harness.sandbox.core import Limits
from harness.sandbox.protocol import Check, CheckResult, run_check

pytestmark = pytest.mark.slow

LIMITS = Limits(timeout_s=30, cpu_s=30, memory_mb=4096, files=32768, disk_mb=256)


def check(tests: str, solution: str, limits: Limits = LIMITS) -> CheckResult:
    return run_check(Check(tests, None, solution, None, tests="pytest"), limits)


def passed(r: CheckResult, n: int) -> bool:
    return r.status == "passed" and re.fullmatch(rf"{n}/{n} tests passed \(\d+ requests\)", r.reason) is not None


# ------------------------------------------------------------------------------------------------ values
VALUES_SOLUTION = '''
import collections, datetime, decimal, fractions, pathlib
import numpy as np
import pandas as pd
import torch

LIMIT = 7
NAMES = ("a", "b")

def values():
    return {"tuple": (1, 2.5, None), "set": {1, 2}, "bytes": b"\\x00\\xff", "complex": 1 + 2j,
            "date": datetime.date(2024, 2, 29), "when": datetime.datetime(2023, 12, 20, 18, 0),
            "span": datetime.timedelta(days=1, seconds=3), "money": decimal.Decimal("1.10"),
            "third": fractions.Fraction(1, 3), "path": pathlib.Path("/x/y.txt"), "range": range(0, 10, 2),
            "counter": collections.Counter("aab"), "ordered": collections.OrderedDict(b=1, a=2),
            "deque": collections.deque([1, 2], maxlen=5), "nan": float("nan")}

def array(n):
    return np.arange(n, dtype=np.int32).reshape(2, -1)

def scalar():
    return np.float64(0.5), np.int64(3), np.bool_(True)

def frame():
    return pd.DataFrame({"city": ["a", "b"], "t": [1.5, 2.5], "n": [1, 2]}, index=[10, 20])

def series():
    return pd.Series([1, 2, 3], index=["x", "y", "z"], name="s")

def tensor(x):
    return (x * 2).float().requires_grad_(True)

def echo(x):
    return x
'''

VALUES_TESTS = '''
import collections, datetime, decimal, fractions, math, pathlib
import numpy as np
import pandas as pd
import torch

def test_constants():
    assert LIMIT == 7 and NAMES == ("a", "b")

def test_stdlib_values():
    v = values()
    assert v["tuple"] == (1, 2.5, None) and v["set"] == {1, 2} and v["bytes"] == b"\\x00\\xff"
    assert v["complex"] == 1 + 2j and v["date"] == datetime.date(2024, 2, 29)
    assert v["when"] == datetime.datetime(2023, 12, 20, 18, 0) and v["span"].total_seconds() == 86403
    assert v["money"] == decimal.Decimal("1.10") and str(v["money"]) == "1.10"
    assert v["third"] == fractions.Fraction(1, 3) and v["path"] == pathlib.Path("/x/y.txt")
    assert v["range"] == range(0, 10, 2) and type(v["counter"]) is collections.Counter
    assert v["counter"].most_common(1) == [("a", 2)] and list(v["ordered"]) == ["b", "a"]
    assert v["deque"] == collections.deque([1, 2]) and v["deque"].maxlen == 5 and math.isnan(v["nan"])

def test_numpy():
    a = array(6)
    assert type(a) is np.ndarray and a.dtype == np.int32 and a.shape == (2, 3) and a[1, 2] == 5
    f, i, b = scalar()
    assert type(f) is np.float64 and type(i) is np.int64 and type(b) is np.bool_ and f == 0.5

def test_pandas():
    df = frame()
    pd.testing.assert_frame_equal(df, pd.DataFrame({"city": ["a", "b"], "t": [1.5, 2.5], "n": [1, 2]}, index=[10, 20]))
    pd.testing.assert_series_equal(series(), pd.Series([1, 2, 3], index=["x", "y", "z"], name="s"))

def test_torch():
    t = tensor(torch.tensor([1, 2]))
    assert t.dtype == torch.float32 and t.requires_grad and torch.equal(t.detach(), torch.tensor([2.0, 4.0]))

def test_arguments_cross_intact(tmp_path):
    for x in [np.eye(2), pd.Series([1.0]), tmp_path, datetime.time(1, 2), {"k": [1, (2, 3)]}]:
        back = echo(x)
        assert type(back) is type(x) or isinstance(x, pathlib.Path)
        assert str(back) == str(x)
'''


def test_values_cross_as_their_own_types() -> None:
    r = check(VALUES_TESTS, VALUES_SOLUTION)
    assert passed(r, 6), (r.reason, r.stdout[-3000:])


# ------------------------------------------------------------------------------------------------ handles
HANDLES_SOLUTION = '''
import collections

class ListNode:
    def __init__(self, value=0, next=None):
        self.value = value
        self.next = next

def add(l1, l2):
    head = tail = ListNode()
    carry = 0
    while l1 or l2 or carry:
        s = carry + (l1.value if l1 else 0) + (l2.value if l2 else 0)
        carry, tail.next = s // 10, ListNode(s % 10)
        tail = tail.next
        l1, l2 = l1 and l1.next, l2 and l2.next
    return head.next

class Bag:
    def __init__(self):
        self.items = []
        self.total = 0.0
    def add(self, name, price):
        self.items.append(name)
        self.total += price
        print(f"added {name}")
    def __len__(self):
        return len(self.items)
    def __getitem__(self, i):
        return self.items[i]
    def __contains__(self, name):
        return name in self.items
    def __str__(self):
        return f"Bag({len(self.items)})"
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        self.items.clear()

Point = collections.namedtuple("Point", "x y")

def origin():
    return Point(0, 0)

def countdown(n):
    while n:
        yield n
        n -= 1
'''

HANDLES_TESTS = '''
def test_linked_lists_go_back_and_forth():
    result = add(ListNode(9, ListNode(9)), ListNode(1))
    assert (result.value, result.next.value, result.next.next.value) == (0, 0, 1)
    assert result.next.next.next is None

def test_instances():
    bag = Bag()
    bag.add("tea", 1.5)
    bag.add("cake", 2.0)
    assert len(bag) == 2 and bag[0] == "tea" and "cake" in bag and "milk" not in bag
    assert bag.total == 3.5 and bag.items == ["tea", "cake"] and str(bag) == "Bag(2)"
    bag.total = 10
    assert bag.total == 10
    assert bag is bag and bag == bag and bag != Bag()
    with bag as b:
        assert len(b) == 2
    assert len(bag) == 0

def test_a_named_tuple_equals_its_plain_value():
    p = origin()
    assert p == (0, 0) and p.x == 0 and p[1] == 0 and tuple(p) == (0, 0)

def test_generators():
    assert list(countdown(3)) == [3, 2, 1] and sum(countdown(4)) == 10
'''


def test_handles_reach_the_solutions_objects() -> None:
    r = check(HANDLES_TESTS, HANDLES_SOLUTION)
    assert passed(r, 4), (r.reason, r.stdout[-3000:])


# ------------------------------------------------------------------------------------------------ exceptions, output, files
EXC_SOLUTION = '''
import json, os

class InvalidInput(ValueError):
    pass

def parse(text):
    if not text:
        raise InvalidInput("empty input")
    return json.loads(text)

def positive(x):
    if x <= 0:
        raise ValueError(f"{x} is not positive")
    return x

def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()

def lookup(d, k):
    return d[k]

def shout(text):
    print(text.upper())
    os.write(1, b"")  # the process's own stdout is not the tests'

def warn(text):
    import sys
    print(text, file=sys.stderr)

def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)

def listing(folder):
    return sorted(os.listdir(folder))
'''

EXC_TESTS = '''
import json, os
import pytest

def test_builtin_and_own_exceptions():
    with pytest.raises(ValueError, match="^-1 is not positive$"):
        positive(-1)
    with pytest.raises(InvalidInput):
        parse("")
    with pytest.raises(ValueError, match="empty input"):
        parse("")
    with pytest.raises(json.JSONDecodeError):
        parse("{")
    with pytest.raises(KeyError) as e:
        lookup({"a": 1}, "b")
    assert str(e.value) == "'b'"

def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        read(tmp_path / "nope.txt")
    assert e.value.filename == str(tmp_path / "nope.txt")

def test_capsys(capsys):
    shout("hi")
    assert capsys.readouterr().out == "HI\\n"

def test_capfd(capfd):
    shout("there")
    warn("careful")
    out, err = capfd.readouterr()
    assert out == "THERE\\n" and err == "careful\\n"

def test_files_both_ways(tmp_path, tmpdir):
    (tmp_path / "in.txt").write_text("from the tests", encoding="utf-8")
    assert read(tmp_path / "in.txt") == "from the tests"
    write(str(tmp_path / "out.txt"), "from the solution")
    assert (tmp_path / "out.txt").read_text(encoding="utf-8") == "from the solution"
    tmpdir.mkdir("sub").join("a.txt").write("x")
    assert listing(tmpdir.join("sub")) == ["a.txt"]

def test_relative_paths_share_a_folder():
    with open("rel.txt", "w") as f:
        f.write("cwd")
    assert read("rel.txt") == "cwd"
'''


def test_exceptions_output_and_files() -> None:
    r = check(EXC_TESTS, EXC_SOLUTION)
    assert passed(r, 6), (r.reason, r.stdout[-3000:])


@pytest.mark.parametrize("tests, solution, reason", [
    ("def test_a():\n    assert f() == 1\n\ndef test_b():\n    assert f() == 2\n", "def f():\n    return 1\n",
     r"^1/2 tests passed; first failure: test_b \(failed in call: assert 1 == 2 "),
    ("x = 1\n", "def f():\n    return 1\n", r"^no tests were collected$"),
    ("def test_a(:\n", "def f():\n    return 1\n", r"^the tests could not be collected"),
    ("import pytest\n\ndef test_a():\n    pytest.skip('later')\n", "def f():\n    return 1\n",
     r"^0/1 tests passed; first failure: test_a \(skipped in call\)$"),
    ("def test_a():\n    assert g() == 1\n", "def f():\n    return 1\n", r"^0/1 tests passed"),
    ("def test_a():\n    assert f() == 1\n", "```python\n", r"names|tests passed"),
])
def test_every_collected_test_must_pass(tests: str, solution: str, reason: str) -> None:
    r = check(tests, solution)
    assert r.status == "failed" and re.search(reason, r.reason), r.reason


# ------------------------------------------------------------------------------------------------ forgeries
FORGERY_TESTS = '''
def test_one():
    assert solve(2) == 4

def test_two():
    for x, want in zip([1, 2, 3], [1, 4, 9]):
        assert solve(x) == want

def test_three():
    assert [solve(x) for x in (5, 6)] == [25, 36]
'''

FORGERIES = [
    ("exit at import", "import sys\nsys.exit(0)\n"),
    ("os._exit at import", "import os\nos._exit(0)\n"),
    ("os._exit in the call", "import os\ndef solve(x):\n    os._exit(0)\n"),
    ("raise at import", "raise RuntimeError('no')\ndef solve(x):\n    return x * x\n"),
    ("always-equal object", "class Yes:\n    def __eq__(self, o):\n        return True\n    __hash__ = object.__hash__\n"
                            "def solve(x):\n    return Yes()\n"),
    ("always-equal int subclass", "class Yes(int):\n    def __eq__(self, o):\n        return True\n"
                                  "    __hash__ = int.__hash__\ndef solve(x):\n    return Yes(0)\n"),
    ("always-equal list subclass", "class Yes(list):\n    def __eq__(self, o):\n        return True\n"
                                   "def solve(x):\n    return Yes()\n"),
    ("patched builtins", "import builtins\nbuiltins.AssertionError = type('X', (Exception,), {})\n"
                         "builtins.print = lambda *a, **k: None\ndef solve(x):\n    return 0\n"),
    ("patched pytest in its own process", "import pytest, _pytest.python\n"
     "_pytest.python.Function.runtest = lambda self: None\npytest.fail = lambda *a, **k: None\n"
     "def solve(x):\n    return 0\n"),
    ("pytest.skip from the solution", "import pytest\ndef solve(x):\n    pytest.skip('no')\n"),
    ("exception spoofing pytest's Skipped", "class Skipped(Exception):\n    pass\nSkipped.__module__ = '_pytest.outcomes'\n"
                                            "def solve(x):\n    raise Skipped('no')\n"),
    ("StopIteration ends the tests' loops", "def solve(x):\n    raise StopIteration\n"),
    ("fake verdict printed", 'import json\ndef solve(x):\n    print(json.dumps({"nonce": "0", "verdict": "passed",'
                             ' "calls": 1, "reason": "ok"}))\n    return 0\n'),
    ("conftest, ini and test file written to the shared folder",
     "for name, text in [('conftest.py', 'import pytest\\n@pytest.hookimpl(tryfirst=True)\\n"
     "def pytest_runtest_call(item):\\n    return True\\n'), ('pytest.ini', '[pytest]\\naddopts = -p no:python\\n'),"
     " ('test_solution.py', 'def test_ok():\\n    pass\\n')]:\n    open(name, 'w').write(text)\n"
     "def solve(x):\n    return 0\n"),
    ("bound to a function that ends the tests' process", "from os import _exit as solve\n"),
    ("forged replies on its own pipe", "import sys\nmain = sys.modules['__main__']\nreal = main._Ops.run\n"
     "main._Ops.run = lambda self, r: real(self, r) if r.get('op') == 'names' else 4\n"
     "def solve(x):\n    return 0\n"),
    ("__test__ = False exported through __all__", "__all__ = ['__test__', 'solve']\n__test__ = False\n"
                                                  "def solve(x):\n    return 0\n"),
    ("pytest_plugins and pytestmark defined by the solution", "import pytest\npytest_plugins = ['_pytest.skipping']\n"
     "pytestmark = pytest.mark.skip\ndef solve(x):\n    return 0\n"),
    ("infinite loop", "def solve(x):\n    while True:\n        pass\n"),
    ("reads the tests", "import glob, os\nFOUND = [p for p in glob.glob('/tmp/**/test_solution.py', recursive=True)]\n"
     "def solve(x):\n    return {2: 4, 1: 1, 3: 9, 5: 25, 6: 36}[x] if FOUND else 0\n"),
]


@pytest.mark.parametrize("name, solution", FORGERIES, ids=[f[0] for f in FORGERIES])
def test_forgery_fails(name: str, solution: str) -> None:
    limits = Limits(timeout_s=5, cpu_s=5, memory_mb=4096, files=32768, disk_mb=256)
    r = check(FORGERY_TESTS, solution, limits)
    assert r.status in ("failed", "timeout"), (name, r.status, r.reason)
    assert "3/3" not in r.reason


LOOP_TESTS = "def test_loop():\n    for got, want in zip(map(solve, [1, 2, 3]), [1, 4, 9]):\n        assert got == want\n"


@pytest.mark.parametrize("solution", [
    "def solve(x):\n    raise StopIteration\n",
    "import sys\nmain = sys.modules['__main__']\nreal = main._Ops.run\n"
    "main._Ops.run = lambda self, r: real(self, r) if r.get('op') == 'names' else main._NOPLAIN\n"
    "def solve(x):\n    return 0\n",
], ids=["raises StopIteration", "replies an iterator's end to a call"])
def test_a_call_cannot_end_the_tests_loop(solution: str) -> None:
    """A StopIteration out of solve() would end map() early and pass the loop without one assert."""
    r = check(LOOP_TESTS, solution)
    assert r.status == "failed", r.reason
    assert passed(check(LOOP_TESTS, "def solve(x):\n    return x * x\n"), 1)


def test_a_solution_cannot_shadow_the_builtins_the_tests_call() -> None:
    """Upstream star-imports the solution into the test module, so a solution defining `all` or `round` would
    answer the tests' own asserts; here builtins' names are never bound to the solution's objects."""
    tests = "def test_squares():\n    assert all(solve(x) == x * x for x in range(5)) and round(solve(2), 1) == 4\n"
    forged = "def solve(x):\n    return 0\ndef all(it):\n    return True\ndef round(x, n=0):\n    return 4\n"
    r = check(tests, forged)
    assert r.status == "failed" and r.reason.startswith("0/1 tests passed"), r.reason
    assert passed(check(tests, "def solve(x):\n    return x * x\n"), 1)


def test_an_honest_solution_passes_the_forgery_tests() -> None:
    r = check(FORGERY_TESTS, "def solve(x):\n    return x * x\n")
    assert passed(r, 3), r.reason


def test_the_solution_cannot_see_the_tests() -> None:
    """Even an answer table keyed on the tests does not help: the tests' files are out of the solution's sight."""
    tests = "def test_sight():\n    assert peek() == []\n"
    solution = ("import glob, os\ndef peek():\n    seen = glob.glob('/tmp/**/test_solution.py', recursive=True)\n"
                "    seen += [p for p in os.listdir('.') if p.startswith(('test_', 'conftest', 'pytest.ini'))]\n    return seen\n")
    r = check(tests, solution)
    assert passed(r, 1), (r.reason, r.stdout[-2000:])
