"""Run untrusted Python (generated HumanEval-zh code, CPIFOpen's dataset-supplied `check_response` verifiers) in
a separate, throw-away process per program, so that nothing it does reaches the harness, its results, other
files or the network.

Containment layers, each probed once by running small hostile programs (`isolation()`), used where they work:

  rlimits     RLIMIT_AS (memory -> MemoryError, status "memory"), RLIMIT_CPU (SIGXCPU, status "cpu"),
              RLIMIT_FSIZE, RLIMIT_CORE=0, RLIMIT_NOFILE=256; RLIMIT_NPROC is set inside (see limits below).
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

Limits that hold (`limits()`; set up by boot.py in the namespaces, before the layers above):
  user    a root harness runs each program under a uid of its own (random, far above system and login ranges,
          never two at once), no groups, no capabilities; its init too. Folders only root may pass (/root, where
          pyenv/uv keep Python) are masked in the mount namespace with just the interpreter's directories bound
          back. A harness that is not root runs programs in a user namespace of their own.
  tasks   RLIMIT_NPROC = Limits.tasks, set inside: it counts tasks per uid and user namespace, which are the
          sandbox's alone, so raw clone(CLONE_THREAD) threads are capped too (seccomp already forbids processes).
  memory  RLIMIT_AS, plus seccomp denying what it does not count: SysV shm/msg, POSIX mqueues, memfd; /dev/shm
          is out of reach (Landlock, and a read-only mask). The work directory's tmpfs is memory too, bounded.
  disk    the work directory is a tmpfs of Limits.disk_mb and Limits.files over the mkdtemp() directory, in the
          sandbox's mount namespace only: writes stop with ENOSPC, and whatever is left (20,000 files, a
          2,500-deep tree) is freed with the namespace; /tmp, /var/tmp, /dev/shm, /run/lock are masked read-only.
Where one does not hold (no mount namespace: per-file RLIMIT_FSIZE only; no seccomp: shm allowed), limits()
says so, and untrusted code runs only after allow_weak_sandbox() (the CLI's --allow-weak-sandbox): refusal().
Root's rights are never an option: if the uid cannot be dropped here, nothing runs.

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
import contextlib
import dataclasses
import json
import logging
import os
import resource
import secrets
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
from typing import Iterator, Sequence

from harness.contain import clean_text, remove_tree
from harness.errors import HarnessError
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
    tasks: int = 64  # processes and threads (RLIMIT_NPROC under the sandbox's own uid or user namespace)
    disk_mb: int = 64  # the work directory's size (a tmpfs: memory, freed with the sandbox)
    files: int = 4096  # files and folders in the work directory
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
    tmpfs: bool = False  # a sized tmpfs as work directory, shared folders masked (needs the wrapper's mount namespace)
    drop_uid: bool = False  # run under a uid of its own, never root's (the harness runs as root)
    tasks: bool = False  # RLIMIT_NPROC set inside, where it counts the sandbox alone


_probe_lock = threading.Lock()
_probed: tuple[dict[str, bool], _Setup, dict[str, str]] | None = None
_allow_weak = False


class _Uids:
    """uids for sandboxes of a root harness, one per running program: unused on the machine (taken at random far
    above any system or login range) and never two at once here, so RLIMIT_NPROC counts one sandbox alone."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used: set[int] = set()

    def take(self) -> int:
        with self._lock:
            while True:
                uid = 0x40000000 + secrets.randbelow(0x3FFF0000)
                if uid not in self._used:
                    self._used.add(uid)
                    return uid

    def give(self, uid: int) -> None:
        with self._lock:
            self._used.discard(uid)


_uids = _Uids()


def _wrapper_candidates() -> list[tuple[str, ...]]:
    """unshare invocations to try, strongest first. As root no user namespace is needed (nor wanted: it would
    give the child a fresh set of capabilities over its namespaces)."""
    unshare = shutil.which("unshare", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if not unshare or not sys.platform.startswith("linux"):
        return []
    user = () if os.geteuid() == 0 else ("--user", "--map-root-user")
    base = (unshare, *user, "--net", "--pid", "--fork", "--kill-child")
    return [(*base, "--ipc", "--uts", "--mount-proc"), (*base, "--mount-proc"), (*base, "--mount"), base]


def _has_mount_ns(wrapper: tuple[str, ...]) -> bool:
    return "--mount-proc" in wrapper or "--mount" in wrapper


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


_PROBE_LIMITS = """
import ctypes, json, os, threading
facts = {"uid": [os.getuid(), os.geteuid(), os.getgid(), os.getegid()], "groups": os.getgroups()}
with open("/proc/self/status") as f:
    facts["caps"] = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
import decimal, fractions, statistics, unicodedata  # the stdlib is still readable
st = os.statvfs(".")
facts["disk"], facts["files"] = st.f_blocks * st.f_frsize, st.f_files
stop, started = threading.Event(), []
try:
    for _ in range(TASKS + 8):
        t = threading.Thread(target=stop.wait)
        t.start()
        started.append(t)
except RuntimeError:
    pass
stop.set()
for t in started:
    t.join()
facts["threads"] = len(started)
libc = ctypes.CDLL(None, use_errno=True)
shm = libc.shmget(0, 1 << 20, 0o1600)  # IPC_PRIVATE, IPC_CREAT | 0600
facts["shmget"] = shm >= 0
if shm >= 0:
    libc.shmctl(shm, 0, None)  # IPC_RMID: leave nothing behind where there is no IPC namespace
try:
    os.close(os.memfd_create("probe"))
    facts["memfd"] = True
except OSError:
    facts["memfd"] = False
try:
    open("/dev/shm/harness-probe-%d" % os.getpid(), "w").close()
    os.unlink("/dev/shm/harness-probe-%d" % os.getpid())
    facts["dev_shm"] = True
except OSError:
    facts["dev_shm"] = False
print(json.dumps(facts))
"""


def _probe_limits(setup: _Setup, rlimits: bool) -> dict[str, str]:
    """Which limits hold under `setup`, from what a program sees inside it (see limits())."""
    want = Limits(timeout_s=20.0, cpu_s=10, memory_mb=512, tasks=16, disk_mb=1, files=64)
    r = _execute(_PROBE_LIMITS.replace("TASKS", str(want.tasks)), want, None, setup)
    try:
        facts = json.loads(r.stdout) if r.status == "passed" else {}
    except ValueError:
        facts = {}
    if not facts:
        log.warning("sandbox: the limits probe failed (%s): %s", r.status, r.stderr.strip()[-300:])
    root = os.geteuid() == 0
    if not facts or facts["caps"] or (root and (0 in facts["uid"] or facts["groups"])):  # uid 0 of a user ns: fine
        user = "root" if root else "harness uid, privileges kept"
    elif root:
        user = "own uid"
    else:
        user = "harness uid, user namespace" if "--user" in setup.wrapper else "harness uid"
    no_shm = facts and not (facts["shmget"] or facts["memfd"] or facts["dev_shm"])
    return {
        "user": user,
        "memory": ("rlimit" if rlimits else "none") + ("+no-shm" if no_shm else ""),
        "tasks": "rlimit-nproc" if facts and facts["threads"] < want.tasks else "none",
        "disk": ("tmpfs" if facts and facts["disk"] <= 4 * 1024 * 1024 and facts["files"] <= want.files + 8
                 else "rlimit-fsize" if rlimits else "none"),
    }


def _probe_ok(result: SandboxResult) -> bool:
    return result.status == "passed" and result.stdout.strip() == "ok"


def _probe() -> tuple[dict[str, bool], _Setup, dict[str, str]]:
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
    linux = sys.platform.startswith("linux")
    setup = _Setup(wrapper=wrapper, require=require, tmpfs=_has_mount_ns(wrapper), drop_uid=os.geteuid() == 0,
                   tasks=linux and (bool(wrapper) or os.geteuid() == 0))
    held = _probe_limits(setup, found["rlimits"]) if linux else {
        "user": "root" if os.geteuid() == 0 else "harness uid", "memory": "rlimit" if found["rlimits"] else "none",
        "tasks": "none", "disk": "rlimit-fsize" if found["rlimits"] else "none"}
    if setup.tmpfs and held["disk"] != "tmpfs":  # the mount failed here: keep the rest, without it
        setup = dataclasses.replace(setup, tmpfs=False)
        held = _probe_limits(setup, found["rlimits"])
    return found, setup, held


def _setup() -> tuple[dict[str, bool], _Setup, dict[str, str]]:
    global _probed
    with _probe_lock:
        if _probed is None:
            _probed = _probe()
        return _probed


def isolation() -> dict[str, bool]:
    """Which containment layers work on this machine (probed once, cached): 'rlimits', 'session', 'namespaces'
    (net+pid via unshare), 'landlock', 'seccomp'. Record it with the results: it says how contained they were."""
    return dict(_setup()[0])


def limits() -> dict[str, str]:
    """Which resource limits hold here, and how (probed once, cached; recorded with the results):
      user    "own uid" (a root harness's programs run under a uid of their own, no groups, no capabilities),
              "harness uid, user namespace" / "harness uid" (not root); "root" means the drop failed: nothing runs
      memory  "rlimit+no-shm": RLIMIT_AS, with SysV shm/msg, POSIX mqueues and memfd denied and /dev/shm out of
              reach (memory that the address-space limit does not count); "rlimit" without the denials
      tasks   "rlimit-nproc": RLIMIT_NPROC counting the sandbox's processes and threads alone (its own uid, or its
              own user namespace); "none": only seccomp's ban on new processes, threads unbounded
      disk    "tmpfs": the work directory is a tmpfs of Limits.disk_mb and Limits.files, gone with the sandbox;
              "rlimit-fsize": only the size of each file is bounded"""
    return dict(_setup()[2])


_STRONG_LIMITS = {"memory": "rlimit+no-shm", "tasks": "rlimit-nproc", "disk": "tmpfs"}


def weaknesses() -> list[str]:
    """What this machine's sandbox lacks, as short phrases (empty: every layer and limit holds)."""
    layers, _, held = _setup()
    out = [name for name in ("namespaces", "landlock", "seccomp") if not layers[name]]
    out += [f"{k} limit ({held[k]})" for k, v in _STRONG_LIMITS.items() if held[k] != v]
    return out


def record() -> dict[str, object]:
    """What the results' `sandbox` block says about containment: the layers (isolation()), the limits (limits()),
    and, where untrusted code ran anyway under --allow-weak-sandbox, what was missing (`weak`)."""
    weak = weaknesses()
    return {**isolation(), "limits": limits(), **({"weak": weak} if weak else {})}


def allow_weak_sandbox(allow: bool = True) -> None:
    """Let untrusted code run although a layer or limit is missing here (the CLI's --allow-weak-sandbox)."""
    global _allow_weak
    _allow_weak = allow


def refusal() -> str | None:
    """Why untrusted code must not run here, in one line naming the fix; None when it may. Root's rights are never
    an option; a missing layer or limit is, by explicit choice (allow_weak_sandbox)."""
    if _setup()[2]["user"] == "root":
        return ("sandbox: running as root, and the sandboxed programs cannot be moved to a uid of their own here "
                "(see the log for why); run the harness as an ordinary user")
    weak = weaknesses()
    if weak and not _allow_weak:
        return (f"sandbox: {', '.join(weak)} missing on this machine; untrusted code (execution tasks) would run "
                f"weakly contained: pass --allow-weak-sandbox to run it anyway")
    return None


def check_allowed() -> None:
    """Raise HarnessError with refusal()'s line when untrusted code must not run here."""
    why = refusal()
    if why is not None:
        raise HarnessError(why)


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
    ]
    return [(name, value) for name, value in values if hasattr(resource, name)]


def _nproc_fallback(limits: Limits) -> int:
    """Without a uid or user namespace of its own, RLIMIT_NPROC counts every task of the harness's uid machine-wide:
    allow `limits.tasks` more than exist now (a bound on the machine, not on the sandbox; limits() says "none")."""
    try:
        with open("/proc/loadavg") as f:
            total = int(f.read().split()[3].split("/")[1])  # scheduling entities on the whole machine
    except (OSError, ValueError, IndexError):
        total = 0
    return total + limits.tasks


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
        return os.pidfd_open(pid)
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
    pipe_in, stdout, stderr = proc.stdin, proc.stdout, proc.stderr
    assert stdout is not None and stderr is not None  # started with both piped
    out = {stdout.fileno(): bytearray(), stderr.fileno(): bytearray()}
    for fd in out:
        sel.register(fd, selectors.EVENT_READ, "out")
    pending = memoryview(stdin or b"")
    if pipe_in is not None:
        os.set_blocking(pipe_in.fileno(), False)
        sel.register(pipe_in.fileno(), selectors.EVENT_WRITE, "in")
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
                        assert pipe_in is not None  # "in" is registered only for a stdin pipe
                        pipe_in.close()
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
    return bytes(out[stdout.fileno()]), bytes(out[stderr.fileno()]), timed_out


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


@dataclass(frozen=True)
class _Command:
    """The command mode (run_command): `argv` exec'd after the layers, `files` put in its work directory first,
    `reads` more read-only roots, `env` added to the fixed environment."""

    argv: tuple[str, ...]
    files: tuple[tuple[str, bytes], ...] = ()
    reads: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()


def _execute(program: str | _Command, limits: Limits, stdin: str | None, setup: _Setup,
             fds: dict[str, int] | None = None, handle: ProcessHandle | None = None,
             shared_dir: str | None = None, reads: tuple[str, ...] = ()) -> SandboxResult:
    """One program (Python source, or a command), one process (tree), one work directory. `fds` (name ->
    descriptor) are handed to the child (named in its HARNESS_FDS variable) and closed here once it has them, or
    when it could not start. `shared_dir`: a folder this process may read and write besides its own (see
    run_python)."""
    fds = dict(fds or {})
    try:
        return _execute_owned(program, limits, stdin, setup, fds, handle, shared_dir, reads)
    finally:
        for fd in fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        if handle is not None:
            handle._detach()


def _execute_owned(program: str | _Command, limits: Limits, stdin: str | None, setup: _Setup, fds: dict[str, int],
                   handle: ProcessHandle | None, shared_dir: str | None, reads: tuple[str, ...] = ()) -> SandboxResult:
    start = time.monotonic()
    try:
        workdir = tempfile.mkdtemp(prefix="harness-sandbox-")
    except OSError as e:
        return SandboxResult("error", None, "", f"sandbox: no work directory: {e}", time.monotonic() - start)
    status_r = status_w = None
    uid: int | None = None
    try:
        main = os.path.join(workdir, "main.py")
        try:
            if isinstance(program, _Command):
                for name, data in program.files:
                    with open(os.path.join(workdir, name), "wb") as fb:
                        fb.write(data)
            else:
                with open(main, "w", encoding="utf-8") as f:
                    f.write(clean_text(program))  # a lone surrogate would raise here (surrogateescape covers few)
        except OSError as e:
            return SandboxResult("error", None, "", f"sandbox: could not write the program: {e}",
                                 time.monotonic() - start)
        env = {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
               "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1"}
        if isinstance(program, _Command):
            env.update(program.env)
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
        if setup.tmpfs:
            cmd.append(f"--tmpfs={limits.disk_mb << 20},{limits.files}")
        if setup.drop_uid:
            uid = _uids.take()
            cmd.append(f"--uid={uid}")
        if setup.tasks:
            cmd.append(f"--tasks={limits.tasks}")
        if shared_dir is not None:
            if setup.drop_uid:
                os.chmod(shared_dir, 0o777)  # the pair's two uids both create and read files there (umask 0 inside)
            cmd.append(f"--shared={shared_dir}")
        if isinstance(program, _Command):
            cmd += [f"--read={r}" for r in program.reads]
            cmd += [f"--exec={workdir}", *program.argv]
        else:
            cmd += [f"--read={r}" for r in reads]
            cmd.append(main)
        rlimits = [(getattr(resource, name), value) for name, value in _rlimit_values(limits)]
        if not setup.tasks and os.geteuid() != 0 and hasattr(resource, "RLIMIT_NPROC"):
            rlimits.append((resource.RLIMIT_NPROC, (_nproc_fallback(limits),) * 2))
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
        if uid is not None:
            _uids.give(uid)  # its processes are gone: the pid namespace died with its init, or the group was killed
        remove_tree(workdir)  # any depth (a 2,500-deep tree made rmtree recurse out), locked folders, never raises


def run_python(program: str, limits: Limits = Limits(), stdin: str | None = None, *, fds: dict[str, int] | None = None,
               handle: ProcessHandle | None = None, shared_dir: str | os.PathLike[str] | None = None,
               read_roots: Sequence[str] = ()) -> SandboxResult:
    """Run `program` as __main__ in a fresh sandboxed process under every layer that works here. Its status
    reports how the process ended (passed: exit 0), not whether an answer is right: scores come from the verdict
    protocol of harness/sandbox/protocol.py. `fds` are handed over (see _execute); `handle` lets another thread stop it.
    `shared_dir`: an existing folder (absolute path; the caller makes and removes it, see shared_folder()) that
    the program may read and write at the same path, besides its private work directory: for two cooperating
    sandboxes of one check, which run under different uids, so the folder is made mode 0777 and the programs run
    with umask 0 (a file made with an explicit private mode, such as mkdir(p, 0o700), stays private to its maker;
    chmod is denied inside). Every other layer and limit stays. Where refusal() says no, nothing runs: status
    "error", the refusal as stderr. `read_roots`: more read-only roots (the harness's site-packages, from which a
    pytest-mode check imports pytest and numpy; the program puts them on sys.path itself)."""
    return _run_job(program, limits, stdin, fds, handle, shared_dir, tuple(os.path.realpath(r) for r in read_roots))


def run_command(argv: Sequence[str], limits: Limits = Limits(), stdin: str | None = None, *,
                files: dict[str, bytes] | None = None, read_roots: Sequence[str] = (),
                env: dict[str, str] | None = None, fds: dict[str, int] | None = None,
                handle: ProcessHandle | None = None, shared_dir: str | os.PathLike[str] | None = None) -> SandboxResult:
    """Run a command that is not Python (the JVM) under the same layers: boot applies them all, then execs `argv`
    (argv[0] an absolute path to an ELF executable; seccomp and Landlock survive the exec and no_new_privs is set;
    execve is pinned to that one call, so the command cannot exec anything itself). `files` (name -> bytes) are put
    in the work directory (its cwd) first; `read_roots` are read-only roots besides the usual ones (the runtime,
    its libraries); `env` adds variables to the fixed environment. Limits as for run_python: a runtime that reserves
    much address space needs a larger `memory_mb` (RLIMIT_AS) or its own flags, and more `tasks` for its threads."""
    exe = argv[0] if argv else ""
    bad = [name for name in files or {} if not name or "/" in name or name in (".", "..", "main.py")]
    if not os.path.isabs(exe):
        return _refused(f"sandbox: the command must start with an absolute path, not {exe!r}", fds, handle)
    if bad:
        return _refused(f"sandbox: bad work-directory file name {bad[0]!r}", fds, handle)
    job = _Command(tuple(argv), tuple((files or {}).items()), tuple(os.path.realpath(r) for r in read_roots),
                   tuple((env or {}).items()))
    return _run_job(job, limits, stdin, fds, handle, shared_dir)


def _refused(why: str, fds: dict[str, int] | None, handle: ProcessHandle | None) -> SandboxResult:
    """Nothing runs: the descriptors meant for the child are closed, the handle released, `why` is the stderr."""
    for fd in (fds or {}).values():
        try:
            os.close(fd)
        except OSError:
            pass
    if handle is not None:
        handle._detach()
    return SandboxResult("error", None, "", why, 0.0)


def _run_job(program: str | _Command, limits: Limits, stdin: str | None, fds: dict[str, int] | None,
             handle: ProcessHandle | None, shared_dir: str | os.PathLike[str] | None,
             reads: tuple[str, ...] = ()) -> SandboxResult:
    shared = None
    if shared_dir is not None:
        shared = os.path.realpath(shared_dir)
        if not os.path.isdir(shared):
            why: str | None = f"sandbox: the shared folder {os.fspath(shared_dir)!r} does not exist"
        else:
            why = refusal()
    else:
        why = refusal()
    if why is not None:
        return _refused(why, fds, handle)
    return _execute(program, limits, stdin, _setup()[1], fds, handle, shared, reads)


@contextlib.contextmanager
def shared_folder(limits: Limits = Limits()) -> Iterator[str]:
    """A folder for run_python's / run_command's `shared_dir`, removed afterwards. A root harness mounts a tmpfs of
    limits.disk_mb and limits.files on it (the host's mount namespace, unmounted at the end), so the pair's shared
    files are bounded like a work directory; elsewhere it is a plain folder, bounded per file by RLIMIT_FSIZE."""
    path = tempfile.mkdtemp(prefix="harness-shared-")
    mounted = False
    try:
        if os.geteuid() == 0 and sys.platform.startswith("linux"):
            mounted = _boot_mount_tmpfs(path, limits)
        os.chmod(path, 0o777)
        yield path
    finally:
        if mounted:
            _boot_umount(path)
        remove_tree(path)


def _boot_mount_tmpfs(path: str, limits: Limits) -> bool:
    try:
        _boot._mount("tmpfs", path, "tmpfs", _boot._MS_NOSUID | _boot._MS_NODEV,
                     f"size={limits.disk_mb << 20},nr_inodes={limits.files},mode=0777")
        return True
    except (_boot.LayerError, OSError) as e:
        log.warning("sandbox: no tmpfs for the shared folder (%s); its size is bounded per file only", e)
        return False


def _boot_umount(path: str) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(path.encode(), 2) != 0:  # MNT_DETACH: a file still open somewhere does not keep it mounted
        log.warning("sandbox: could not unmount the shared folder %s (%s)", path, os.strerror(ctypes.get_errno()))


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
