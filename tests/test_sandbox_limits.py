"""Resource limits that hold (issue 14, items 2 and 3): hostile programs that escaped the old limits — memory
through SysV shared memory and memfd, threads made without the threading module, a fork bomb, a disk filled with
one big file or with many small ones, a tree too deep to remove — each end with the exact status the program's
own error gives, quickly, and leave nothing behind. Each limit is also checked with the other layers taken away,
so losing one is caught even while the others still contain. Limits are lowered here so every test is quick."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest
from needs import require

from harness.errors import HarnessError
from harness.sandbox import core as sandbox
from harness.sandbox.core import Limits, SandboxResult, run_python

pytestmark = pytest.mark.slow

SMALL = Limits(timeout_s=10.0, cpu_s=5, memory_mb=256, tasks=16, disk_mb=8, files=64)
LAST_LINE = {"eperm": "PermissionError: [Errno 1] Operation not permitted",
             "eagain": "BlockingIOError: [Errno 11] Resource temporarily unavailable",
             "enospc": "OSError: [Errno 28] No space left on device"}


@pytest.fixture(autouse=True, scope="module")
def private_tempdir(tmp_path_factory: pytest.TempPathFactory):
    """This module's sandbox work directories go under a folder of its own, so the leftover checks see only ours."""
    global PRIVATE_TMP
    tmp_path_factory.getbasetemp()
    saved = tempfile.tempdir
    PRIVATE_TMP = tempfile.mkdtemp(prefix="harness-sandbox-limits-")
    tempfile.tempdir = PRIVATE_TMP
    yield PRIVATE_TMP
    tempfile.tempdir = saved
    shutil.rmtree(PRIVATE_TMP, ignore_errors=True)


PRIVATE_TMP = ""


def leftovers() -> list[str]:
    """Work directories and processes of this module's runs still around (none may be)."""
    found = [n for n in os.listdir(PRIVATE_TMP) if n.startswith("harness-sandbox-")]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/cwd").startswith(PRIVATE_TMP + "/"):
                    found.append(f"process {entry}")
            except OSError:
                pass
    return found


def need(limit: str, how: str) -> None:
    require(sandbox.limits()[limit] == how, f"the {limit} limit is {sandbox.limits()[limit]!r} here, not {how!r}")


def run(program: str, limits: Limits = SMALL, **changes) -> SandboxResult:
    """`program` in the sandbox this machine has, or with its setup changed (e.g. a layer taken away)."""
    setup = dataclasses.replace(sandbox._setup()[1], **changes)
    return sandbox._execute(textwrap.dedent(program), limits, None, setup)


def ends_with(r: SandboxResult, error: str) -> None:
    """Failed, with the program's own error as the last line of its traceback, and nothing left behind."""
    assert (r.status, r.returncode) == ("failed", 1), r
    assert r.stderr.strip().splitlines()[-1] == LAST_LINE[error], r.stderr
    assert leftovers() == []


def all_end_with(r: SandboxResult, error: str) -> None:
    """Like ends_with, for a program whose many processes print tracebacks at once (a fork bomb): their lines
    interleave, and one killed mid-traceback when the sandbox ends leaves a header last. Every error line must be
    that error (or the start of it, cut off), and at least one must be whole."""
    assert (r.status, r.returncode) == ("failed", 1), r
    errors = [line for line in r.stderr.splitlines() if line.strip() and not line.startswith(("Traceback", " "))]
    assert LAST_LINE[error] in errors and all(LAST_LINE[error].startswith(line) for line in errors), r.stderr
    assert leftovers() == []


# ------------------------------------------------------------------------------------------------ what holds here
def test_limits_in_force_are_reported():
    held = sandbox.limits()
    assert set(held) == {"user", "memory", "tasks", "disk"}
    if os.geteuid() == 0:
        assert held["user"] in ("own uid", "root")
    if sandbox.isolation()["seccomp"]:
        assert held["memory"] == "rlimit+no-shm"
    if sandbox.isolation()["namespaces"]:
        assert (held["tasks"], held["disk"]) == ("rlimit-nproc", "tmpfs")


# ------------------------------------------------------------------------------------------------ memory
SYSV_SHM = """
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    for _ in range(64):  # 64 segments of 64 MiB, each touched: 4 GiB resident, none of it mapped at the end
        shm = libc.shmget(0, 64 << 20, 0o1600)
        if shm < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        addr = libc.shmat(shm, None, 0)
        ctypes.memset(addr, 1, 64 << 20)
        libc.shmdt(ctypes.c_void_p(addr))
    print("ESCAPED")
"""
MEMFD = """
    fds = []
    for _ in range(64):  # memfd pages are not in the address space at all
        fd = os.memfd_create("x")
        os.ftruncate(fd, 64 << 20)
        os.pwrite(fd, b"x" * (64 << 20), 0)
        fds.append(fd)
    print("ESCAPED")
"""


@pytest.mark.parametrize("program", [SYSV_SHM, MEMFD], ids=["sysv-shm", "memfd"])
def test_memory_outside_the_address_space_is_denied(program: str):
    need("memory", "rlimit+no-shm")
    ends_with(run("import os\n" + textwrap.dedent(program)), "eperm")
    ends_with(run("import os\n" + textwrap.dedent(program), require=frozenset({"seccomp"})), "eperm")  # seccomp alone


def test_dev_shm_is_out_of_reach_without_landlock():
    """Files in /dev/shm are memory too: Landlock keeps it out of reach, and so does the mask on its own."""
    need("disk", "tmpfs")
    r = run("open('/dev/shm/fill', 'wb').write(b'x' * (64 << 20))\nprint('ESCAPED')", require=frozenset())
    assert (r.status, r.stderr.strip().splitlines()[-1]) == (
        "failed", "OSError: [Errno 30] Read-only file system: '/dev/shm/fill'"), r
    assert not os.path.exists("/dev/shm/fill")


# ------------------------------------------------------------------------------------------------ tasks
RAW_THREADS = """
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    pause = ctypes.cast(libc.pause, ctypes.c_void_p)  # the new threads never enter Python
    attr = ctypes.create_string_buffer(128)
    libc.pthread_attr_init(attr)
    libc.pthread_attr_setstacksize(attr, ctypes.c_size_t(65536))  # small stacks: the address space is no bound
    made, err = 0, 0
    for _ in range(10_000):
        tid = ctypes.c_ulong()
        err = libc.pthread_create(ctypes.byref(tid), attr, pause, None)
        if err:
            break
        made += 1
    print(made, err)
"""


def test_threads_made_without_the_threading_module_are_capped():
    need("tasks", "rlimit-nproc")
    for changes in ({}, {"require": frozenset()}):  # and with Landlock and seccomp taken away
        r = run(RAW_THREADS, **changes)
        assert r.status == "passed", r
        made, err = map(int, r.stdout.split())
        assert (err, made < SMALL.tasks) == (11, True), r.stdout  # EAGAIN well before 10,000
        assert leftovers() == []


def test_python_threads_fail_cleanly_at_the_cap():
    need("tasks", "rlimit-nproc")
    r = run("""
        import threading
        stop = threading.Event()
        for _ in range(1000):
            threading.Thread(target=stop.wait, daemon=True).start()
    """)
    assert (r.status, r.stderr.strip().splitlines()[-1]) == ("failed", "RuntimeError: can't start new thread"), r
    assert leftovers() == []


def test_fork_bomb_is_capped_without_seccomp():
    """seccomp forbids fork; with it gone, the task cap alone stops a fork bomb, and nothing survives the run."""
    need("tasks", "rlimit-nproc")
    all_end_with(run("import os\nwhile True:\n    os.fork()", require=frozenset({"landlock"})), "eagain")


# ------------------------------------------------------------------------------------------------ disk
def test_one_big_file_fills_only_the_work_directory():
    need("disk", "tmpfs")
    before = shutil.disk_usage(PRIVATE_TMP).used
    limits = dataclasses.replace(SMALL, file_size_mb=4096)  # the file-size rlimit out of the way: the tmpfs stops it
    ends_with(run("with open('big', 'wb') as f:\n    for _ in range(3 * 1024):\n        f.write(b'x' * (1 << 20))",
                  limits), "enospc")
    assert shutil.disk_usage(PRIVATE_TMP).used - before < 64 << 20


def test_many_files_stop_at_the_file_count():
    need("disk", "tmpfs")
    r = run("""
        import os
        made = 0
        try:
            for i in range(20_000):
                open(f"f{i}", "w").close()
                made += 1
        finally:
            print(made)
    """)
    assert r.stderr.strip().splitlines()[-1] == LAST_LINE["enospc"] + ": 'f64'", r
    assert (r.status, int(r.stdout)) == ("failed", SMALL.files)  # exactly the limit: the program file is not counted
    assert leftovers() == []


def test_disk_limits_hold_without_landlock():
    need("disk", "tmpfs")
    ends_with(run("open('big', 'wb').write(b'x' * (12 << 20))", require=frozenset({"seccomp"})), "enospc")


DEEP_TREE = """
    import os
    depth = 0
    for _ in range(2500):
        os.mkdir("d")
        os.chdir("d")
        depth += 1
    print(depth)
"""


@pytest.mark.parametrize("tmpfs", [True, False], ids=["tmpfs", "host-directory"])
def test_deep_tree_is_cleaned_up(tmpfs: bool):
    """A 2,500-deep tree goes with the tmpfs, or (without one) with the harness's iterative removal."""
    if tmpfs:
        need("disk", "tmpfs")
    limits = dataclasses.replace(SMALL, files=4096)
    r = run(DEEP_TREE, limits, tmpfs=tmpfs) if tmpfs else run(DEEP_TREE, limits, tmpfs=False, drop_uid=False)
    assert r.status == "passed" and int(r.stdout) == 2500, r
    assert leftovers() == []


# ------------------------------------------------------------------------------------------------ root
def test_root_never_runs_with_roots_rights():
    """Without Landlock and seccomp, a program still cannot write what root owns: under a root harness it has a
    uid of its own (no groups), otherwise the harness's uid. (/proc/sys/kernel/hostname is root's, 0644, and in
    the sandbox's own UTS namespace: writing it is harmless, and uid 0 without capabilities could.)"""
    root = os.geteuid() == 0
    assert sandbox.limits()["user"] == ("own uid" if root else "harness uid, user namespace")
    r = run("""
        import os
        print(os.getuid(), os.geteuid(), os.getgroups(), os.access("/proc/sys/kernel/core_pattern", os.W_OK), sep="|")
        open("/proc/sys/kernel/hostname", "w").write("sandboxed")
    """, require=frozenset())
    uid, euid, groups, core = r.stdout.strip().split("|")
    assert core == "False", r.stdout
    if root:
        assert int(uid) == int(euid) != 0 and groups == "[]", r.stdout
    assert (r.status, r.stderr.strip().splitlines()[-1]) == (
        "failed", "PermissionError: [Errno 13] Permission denied: '/proc/sys/kernel/hostname'"), r


# ------------------------------------------------------------------------------------------------ no weak sandbox by surprise
@pytest.fixture
def weak(monkeypatch: pytest.MonkeyPatch):
    """This machine's sandbox with Landlock and the disk limit forced missing."""
    layers, setup, held = sandbox._setup()
    monkeypatch.setattr(sandbox, "_probed", ({**layers, "landlock": False}, setup, {**held, "disk": "rlimit-fsize"}))
    monkeypatch.setattr(sandbox, "_allow_weak", False)


def test_a_weak_sandbox_refuses_in_one_line_naming_the_flag(weak):
    why = sandbox.refusal()
    assert why is not None and "\n" not in why
    assert why.startswith("sandbox: landlock, disk limit (rlimit-fsize) missing on this machine")
    assert "--allow-weak-sandbox" in why
    r = run_python("print('ran')", SMALL)
    assert (r.status, r.stdout, r.stderr, r.returncode) == ("error", "", why, None)
    with pytest.raises(HarnessError, match="--allow-weak-sandbox"):
        sandbox.check_allowed()


def test_the_flag_lets_a_weak_sandbox_run(weak):
    sandbox.allow_weak_sandbox(True)
    assert sandbox.refusal() is None
    assert run_python("print('ran')", SMALL).stdout == "ran\n"


def test_root_without_its_own_uid_never_runs(monkeypatch: pytest.MonkeyPatch):
    layers, setup, held = sandbox._setup()
    monkeypatch.setattr(sandbox, "_probed", (layers, setup, {**held, "user": "root"}))
    monkeypatch.setattr(sandbox, "_allow_weak", True)  # not even with the flag
    why = sandbox.refusal()
    assert why is not None and "\n" not in why and "as root" in why
    assert run_python("print('ran')", SMALL).status == "error"


def test_eval_refuses_a_weak_sandbox_in_one_line(weak, data_dir: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Through `harness eval` of HumanEval-zh: without the flag, one line naming what is missing and the flag
    (before any check runs); with it, the run finishes and its results say what was missing."""
    from test_openai_backend import FakeServer

    from harness.cli import main

    server = FakeServer()
    server.reply = lambda body: {"text": "    return None\n", "finish_reason": "stop", "stop_reason": None}
    args = ["eval", "--backend", "openai", "--base-url", server.url, "--model", "tiny", "--tasks", "humaneval_zh",
            "--limit", "2", "--data-dir", str(data_dir), "--no-progress", "--no-cache"]
    try:
        assert main([*args, "--output-dir", str(tmp_path / "refused")]) == 2
        err = capsys.readouterr().err
        assert err.endswith("pass --allow-weak-sandbox to run it anyway\n") and err.count("\n") == 1, err
        assert err.startswith("error: sandbox: landlock, disk limit (rlimit-fsize) missing on this machine")
        assert main([*args, "--output-dir", str(tmp_path / "allowed"), "--allow-weak-sandbox"]) == 0
    finally:
        server.close()
    (path,) = (tmp_path / "allowed").rglob("*.json")
    block = json.loads(path.read_text(encoding="utf-8"))["sandbox"]
    assert block["landlock"] is False and block["weak"] == ["landlock", "disk limit (rlimit-fsize)"]
    assert block["limits"]["disk"] == "rlimit-fsize"
