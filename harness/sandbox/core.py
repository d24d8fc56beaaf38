"""Run untrusted Python (generated HumanEval-zh code, CPIFOpen's dataset-supplied `check_response` verifiers) in
a separate, throw-away process per program, so that nothing it does reaches the harness, its results, other
files or the network.

Containment layers, each probed once by running small hostile programs (`isolation()`), used where they work:

  rlimits     RLIMIT_AS (memory -> MemoryError, status "memory"), RLIMIT_CPU (SIGXCPU, status "cpu"),
              RLIMIT_FSIZE, RLIMIT_CORE=0, RLIMIT_NOFILE=256, RLIMIT_NPROC (not enforced for uid 0, hence seccomp).
  session     the child leads a new session/process group; on timeout or exit the whole group gets SIGKILL.
  namespaces  `unshare --net --pid --ipc --uts --mount-proc --fork --kill-child` (plus --user --map-root-user when
              not root): no network interface but a downed loopback, a private pid space in which the harness and
              every other process are invisible (/proc shows only the sandbox), and when its init exits the
              kernel kills whatever is left.
  landlock    (kernel LSM, set up by boot.py) writes only beneath the work directory, reads only
              beneath the stdlib, system libraries, /proc and a few /etc and /dev files (not /root, /home, /tmp,
              the repository, the data or the results), no execve, no TCP bind/connect, no signals out.
  seccomp     (libseccomp, set up by boot.py) no new processes (threads allowed), no exec, no sockets,
              no chmod/chown/xattr, no ptrace/mount/bpf/io_uring/module/clock calls, signals and priority
              changes only to itself.
Always, on Linux: no_new_privs and every capability dropped; on every platform: a fresh mkdtemp() work dir
(removed afterwards, even on timeout) as cwd/HOME/TMPDIR, and an environment of six fixed variables, none
taken from os.environ (API keys and tokens stay in the harness).

A layer that does not work here is left out and `isolation()` says so (on macOS: rlimits and session only;
in a container that forbids unshare: no namespaces). Callers record `isolation()` next to their results, so a
score is never silently produced under weaker containment. Once probed, a layer is *required*: if the child
cannot apply it later, the program does not run and the result is "error".

Statuses: passed (exit 0), failed (non-zero exit, exception), timeout (wall clock), memory (MemoryError or
killed at the address-space limit), cpu (RLIMIT_CPU), killed (any other signal), error (could not start).
These say how a process ended, which code inside it controls (os._exit(0) "passes"): containment limits what
code can do to the harness, not what it reports about itself. Scores therefore never come from them directly
but from the verdict protocol (harness/sandbox/protocol.py), which runs the tests in a process of their own.
"""

from __future__ import annotations

import codecs
import logging
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from harness.contain import clean_text, remove_tree
from harness.sandbox import boot as _boot
log = logging.getLogger(__name__)

_BOOT = Path(_boot.__file__).resolve()
_PYTHON_FLAGS = ("-I", "-S", "-B", "-X", "utf8")  # isolated, no site-packages, no .pyc writes, UTF-8 I/O
_GRACE_S = 2.0  # after the process is gone, how long to wait for its pipes to close
_LAYERS = ("rlimits", "session", "namespaces", "landlock", "seccomp")


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0  # wall clock
    cpu_s: int = 10  # RLIMIT_CPU
    memory_mb: int = 1024  # RLIMIT_AS (address space)
    file_size_mb: int = 16  # RLIMIT_FSIZE
    max_output_bytes: int = 65536  # stdout/stderr each, truncated beyond this (read without deadlocking)


@dataclass(frozen=True)
class SandboxResult:
    status: str  # passed | failed | timeout | memory | cpu | killed | error
    returncode: int | None  # the program's exit code, or -signal; None when it never started
    stdout: str
    stderr: str
    seconds: float

    @property
    def passed(self) -> bool:
        return self.status == "passed"


# ------------------------------------------------------------------------------------------------ configuration
@dataclass(frozen=True)
class _Setup:
    """How a program is started: the namespace wrapper (or none) and the layers boot must apply."""

    wrapper: tuple[str, ...] = ()
    require: frozenset[str] = frozenset()


_probe_lock = threading.Lock()
_probed: tuple[dict[str, bool], _Setup] | None = None


def _wrapper_candidates() -> list[tuple[str, ...]]:
    """unshare invocations to try, strongest first. As root no user namespace is needed (nor wanted: it would
    give the child a fresh set of capabilities over its namespaces)."""
    unshare = shutil.which("unshare", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if not unshare or not sys.platform.startswith("linux"):
        return []
    user = () if os.geteuid() == 0 else ("--user", "--map-root-user")
    base = (unshare, *user, "--net", "--pid", "--fork", "--kill-child")
    return [(*base, "--ipc", "--uts", "--mount-proc"), (*base, "--mount-proc"), base]


_PROBE_RLIMITS = """
import resource
want = {want!r}
got = [resource.getrlimit(getattr(resource, n)) for n, _ in want]
assert got == [tuple(v) for _, v in want], got
print("ok")
"""
_PROBE_SESSION = """
import os
assert os.getsid(0) == os.getpid() == os.getpgid(0)
print("ok")
"""
_PROBE_NAMESPACES = """
import os
assert os.getpid() == 2, os.getpid()  # the worker under boot's init, in a fresh pid namespace
with open("/proc/self/net/dev") as f:
    ifaces = {line.split(":")[0].strip() for line in f.readlines()[2:]}
assert ifaces <= {"lo"}, ifaces
print("ok")
"""
_PROBE_LANDLOCK = """
import os
try:
    open({outside!r}, "w").write("escaped")
except PermissionError:
    pass
else:
    raise SystemExit("wrote outside the work directory")
try:
    open({secret!r}).read()
except PermissionError:
    pass
else:
    raise SystemExit("read outside the allowed roots")
open("inside.txt", "w").write("fine")
import json, re, hashlib
print("ok")
"""
_PROBE_SECCOMP = """
import os, socket, threading
for attempt in (os.fork, lambda: socket.socket(socket.AF_INET), lambda: os.execv("/bin/true", ["true"])):
    try:
        attempt()
    except PermissionError:
        continue
    raise SystemExit(f"not blocked: {attempt}")
t = threading.Thread(target=lambda: None)
t.start()
t.join()
print("ok")
"""


def _probe_ok(result: SandboxResult) -> bool:
    return result.status == "passed" and result.stdout.strip() == "ok"


def _probe() -> tuple[dict[str, bool], _Setup]:
    """Run one small program per layer, each under that layer alone, and keep the layers whose effect shows."""
    limits = Limits(timeout_s=20.0, cpu_s=10, memory_mb=512)
    bare = _Setup()
    found = dict.fromkeys(_LAYERS, False)

    want = [(name, value) for name, value in _rlimit_values(limits) if name != "RLIMIT_NPROC"]  # NPROC: moving
    found["rlimits"] = _probe_ok(_execute(_PROBE_RLIMITS.format(want=want), limits, None, bare))
    found["session"] = _probe_ok(_execute(_PROBE_SESSION, limits, None, bare))

    wrapper: tuple[str, ...] = ()
    for candidate in _wrapper_candidates():
        if _probe_ok(_execute(_PROBE_NAMESPACES, limits, None, _Setup(wrapper=candidate))):
            wrapper = candidate
            break
    found["namespaces"] = bool(wrapper)

    if sys.platform.startswith("linux"):
        scratch = Path(tempfile.mkdtemp(prefix="harness-sandbox-probe-"))
        try:
            secret = scratch / "secret.txt"
            secret.write_text("probe")
            program = _PROBE_LANDLOCK.format(outside=str(scratch / "escaped.txt"), secret=str(secret))
            found["landlock"] = (_probe_ok(_execute(program, limits, None, _Setup(require=frozenset({"landlock"}))))
                                 and not (scratch / "escaped.txt").exists())
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        found["seccomp"] = _probe_ok(_execute(_PROBE_SECCOMP, limits, None, _Setup(require=frozenset({"seccomp"}))))

    missing = [name for name, ok in found.items() if not ok]
    if missing:
        log.warning("sandbox: containment layers unavailable on this machine: %s", ", ".join(missing))
    require = frozenset(name for name in ("landlock", "seccomp") if found[name])
    return found, _Setup(wrapper=wrapper, require=require)


def _setup() -> tuple[dict[str, bool], _Setup]:
    global _probed
    with _probe_lock:
        if _probed is None:
            _probed = _probe()
        return _probed


def isolation() -> dict[str, bool]:
    """Which containment layers work on this machine (probed once, cached): 'rlimits', 'session', 'namespaces'
    (net+pid via unshare), 'landlock', 'seccomp'. Record it with the results: it says how contained they were."""
    return dict(_setup()[0])


# ------------------------------------------------------------------------------------------------ running
def _rlimit_values(limits: Limits) -> list[tuple[str, tuple[int, int]]]:
    """(name, (soft, hard)). CPU's hard limit is one second above the soft one, so the soft limit's SIGXCPU
    (status "cpu") comes first and SIGKILL only if the program ignores it."""
    mb = 1024 * 1024
    values = [
        ("RLIMIT_AS", (limits.memory_mb * mb, limits.memory_mb * mb)),
        ("RLIMIT_CPU", (limits.cpu_s, limits.cpu_s + 1)),
        ("RLIMIT_FSIZE", (limits.file_size_mb * mb, limits.file_size_mb * mb)),
        ("RLIMIT_CORE", (0, 0)),
        ("RLIMIT_NOFILE", (256, 256)),
        ("RLIMIT_NPROC", (_nproc_limit(), _nproc_limit())),
    ]
    return [(name, value) for name, value in values if hasattr(resource, name)]


def _nproc_limit() -> int:
    """64 more tasks than exist now. RLIMIT_NPROC counts every task of the real uid machine-wide, so a flat 64
    would stop a non-root harness on a busy machine from starting the child at all (root is exempt anyway)."""
    try:
        with open("/proc/loadavg") as f:
            total = int(f.read().split()[3].split("/")[1])  # scheduling entities on the whole machine
    except (OSError, ValueError, IndexError):
        total = 0
    return (0 if os.geteuid() == 0 else total) + 64


def _preexec(rlimits: list[tuple[int, tuple[int, int]]]):
    """Runs in the forked child before exec: only setrlimit calls, prepared beforehand. A limit the platform
    refuses is skipped here; the probe notices and reports 'rlimits' as unavailable."""

    def apply() -> None:
        for res, value in rlimits:
            try:
                resource.setrlimit(res, value)
            except (ValueError, OSError):
                pass

    return apply


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return None


def _exited(pid: int) -> bool:
    """Has the child exited? Without reaping it, so its process group id cannot be reused before killpg."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _communicate(proc: subprocess.Popen, stdin: bytes | None, deadline: float, cap: int) -> tuple[bytes, bytes, bool]:
    """Feed stdin, read stdout/stderr (keeping the first `cap` bytes of each, draining the rest) and watch the
    clock in one select loop, so neither a chatty nor a silent program can block the harness. On exit or at the
    deadline the whole process group is killed before the child is reaped."""
    sel = selectors.DefaultSelector()
    out = {proc.stdout.fileno(): bytearray(), proc.stderr.fileno(): bytearray()}  # type: ignore[union-attr]
    for fd in out:
        sel.register(fd, selectors.EVENT_READ, "out")
    pending = memoryview(stdin or b"")
    if proc.stdin is not None:
        os.set_blocking(proc.stdin.fileno(), False)
        sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE, "in")
    pidfd = _pidfd(proc.pid)
    if pidfd is not None:
        sel.register(pidfd, selectors.EVENT_READ, "pid")
    exited = timed_out = False
    grace_end = float("inf")
    try:
        while True:
            now = time.monotonic()
            if not exited and (pidfd is None and _exited(proc.pid)):
                exited = True
            if exited and grace_end == float("inf"):
                _kill_group(proc.pid)  # whatever it left behind in its group
                grace_end = now + _GRACE_S
            if exited and not any(k.data in ("out", "in") for k in sel.get_map().values()):
                break
            if not exited and not timed_out and now >= deadline:
                timed_out = True
                _kill_group(proc.pid)
            if now >= grace_end:
                break
            wait = (grace_end if exited else deadline if not timed_out else now + 0.1) - now
            if pidfd is None and not exited:
                wait = min(wait, 0.02)
            for key, _ in sel.select(max(0.0, wait)):
                fd = key.fd
                if key.data == "pid":
                    exited = True
                    sel.unregister(fd)
                elif key.data == "in":
                    try:
                        pending = pending[os.write(fd, pending[:65536]):]
                    except BlockingIOError:
                        pass
                    except OSError:  # the program closed stdin or died
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(fd)
                        proc.stdin.close()  # type: ignore[union-attr]
                else:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        sel.unregister(fd)
                    elif len(out[fd]) < cap:
                        out[fd] += chunk[: cap - len(out[fd])]
    finally:
        sel.close()
        if pidfd is not None:
            os.close(pidfd)
        _kill_group(proc.pid)  # safe: the leader is not reaped yet, so its group id cannot have been reused
    return bytes(out[proc.stdout.fileno()]), bytes(out[proc.stderr.fileno()]), timed_out  # type: ignore[union-attr]


def _read_status(fd: int) -> tuple[str, int, float] | None:
    """The worker's status as boot's namespace init reported it: ("exit", code, cpu_s) or ("signal", n, cpu_s)."""
    try:
        os.set_blocking(fd, False)
        kind, value, cpu = os.read(fd, 256).decode().split()
        return kind, int(value), float(cpu)
    except (OSError, ValueError):
        return None


def _decode(raw: bytes, cap: int) -> str:
    """UTF-8 text; a character cut in half by the truncation is dropped rather than shown as U+FFFD."""
    return codecs.getincrementaldecoder("utf-8")("replace").decode(raw, final=len(raw) < cap)


_MEMORY_HINTS = ("MemoryError", "Cannot allocate memory", "out of memory")


def _classify(kind: str, value: int, cpu: float, stderr: str, limits: Limits) -> str:
    if kind == "exit":
        if value == 0:
            return "passed"
        if value == _boot.LAYER_EXIT and _boot.LAYER_MARK in stderr:
            return "error"
        if value == _boot.MEMORY_EXIT and _boot.MEMORY_MARK in stderr:
            return "memory"
        return "failed"
    if value == signal.SIGXCPU or (value == signal.SIGKILL and cpu >= limits.cpu_s):
        return "cpu"
    if value in (signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS) and any(
            h in stderr for h in _MEMORY_HINTS):
        return "memory"
    return "killed"


class ProcessHandle:
    """Lets another thread end a program that `run_python` is running (the other side of a linked pair, see
    harness/sandbox/protocol.py). Acts only while the program is not yet reaped, so a reused pid is never hit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._reaped = False
        self._stop = False

    def _attach(self, pid: int) -> None:
        with self._lock:
            self._pid = pid
            if self._stop:
                _kill_group(pid)

    def _detach(self) -> None:
        with self._lock:
            self._reaped = True

    def stop(self) -> bool:
        """Kill the program (its whole process tree) unless it has ended; True when it had ended on its own (or
        never started), False when this call ended it or it had not started yet (it then never runs)."""
        with self._lock:
            self._stop = True
            if self._reaped:
                return True
            if self._pid is None:
                return False
            if _exited(self._pid):
                return True
            _kill_group(self._pid)
            return False


def _execute(program: str, limits: Limits, stdin: str | None, setup: _Setup, fds: dict[str, int] | None = None,
             handle: ProcessHandle | None = None) -> SandboxResult:
    """One program, one process (tree), one work directory. `fds` (name -> descriptor) are handed to the child
    (named in its HARNESS_FDS variable) and closed here once it has them, or when it could not start."""
    fds = dict(fds or {})
    try:
        return _execute_owned(program, limits, stdin, setup, fds, handle)
    finally:
        for fd in fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        if handle is not None:
            handle._detach()


def _execute_owned(program: str, limits: Limits, stdin: str | None, setup: _Setup, fds: dict[str, int],
                   handle: ProcessHandle | None) -> SandboxResult:
    start = time.monotonic()
    try:
        workdir = tempfile.mkdtemp(prefix="harness-sandbox-")
    except OSError as e:
        return SandboxResult("error", None, "", f"sandbox: no work directory: {e}", time.monotonic() - start)
    status_r = status_w = None
    try:
        main = os.path.join(workdir, "main.py")
        try:
            with open(main, "w", encoding="utf-8") as f:
                f.write(clean_text(program))  # a lone surrogate would raise here (surrogateescape covers few)
        except OSError as e:
            return SandboxResult("error", None, "", f"sandbox: could not write the program: {e}",
                                 time.monotonic() - start)
        env = {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
               "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1"}
        if fds:
            env["HARNESS_FDS"] = ",".join(f"{name}={fd}" for name, fd in fds.items())
        cmd = [*setup.wrapper, sys.executable, *_PYTHON_FLAGS, str(_BOOT)]
        if setup.require:
            cmd.append("--require=" + ",".join(sorted(setup.require)))
        pass_fds: tuple[int, ...] = tuple(fds.values())
        if setup.wrapper:
            status_r, status_w = os.pipe()
            cmd.append(f"--status-fd={status_w}")
            pass_fds += (status_w,)
        cmd.append(main)
        rlimits = [(getattr(resource, name), value) for name, value in _rlimit_values(limits)]
        try:
            proc = subprocess.Popen(
                cmd, cwd=workdir, env=env, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, pass_fds=pass_fds,
                preexec_fn=_preexec(rlimits), bufsize=0)
        except (OSError, subprocess.SubprocessError) as e:
            return SandboxResult("error", None, "", f"sandbox: could not start: {e}", time.monotonic() - start)
        if status_w is not None:
            os.close(status_w)
            status_w = None
        for name in list(fds):  # the child has its copies: ours would hide the end of a pipe from the other side
            os.close(fds.pop(name))
        if handle is not None:
            handle._attach(proc.pid)
        with proc:
            deadline = start + limits.timeout_s
            raw_out, raw_err, timed_out = _communicate(
                proc, clean_text(stdin).encode("utf-8") if stdin is not None else None, deadline,
                limits.max_output_bytes)
            if handle is not None:
                handle._detach()
            _, wstatus, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(wstatus)
        seconds = time.monotonic() - start
        stdout, stderr = (_decode(raw, limits.max_output_bytes) for raw in (raw_out, raw_err))
        reported = _read_status(status_r) if status_r is not None else None
        if reported is not None:
            kind, value, cpu = reported
        else:
            rc = proc.returncode
            kind, value = ("signal", -rc) if rc < 0 else ("exit", rc)
            cpu = usage.ru_utime + usage.ru_stime
        returncode = value if kind == "exit" else -value
        status = "timeout" if timed_out else _classify(kind, value, cpu, stderr, limits)
        return SandboxResult(status, returncode, stdout, stderr, seconds)
    finally:
        for fd in (status_r, status_w):
            if fd is not None:
                os.close(fd)
        remove_tree(workdir)  # any depth (a 2,500-deep tree made rmtree recurse out), locked folders, never raises


def run_python(program: str, limits: Limits = Limits(), stdin: str | None = None, *, fds: dict[str, int] | None = None,
               handle: ProcessHandle | None = None) -> SandboxResult:
    """Run `program` as __main__ in a fresh sandboxed process under every layer that works here. Its status
    reports how the process ended (passed: exit 0), not whether an answer is right: scores come from the verdict
    protocol of harness/sandbox/protocol.py. `fds` are handed over (see _execute); `handle` lets another thread stop it."""
    return _execute(program, limits, stdin, _setup()[1], fds, handle)


def run_batch(programs: Sequence[str], limits: Limits = Limits(), stdin: Sequence[str | None] | None = None,
              workers: int | None = None) -> list[SandboxResult]:
    """run_python over many programs on a small thread pool (each program is its own process), in input order."""
    if stdin is not None and len(stdin) != len(programs):
        raise ValueError(f"run_batch: {len(programs)} programs but {len(stdin)} stdin values")
    inputs = list(stdin) if stdin is not None else [None] * len(programs)
    _setup()  # probe once, before the threads start
    n = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=max(1, n), thread_name_prefix="sandbox") as pool:
        return list(pool.map(lambda args: run_python(args[0], limits, args[1]), zip(programs, inputs)))
