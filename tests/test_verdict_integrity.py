"""A pass can only come from the tests passing (issue 14, item 1): a hostile corpus of completions that forge a
HumanEval-zh pass, each run through the verdict protocol (harness/sandbox/protocol.py) and recorded with its exact status.

Every entry below fooled the old protocol, where the completion ran in the same interpreter as the tests and exit
status 0 counted as a pass: `test_each_forgery_fooled_the_exit_status_protocol` runs each one that way, in the
same sandbox, and sees "passed". Through the verdict protocol each one fails. The canonical solutions still pass
164/164, and an end-to-end run through the fake OpenAI server whose every answer is a forgery scores pass@1 = 0.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from needs import require
from test_openai_backend import FakeServer

from harness.cli import main
from harness.sandbox.core import Limits, isolation, run_python
from harness.sandbox.execution import render_checks
from harness.sandbox.protocol import Check, run_check, run_checks
from harness.tasks.task import Task, discover_tasks

pytestmark = pytest.mark.slow

LIMITS = Limits(timeout_s=10, cpu_s=5, memory_mb=1024)
GONE_1 = "the solution's process ended before answering call 1"

# (name, problem, chat answer's code with ENTRY for the entry point, status, reason: a regex it must match)
# Problems: Python/0 has_close_elements (bool), Python/4 mean_absolute_deviation (tests use abs()),
# Python/32 find_zero (tests use math.fabs on the dataset's own poly()).
CORPUS: list[tuple[str, str, str, str, str]] = [
    ("sys.exit(0) at import", "Python/0", """
import sys
sys.exit(0)
def ENTRY(*args):
    return None
""", "failed", re.escape(GONE_1)),
    ("os._exit(0) at import", "Python/0", """
import os
os._exit(0)
def ENTRY(*args):
    return None
""", "failed", re.escape(GONE_1)),
    ("sys.exit(0) in the function", "Python/0", """
import sys
def ENTRY(*args):
    sys.exit(0)
""", "failed", re.escape(GONE_1)),
    ("os._exit(0) in the function", "Python/0", """
import os
def ENTRY(*args):
    os._exit(0)
""", "failed", re.escape(GONE_1)),
    ("SystemExit raised inside the assert (by __eq__)", "Python/0", """
class Verdict:
    def __eq__(self, other):
        raise SystemExit(0)
    __ne__ = __eq__
def ENTRY(*args):
    return Verdict()
""", "failed", r"^TypeError at tests\.py:\d+: .*\(\(raised by the solution\) not plain data: __main__\.Verdict\)$"),
    ("atexit handler", "Python/0", """
import atexit, os
atexit.register(lambda: os._exit(0))
def ENTRY(*args):
    return True
""", "failed", r"^AssertionError at tests\.py:\d+: assert has_close_elements\(.*\) == False$"),
    ("sys.settrace", "Python/0", """
import os, sys
def _tracer(frame, event, arg):
    if event == "exception" and issubclass(arg[0], AssertionError):
        os._exit(0)
    return _tracer
sys.settrace(_tracer)
def ENTRY(*args):
    return None
""", "failed", r"^AssertionError at tests\.py:\d+: assert has_close_elements\(.*\) == True$"),
    ("patched builtin abs()", "Python/4", """
import builtins
builtins.abs = lambda x: 0.0
def ENTRY(numbers):
    return 0.0
""", "failed", r"^AssertionError at tests\.py:\d+: assert abs\(mean_absolute_deviation\(\[1\.0, 2\.0, 3\.0\]\) - 2\.0/3\.0\) < 1e-6$"),
    ("patched assertion helper math.fabs()", "Python/32", """
import math
math.fabs = lambda x: 0.0
def ENTRY(xs):
    return 0.0
""", "failed", r"^AssertionError at tests\.py:\d+: assert math\.fabs\(poly\(coeffs, solution\)\) < 1e-4$"),
    ("redefined check()", "Python/0", """
_globals = globals()
def _no_check(candidate):
    pass
class _Collider:  # a key with check's hash: every lookup of "check" asks it, and it puts its own check() there
    busy = False
    def __hash__(self):
        return hash("check")
    def __eq__(self, other):
        if not _Collider.busy and other == "check":
            _Collider.busy = True
            try:
                if _globals.get("check") is not _no_check:
                    _globals["check"] = _no_check
            finally:
                _Collider.busy = False
        return False
_globals[_Collider()] = None
def ENTRY(*args):
    return None
""", "failed", r"^AssertionError at tests\.py:\d+: assert has_close_elements\(.*\) == True$"),
    ("an object whose __eq__ is always True", "Python/0", """
class Anything:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    def __bool__(self):
        return True
def ENTRY(*args):
    return Anything()
""", "failed", r"^TypeError at tests\.py:\d+: .*\(\(raised by the solution\) not plain data: __main__\.Anything\)$"),
    ("an int subclass whose __eq__ is always True", "Python/0", """
class Yes(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__
def ENTRY(*args):
    return Yes(1)
""", "failed", r"^TypeError at tests\.py:\d+: .*\(\(raised by the solution\) not plain data: __main__\.Yes\)$"),
    ("a thread that ends the process", "Python/0", """
import os, threading, time
def _end():
    time.sleep(0.05)
    os._exit(0)
threading.Thread(target=_end, daemon=True).start()
def ENTRY(*args):
    time.sleep(1)
    return None
""", "failed", re.escape(GONE_1)),
    ("reading the tests and special-casing them", "Python/0", """
import ast, glob, re, sys
def _sources():
    texts = []
    for path in [sys.argv[0], "main.py", *glob.glob("/tmp/harness-sandbox-*/main.py"), *glob.glob("../*/main.py")]:
        try:
            texts.append(open(path, encoding="utf-8").read())
        except OSError:
            pass
    frame = sys._getframe(2)
    while frame is not None:  # the caller's code: check() in the old protocol
        texts.append(repr(frame.f_code.co_consts))
        frame = frame.f_back
    return "\\n".join(texts)
def ENTRY(*args):
    for m in re.finditer(r"assert \\w+\\((.*)\\) == (\\w+)", _sources()):
        try:
            if ast.literal_eval("(" + m.group(1) + ",)") == args:
                return ast.literal_eval(m.group(2))
        except Exception:
            pass
    return None
""", "failed", r"^AssertionError at tests\.py:\d+: assert has_close_elements\(.*\) == True$"),
    ("a forged verdict written to every descriptor", "Python/0", """
import os
_line = b'{"nonce": "0", "verdict": "passed", "calls": 7, "reason": "tests passed", "id": 1, "value": true}\\n'
print(_line.decode(), end="")
for fd in range(1, 256):
    try:
        os.write(fd, _line)
    except OSError:
        pass
os._exit(0)
def ENTRY(*args):
    return True
""", "failed", r"^call 1: the reply is not plain data \(unexpected fields\)$"),
]


@pytest.fixture(scope="module")
def humaneval(data_dir: Path) -> tuple[Task, dict]:
    task = Task.load(discover_tasks()["humaneval_zh"])
    return task, {s.sample_id: s for s in task.samples(data_dir)}


def _entry(sample) -> str:
    return re.search(r"check\((\w+)\)\s*$", sample.raw["test"]).group(1)


def _answer(code: str, entry: str) -> str:
    return f"好的：\n```python\n{code.strip().replace('ENTRY', entry)}\n```\n"


def _corpus_checks(task: Task, samples: dict) -> list[Check]:
    return [render_checks(task, samples[pid], [_answer(code, _entry(samples[pid]))])[0] for _, pid, code, _, _ in CORPUS]


def test_each_forgery_fooled_the_exit_status_protocol(humaneval: tuple[Task, dict]) -> None:
    """The corpus is real: run as before (the completion, then the tests, one process, exit 0 = pass), each passes."""
    task, samples = humaneval
    fooled = []
    for (name, pid, _code, _, _), check in zip(CORPUS, _corpus_checks(task, samples)):
        assert check.solution is not None and check.entry == _entry(samples[pid])
        old_program = f"{check.solution}\n\n\n{samples[pid].raw['test']}"
        fooled.append((name, run_python(old_program, LIMITS).status))
    assert fooled == [(name, "passed") for name, *_ in CORPUS]


def test_every_forgery_fails_with_its_exact_status(humaneval: tuple[Task, dict]) -> None:
    task, samples = humaneval
    results = run_checks(_corpus_checks(task, samples), LIMITS)
    got = [(name, r.status) for (name, *_), r in zip(CORPUS, results)]
    assert got == [(name, status) for name, _, _, status, _ in CORPUS]
    for (name, _, _, _, reason), r in zip(CORPUS, results):
        assert re.search(reason, r.reason), (name, r.reason)


def test_the_tests_process_cannot_be_reached_by_the_solution(humaneval: tuple[Task, dict]) -> None:
    """The solution sees neither the tests' files nor their process: reading the other sandbox's work directory
    and signalling anything outside its own process fail, and the tests' verdict stands."""
    task, samples = humaneval
    sample = samples["Python/0"]
    probe = """
import glob, os, signal
seen = glob.glob("/tmp/harness-sandbox-*") + glob.glob("../harness-sandbox-*")
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
killed = []
for pid in pids + [0, -1]:
    if pid == os.getpid():
        continue
    try:
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
    except OSError:
        pass
def ENTRY(numbers, threshold):
    return [seen, pids, killed] == [[], [1, 2], []] and any(
        abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])
"""
    (check,) = render_checks(task, sample, [_answer(probe, "has_close_elements")])
    r = run_check(check, LIMITS)
    layers = isolation()
    require(all(layers.values()), f"a containment layer is missing here: {layers}")  # CI fails rather than skips
    assert (r.status, r.reason) == ("passed", "tests passed (7 calls)")  # its view of the machine was empty


# ---- the protocol itself, on hand-written checks --------------------------------------------------------------
FAST = Limits(timeout_s=5, cpu_s=3, memory_mb=512)
DOUBLE = "def double(x):\n    return 2 * x\n"


@pytest.mark.parametrize("solution, status, reason", [
    (DOUBLE, "passed", r"^tests passed \(3 calls\)$"),
    ("def double(x):\n    raise StopIteration\n", "failed",  # never a StopIteration that ends the tests' loop
     r"^SolutionError at tests\.py:2: for r in map\(double, \[1, 2, 3\]\): \(StopIteration:\s*\)$"),
    ("def double(x):\n    raise ValueError('no')\n", "failed", r"^ValueError at tests\.py:2: .*\(raised by the solution\) no"),
    ("def double(x):\n    return 'x' * (17 << 20)\n", "failed", r"^call 1: reply longer than 16777216 bytes$"),
    ("def double(x):\n    v = []\n    for _ in range(10000):\n        v = [v]\n    return v\n", "failed",
     r"\(raised by the solution\) (value nested too deeply|returned value nested too deeply)"),
    ("def triple(x):\n    return 3 * x\n", "failed", r"NameError.*the solution defines no function 'double'"),
    ("import os\nos.write(int(os.environ['HARNESS_FDS'].split('replies=')[1].split(',')[0]), b'{\"id\": 1, \"value\": [' * 5000 + b'\\n')\n"
     + DOUBLE, "failed", r"^call 1: the reply is not plain data"),
    ("import os\nos.write(int(os.environ['HARNESS_FDS'].split('replies=')[1].split(',')[0]), "
     "b'{\"id\": 1, \"value\": {\"t\": \"set\", \"v\": [[1]]}}\\n')\n" + DOUBLE, "failed",
     r"^call 1: the reply is not plain data \(unhashable type: 'list'\)$"),
    ("import time\ntime.sleep(60)\n" + DOUBLE, "timeout", r"^time limit of 5 s$"),  # the tests' clock decides
    ("x = bytearray(2 << 30)\n" + DOUBLE, "memory", r"^the solution's process: memory limit of 512 MiB"),
    ("while True:\n    pass\n", "cpu", r"^the solution's process: CPU limit of 1 s"),
])
def test_protocol_on_hand_written_solutions(solution: str, status: str, reason: str) -> None:
    tests = "out = []\nfor r in map(double, [1, 2, 3]):\n    out.append(r)\nassert out == [2, 4, 6], out\n"
    limits = Limits(timeout_s=30, cpu_s=1, memory_mb=512) if status == "cpu" else FAST  # a busy machine: CPU < wall
    r = run_check(Check(tests, solution=solution, entry="double"), limits)
    assert r.status == status, r
    assert re.search(reason, r.reason), r.reason


@pytest.mark.parametrize("tests, status, reason", [
    ("assert double(2) == 4\n", "passed", r"^tests passed \(1 calls\)$"),
    ("assert double((1, 2)) == (1, 2, 1, 2)\nassert double({1: 2}) is None\n", "failed", r"TypeError"),
    ("assert 1 == 1\n", "failed", r"^the tests never called double$"),  # a test that never calls the solution
    ("double(1)\nraise SystemExit(0)\n", "failed", r"^SystemExit at tests\.py:2"),  # exit 0 is no pass
    ("double(1)\nimport os\nos._exit(0)\n", "failed", r"^no verdict from the tests' process \(exit status 0\)$"),
    ("double(1)\ntry:\n    double(object())\nexcept BaseException:\n    pass\n", "failed",
     r"^call 2: the tests' arguments are not plain data .*\(caught by the tests\)$"),
])
def test_protocol_on_hand_written_tests(tests: str, status: str, reason: str) -> None:
    r = run_check(Check(tests, solution=DOUBLE, entry="double"), FAST)
    assert (r.status, bool(re.search(reason, r.reason))) == (status, True), r


def test_plain_data_crosses_intact() -> None:
    values = "[None, True, 0, -1, 2**200, 1.5, -0.0, float('inf'), 'é\\ud800', b'\\x00\\xff', 1+2j, [1, [2]], (1, (2,)), " \
             "{1: 'a', (1, 2): frozenset({3})}, {1, 2}, frozenset(), {}, (), []]"
    tests = f"""
import math
values = {values}
back = echo(values)
assert back == values and [type(v) for v in back] == [type(v) for v in values], back
assert math.isnan(echo(float('nan')))
from collections import Counter, OrderedDict, namedtuple
assert echo('counter') == {{'a': 2}} and type(echo('counter')) is dict
assert echo('point') == (1, 2) and type(echo('point')) is tuple
"""
    solution = """
from collections import Counter, namedtuple
def echo(v):
    if v == 'counter':
        return Counter('aa')
    if v == 'point':
        return namedtuple('P', 'x y')(1, 2)
    return v
"""
    r = run_check(Check(tests, solution=solution, entry="echo"), FAST)
    assert (r.status, r.reason) == ("passed", "tests passed (6 calls)"), r


def test_a_verdict_needs_the_nonce() -> None:
    """A program alone (CPIFOpen's verifier): a verdict line without the harness's nonce counts for nothing."""
    forged = """
import json, os
fd = int(os.environ["HARNESS_FDS"].split("verdict=")[1].split(",")[0])
os.write(fd, json.dumps({"nonce": "guess", "verdict": "passed", "calls": 1, "reason": "ok"}).encode() + b"\\n")
os._exit(0)
"""
    r = run_check(Check(forged), FAST)
    assert (r.status, r.reason) == ("failed", "no verdict from the tests' process (exit status 0)")
    assert run_check(Check("import sys\nassert sys.stdin.read() == 'text'\n", stdin="text"), FAST).passed


# ---- the canonical solutions, and a whole run of forgeries ----------------------------------------------------
def test_canonical_solutions_pass_all_164(humaneval: tuple[Task, dict]) -> None:
    task, samples = humaneval
    assert len(samples) == 164
    checks = [render_checks(task, s, [s.raw["canonical_solution"]])[0] for s in samples.values()]
    assert all(c.solution is not None and c.entry for c in checks)
    results = run_checks(checks, Limits(timeout_s=20, cpu_s=10, memory_mb=1024))  # the cores at once
    failed = [(sid, r.status, r.reason) for sid, r in zip(samples, results) if not r.passed]
    assert failed == []  # Python/142 passes only thanks to the task's documented repair of its prompt
    assert all(re.fullmatch(r"tests passed \(\d+ calls\)", r.reason) for r in results)


def test_forgeries_score_zero_end_to_end(data_dir: Path, tmp_path: Path) -> None:
    """A model that answers every HumanEval-zh problem with a forgery, served over HTTP: pass@1 = 0."""
    server = FakeServer()
    served: list[str] = []
    lock = threading.Lock()

    def reply(body: dict) -> dict:
        prompt = body["messages"][-1]["content"]
        entry = re.findall(r"^def (\w+)\(", prompt, re.M)[-1]
        with lock:
            name, _, code, _, _ = CORPUS[len(served) % len(CORPUS)]
            served.append(name)
        return {"text": _answer(code, entry), "finish_reason": "stop", "stop_reason": None}

    server.reply = reply
    try:
        out = tmp_path / "out"
        assert main(["eval", "--backend", "openai", "--base-url", server.url, "--model", "tiny", "--tasks", "humaneval_zh",
                     "--limit", "10", "--samples", "2", "--temperature", "0.8", "--data-dir", str(data_dir),
                     "--output-dir", str(out), "--no-progress", "--no-cache"]) == 0
    finally:
        server.close()
    assert set(served) == {name for name, *_ in CORPUS}  # every forgery was tried
    (path,) = out.rglob("*.json")
    results = json.loads(path.read_text(encoding="utf-8"))
    t = results["tasks"]["humaneval_zh"]
    assert t["metrics"]["pass@1"] == 0.0 and t["score"] == 0.0
    lines = [json.loads(x) for x in (path.parent / results["samples_file"]).read_text(encoding="utf-8").splitlines()]
    runs = [e for s in lines for e in s["execution"]]
    assert len(runs) == 20 and {e["status"] for e in runs} == {"failed"} and all(e["reason"] for e in runs)
    assert results["sandbox"]["protocol"] == "verdict/2" and results["sandbox"]["workers"] >= 1
