"""The verdict protocol: how a sandboxed check decides pass or fail so that the code under test cannot forge it.

A check is the task's tests (the *judge*: a HumanEval problem's test code, a CPIFOpen verifier) and, for code
tasks, the model's solution. They run in two separate sandboxed processes (harness/sandbox/core.py, every layer each):

    harness ──nonce──▶ tests process ──call (JSON line)──▶ solution process
            ◀─verdict─               ◀──reply (JSON line)──

* The tests process runs the dataset's test code with the entry point's name bound to a proxy; each call sends
  the arguments as plain data over a pipe, and the solution's process answers with the return value (or the name
  and message of the exception it raised) as plain data. Tagged JSON, decoded on the tests' side into plain types
  only (exact types: None, bool, int, float, str, bytes, complex, list, tuple, set, frozenset, dict), so no object
  of the solution's making reaches the tests: an object whose __eq__ is always True is not data and fails.
* The solution's process holds the model's code and nothing else: not the tests, not the verdict channel, not
  the nonce. What it does to its own interpreter (sys.exit, os._exit, atexit, settrace, patched builtins, a
  redefined check, threads) changes only what it replies, or ends it, and a call without a reply fails the tests.
* The verdict is a JSON line the tests process writes to a socket only it holds, with a nonce the harness sends it
  at start: {"nonce", "verdict", "calls", "reason"}. A check passes only when that line says "passed" with the
  right nonce and the tests process exited 0 — which its driver does only after the tests' code ran to its end
  without an exception (SystemExit included), called the solution at least once, and got well-formed replies.
  Exit statuses alone never make a pass.

A check without a solution (CPIFOpen: the model's text is data, on stdin) has the tests process only; the same
verdict rule applies, so a verifier must run to its end to pass (its template asserts the verifier's result).

Pytest mode (verdict/2; Check.tests == "pytest", NaturalCodeBench Python; harness/sandbox/driver_pytest.py): the
tests process runs the problem's pytest module with pytest.main (no conftest, no plugins from entry points, its
own ini file, the test file in its private work directory) after `from <solution> import *`, where every name the
solution defines is bound as a value, the tests' own import of a module or library object it names, or a handle
(a proxy whose calls, attributes, items, iteration, len, str, repr and context-manager use are requests to the
solution's process). The verdict says "passed" only when at least one test was collected, every collected test
passed (no failure, error, skip or xfail) and the link never broke: NaturalCodeBench's 100% rule. Besides plain
data, numpy arrays and scalars (np.save/np.load without pickle), torch tensors, pandas Series/DataFrame/Index,
datetime and Decimal values, paths, stdlib containers and lxml elements cross as values, rebuilt by the tests'
own code. Not carried: a test's callback into the solution (a function of the tests' making cannot be sent: the
test fails with TypeError), isinstance() against a class of the solution (its name is a handle, not a type),
mutation of an argument (arguments are copied), object identity of values (each reply is a new value), output
the solution writes to its file descriptors directly (os.write(1, ...): only sys.stdout/sys.stderr come back).
Both processes work in one shared folder (core.shared_folder: pytest's --basetemp and the cwd of both), the
harness's site-packages readable; the solution's stdin is 1000 lines "1" as upstream's; chmod is a no-op there.

Statuses: passed; failed (the tests failed, or the link to the solution broke, or no verdict); timeout (the wall
clock); memory / cpu / killed (a process hit a limit or died of a signal: the solution's when it ended before the
tests did, else the tests'); error (a process could not start under the required layers). `reason` says why.

Limits of the protocol: the tests decide, so a test that is vacuous for some answer is vacuous here too; a
solution sees the arguments of every call and may answer from a memorised table of test cases; values must be
plain data (a solution returning another type fails; Counter/OrderedDict/defaultdict and named tuples are sent as
dict and tuple); arguments are copied, so a test that checks how the solution mutated its argument cannot work
(no HumanEval-zh test does). Without Landlock and the pid namespace (see `isolation()`), the solution's process
could read the tests' work directory or reach the tests' process through /proc; the results record which layers
were in force.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import socket
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from harness.sandbox import driver as _driver
from harness.sandbox import driver_pytest as _driver_pytest
from harness.sandbox.core import Limits, ProcessHandle, SandboxResult, run_python

PROTOCOL = "verdict/2"  # recorded in the results' sandbox block; /2 added the pytest mode (handles, rich values)
_DRIVER = Path(_driver.__file__).read_text(encoding="utf-8")
_DRIVER_PYTEST = Path(_driver_pytest.__file__).read_text(encoding="utf-8")
_SOLUTION_STDIN = "1\n" * 1000  # NaturalCodeBench's solution module reads stdin from a file of 1000 lines "1"
_VERDICT_BYTES = 65536
T = TypeVar("T")


@dataclass(frozen=True)
class Check:
    """One sandboxed check: `program` is the tests (the judge); `solution`, when set, is the model's code, run in a
    process of its own, whose `entry` the tests call over a pipe."""

    program: str
    stdin: str | None = None
    solution: str | None = None
    entry: str | None = None
    # calls: the tests call `entry` with plain data; pytest: `program` is a pytest module run against the names the
    # solution defines (handles and rich values, harness/sandbox/driver_pytest.py), both processes in a shared folder
    tests: str = "calls"


@dataclass(frozen=True)
class CheckResult:
    status: str  # passed | failed | timeout | memory | cpu | killed | error
    reason: str  # why, in one line (the tests' verdict, or what ended a process)
    seconds: float
    stdout: str
    stderr: str
    calls: int = 0  # calls the tests made to the solution

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def tests_program(source: str, entry: str | None) -> str:
    return f"{_DRIVER}\n\n_tests_main({source!r}, {entry!r})\n"


def solution_program(source: str, entry: str) -> str:
    return f"{_DRIVER}\n\n_solution_main({source!r}, {entry!r})\n"


def pytest_programs(tests: str, solution: str, shared: str) -> tuple[str, str]:
    """The tests' and the solution's program of a pytest-mode check; both see the harness's site-packages."""
    sites = site_dirs()
    head = f"{_DRIVER}\n\n{_DRIVER_PYTEST}\n\n"
    # the source on a line of its own, so that a traceback's last driver line stays short
    return (f"{head}_SOURCE = {tests!r}\n_pytest_tests_main(_SOURCE, {shared!r}, {sites!r})\n",
            f"{head}_SOURCE = {solution!r}\n_pytest_solution_main(_SOURCE, {shared!r}, {sites!r})\n")


def site_dirs() -> list[str]:
    """The interpreter's site-packages (pytest, numpy, ...), read-only inside the sandbox."""
    import sysconfig

    paths = sysconfig.get_paths()
    return sorted({os.path.realpath(paths[k]) for k in ("purelib", "platlib") if os.path.isdir(paths[k])})


def _read_verdict(sock: socket.socket, nonce: str) -> dict | None:
    """The tests process's verdict line, if one carries the nonce (the process is gone: read to the end)."""
    sock.settimeout(1.0)
    data = b""
    try:
        while len(data) < _VERDICT_BYTES:
            chunk = sock.recv(_VERDICT_BYTES - len(data))
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    found = None
    for line in data.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("nonce") == nonce and record.get("verdict") in ("passed", "failed"):
            found = record
    return found


def _joined(solution: str, tests: str) -> str:
    if not solution:
        return tests
    if not tests:
        return f"[solution]\n{solution}"
    return f"[solution]\n{solution.rstrip()}\n[tests]\n{tests}"


_LIMIT_STATUSES = ("timeout", "memory", "cpu", "killed", "error")


def run_check(check: Check, limits: Limits = Limits()) -> CheckResult:
    """Run one check (one or two sandboxed processes) and decide it by the verdict protocol."""
    if check.tests == "pytest":
        if check.solution is None:
            return CheckResult("error", "a pytest check needs a solution", 0.0, "", "")
        from harness.sandbox.core import shared_folder

        with shared_folder(limits) as shared:
            return _run_pair(check, limits, shared)
    if check.solution is not None and not check.entry:
        return CheckResult("error", "no entry point to call in the solution", 0.0, "", "")
    return _run_pair(check, limits, None)


def _run_pair(check: Check, limits: Limits, shared: str | None) -> CheckResult:
    """The tests' process (and the solution's, when there is one), decided by the verdict."""
    nonce = secrets.token_hex(16)
    ours, theirs = socket.socketpair()
    try:
        ours.sendall(nonce.encode("ascii") + b"\n")
        fds = {"verdict": theirs.detach()}
        solved: list[SandboxResult] = []
        handle = ProcessHandle()
        worker = None
        extra: dict[str, Any] = {}  # pytest mode: the shared folder, and site-packages readable
        sol_stdin: str | None = None
        if shared is not None:
            tests_source, program = pytest_programs(check.program, check.solution or "", shared)
            extra, sol_stdin = {"shared_dir": shared, "read_roots": site_dirs()}, _SOLUTION_STDIN
        else:
            tests_source = tests_program(check.program, check.entry if check.solution is not None else None)
            program = solution_program(check.solution or "", check.entry or "")
        if check.solution is not None:
            calls_r, calls_w = os.pipe()
            replies_r, replies_w = os.pipe()
            fds.update(calls=calls_w, replies=replies_r)
            # a second more on the solution's clock: the tests' clock decides a timeout, whichever process hangs
            later = dataclasses.replace(limits, timeout_s=limits.timeout_s + 1.0)
            worker = threading.Thread(
                target=lambda: solved.append(run_python(program, later, sol_stdin, fds={"calls": calls_r,
                                                        "replies": replies_w}, handle=handle, **extra)),
                name="sandbox-solution", daemon=True)
            worker.start()
        solution_ended_first = False
        try:
            tests = run_python(tests_source, limits, check.stdin, fds=fds, **extra)
        finally:
            if worker is not None:
                solution_ended_first = handle.stop()
                worker.join()
        verdict = _read_verdict(ours, nonce)
    finally:
        ours.close()
    sol = solved[0] if solved else None
    calls = int(verdict.get("calls", 0)) if verdict and isinstance(verdict.get("calls"), int) else 0
    reason = str(verdict.get("reason", "")) if verdict else ""
    if verdict and verdict["verdict"] == "passed" and tests.status == "passed":
        status = "passed"
    elif tests.status == "timeout":
        status, reason = "timeout", f"time limit of {limits.timeout_s:g} s"
    elif sol is not None and solution_ended_first and sol.status in _LIMIT_STATUSES:
        status = sol.status
        reason = f"the solution's process: {_ended(sol, limits)}" + (f"; {reason}" if reason else "")
    elif tests.status in ("memory", "cpu", "killed", "error"):
        status, reason = tests.status, f"the tests' process: {_ended(tests, limits)}"
    else:
        status = "failed"
        if not verdict:
            reason = f"no verdict from the tests' process ({_ended(tests, limits)})"
        elif verdict["verdict"] == "passed":  # said passed, yet did not exit cleanly
            reason = f"the tests' process did not end cleanly ({_ended(tests, limits)})"
    if shared is not None and sol is not None and "ended before answering" in reason:
        last = (sol.stderr.strip().splitlines() or [""])[-1].strip()
        if last:  # why it ended (a module it could not import, an exception when its code ran)
            reason += f"; its last error line: {last[:300]}"
    stdout = _joined(sol.stdout if sol else "", tests.stdout)
    stderr = _joined(sol.stderr if sol else "", tests.stderr)
    seconds = max(tests.seconds, sol.seconds if sol else 0.0)
    return CheckResult(status, reason, seconds, stdout, stderr, calls)


def _ended(r: SandboxResult, limits: Limits) -> str:
    if r.status == "timeout":
        return f"time limit of {limits.timeout_s:g} s"
    if r.status == "memory":
        return f"memory limit of {limits.memory_mb} MiB"
    if r.status == "cpu":
        return f"CPU limit of {limits.cpu_s} s"
    if r.status == "error":
        return (r.stderr.strip().splitlines() or ["could not start"])[-1][:200]
    if r.returncode is not None and r.returncode < 0:
        return f"killed by signal {-r.returncode}"
    return f"exit status {r.returncode}"


class CheckPool:
    """Checks running at once, up to `workers` (each one or two sandboxed processes and a thread or two here)."""

    def __init__(self, workers: int | None = None) -> None:
        from harness.sandbox.core import check_allowed

        check_allowed()  # one line naming what is missing and --allow-weak-sandbox, before anything is queued
        self.workers = workers or default_workers()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="sandbox")

    def submit(self, check: Check, limits: Limits) -> Future[CheckResult]:
        return self._pool.submit(run_check, check, limits)

    def submit_call(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Another kind of check on the same workers (Java: harness/sandbox/java.py run_java_check)."""
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> CheckPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_checks(checks: list[Check], limits: Limits = Limits(), workers: int | None = None) -> list[CheckResult]:
    """Every check, `workers` at a time (default: the cores), results in input order."""
    from harness.sandbox.core import isolation

    isolation()  # probe once, before the threads start
    with CheckPool(workers) as pool:
        futures = [pool.submit(c, limits) for c in checks]
        return [f.result() for f in futures]
