"""The sandbox against hostile programs, with real processes: every escape attempt must end as a failed result
and leave the harness, its files and the machine as they were. The assertions are about outcomes (the file is
unchanged, the server saw no connection, the secret is nowhere), not about which layer stopped it; separate
tests check that each layer holds on its own, so losing one is caught even while the others still contain."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from needs import require

from harness.sandbox import core as sandbox
from harness.sandbox.core import Limits, SandboxResult, isolation, run_batch, run_python

pytestmark = pytest.mark.slow

FAST = Limits(timeout_s=3.0, cpu_s=2, memory_mb=256)
LINUX = sys.platform.startswith("linux")


def run(program: str, limits: Limits = FAST, stdin: str | None = None) -> SandboxResult:
    return run_python(textwrap.dedent(program), limits, stdin)


def blocked(r: SandboxResult) -> None:
    """The attempt raised inside the program (so it failed) and never reached the line after it."""
    assert r.status == "failed", r
    assert "ESCAPED" not in r.stdout


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


@pytest.fixture(autouse=True, scope="module")
def private_tempdir(tmp_path_factory: pytest.TempPathFactory):
    """Sandbox work directories of this module go under a directory of its own, so the leftover checks below
    see only our own runs even when another harness process uses the sandbox at the same time. pytest's own
    temporary root is made first: made later, it would land inside this directory and go with it."""
    global PRIVATE_TMP
    tmp_path_factory.getbasetemp()
    saved = tempfile.tempdir
    PRIVATE_TMP = tempfile.mkdtemp(prefix="harness-sandbox-tests-")
    tempfile.tempdir = PRIVATE_TMP
    yield PRIVATE_TMP
    tempfile.tempdir = saved
    shutil.rmtree(PRIVATE_TMP, ignore_errors=True)


PRIVATE_TMP = ""


def sandbox_processes() -> list[int]:
    """Processes whose cwd is (or was) one of our sandbox work directories: none may survive a run."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/cwd").startswith(PRIVATE_TMP + "/"):
                    found.append(int(entry))
            except OSError:
                pass
    return found


def children_of(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry))
    return kids


# ------------------------------------------------------------------------------------------------ layers
def _landlock_in_kernel() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1)) >= 1


def _libseccomp() -> bool:
    try:
        ctypes.CDLL("libseccomp.so.2")
        return True
    except OSError:
        return False


def _unshare_works() -> bool:
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    try:
        return subprocess.run(["unshare", *user, "--net", "--pid", "--fork", "true"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not LINUX, reason="the namespace, Landlock and seccomp layers are Linux-only")
def test_every_layer_this_machine_supports_is_in_use():
    """Checked against the machine independently of the probe, so a layer the probe loses is a failure here."""
    expected = {"rlimits": True, "session": True, "namespaces": _unshare_works(), "landlock": _landlock_in_kernel(),
                "seccomp": _libseccomp()}
    assert isolation() == expected


def test_isolation_is_cached_and_a_copy():
    a = isolation()
    a["seccomp"] = "tampered"
    assert isolation()["seccomp"] != "tampered"
    assert set(isolation()) == {"rlimits", "session", "namespaces", "landlock", "seccomp"}


# ------------------------------------------------------------------------------------------------ ordinary runs
def test_passing_program_captures_stdout():
    r = run("import json, re, math, collections, typing, itertools, string, hashlib\nprint('你好', 6 * 7)")
    assert (r.status, r.returncode, r.stdout, r.passed) == ("passed", 0, "你好 42\n", True)
    assert r.seconds < 2


def test_assertion_error_fails_with_traceback():
    r = run("def f(x):\n    return x + 1\n\nassert f(1) == 3, 'wrong'\n")
    assert (r.status, r.returncode, r.passed) == ("failed", 1, False)
    assert "Traceback" in r.stderr and "AssertionError: wrong" in r.stderr and "main.py" in r.stderr
    assert "boot.py" not in r.stderr and "runpy" not in r.stderr  # only the program's own frames


def test_stdin_is_delivered():
    r = run("import sys\ndata = sys.stdin.read()\nprint(len(data), data[:2])", stdin="【答案开始】" + "x" * 300_000)
    assert r.status == "passed", r
    assert r.stdout == "300006 【答\n"
    r = run("print('ignores its stdin')", stdin="x" * 1_000_000)  # more than a pipe holds: no deadlock, no error
    assert (r.status, r.stdout) == ("passed", "ignores its stdin\n")


def test_exit_codes():
    assert run("import sys; sys.exit(0)").status == "passed"
    r = run("import sys; sys.exit(5)")
    assert (r.status, r.returncode) == ("failed", 5)
    assert run("raise KeyboardInterrupt").status == "failed"


def test_threads_are_allowed():
    r = run("""
        import threading
        out = []
        ts = [threading.Thread(target=out.append, args=(i,)) for i in range(8)]
        for t in ts: t.start()
        for t in ts: t.join()
        print(sorted(out))
    """)
    assert r.status == "passed", r
    assert r.stdout == "[0, 1, 2, 3, 4, 5, 6, 7]\n"


def test_writing_inside_the_work_directory_works_and_is_thrown_away():
    r = run("""
        import os, tempfile
        open("out.txt", "w").write("data")
        os.makedirs("sub/dir")
        with tempfile.NamedTemporaryFile(dir=None, delete=False) as f:
            f.write(b"tmp")
        os.rename("out.txt", "sub/dir/moved.txt")
        print(os.getcwd())
        print(open("sub/dir/moved.txt").read(), os.path.dirname(f.name) == os.getcwd())
    """)
    assert r.status == "passed", r
    workdir, line = r.stdout.splitlines()
    assert line == "data True"
    assert not os.path.exists(workdir)


# ------------------------------------------------------------------------------------------------ time and memory
def test_busy_loop_hits_the_cpu_limit_promptly():
    t = time.monotonic()
    r = run("while True: pass", Limits(timeout_s=8, cpu_s=1, memory_mb=256))
    assert r.status == "cpu", r
    assert time.monotonic() - t < 6  # 1 s of CPU; the slack is for a loaded machine


def test_busy_loop_ignoring_sigxcpu_is_still_stopped_at_the_hard_limit():
    r = run("import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True: pass",
            Limits(timeout_s=10, cpu_s=1, memory_mb=256))
    assert r.status == "cpu", r


def test_busy_loop_past_the_wall_clock_times_out():
    r = run("while True: pass", Limits(timeout_s=1.0, cpu_s=10, memory_mb=256))
    assert r.status == "timeout", r
    assert r.seconds < 2.5


def test_sleeping_forever_times_out_and_the_work_directory_goes():
    t = time.monotonic()
    r = run("import os, time\nprint(os.getcwd(), flush=True)\ntime.sleep(1000)", Limits(timeout_s=1.5))
    assert r.status == "timeout", r
    assert time.monotonic() - t < 1.5 + 1.0
    assert r.stdout.strip() and not os.path.exists(r.stdout.strip())  # output before the kill is kept
    assert sandbox_processes() == []


def test_escaping_the_process_group_does_not_outlive_the_timeout():
    r = run("import os, time\nos.setsid()\ntime.sleep(1000)", Limits(timeout_s=1.0))
    assert r.status in ("timeout", "failed"), r  # failed where there is no pid namespace: boot leads the session
    assert sandbox_processes() == [] and children_of(os.getpid()) == []


@pytest.mark.parametrize("program", [
    "x = bytearray(10**10)",
    "a = []\nwhile True:\n    a.append(' ' * 10**6)",
    "x = [0] * 10**9",
])
def test_memory_bombs_hit_the_memory_limit_not_the_harness(program):
    before = rss_bytes()
    r = run(program, Limits(timeout_s=10, cpu_s=10, memory_mb=256))
    assert r.status == "memory", r
    assert not r.passed
    assert rss_bytes() - before < 32 * 1024 * 1024


def test_file_size_limit():
    r = run("open('big.bin', 'wb').write(b'x' * (4 * 1024 * 1024))", Limits(timeout_s=3, file_size_mb=1))
    assert r.status == "failed", r
    assert "File too large" in r.stderr


def test_truncation_never_splits_a_character():
    r = run("print('é' * 1000)", Limits(max_output_bytes=1001))
    assert r.stdout == "é" * 500


def test_huge_output_is_truncated_without_deadlock():
    before = rss_bytes()
    r = run("import sys\nsys.stdout.write('a' * 10_000_000)\nsys.stderr.write('b' * 10_000_000)\nprint('end')",
            Limits(timeout_s=10, max_output_bytes=65536))
    assert r.status == "passed", r
    assert r.stdout == "a" * 65536 and r.stderr == "b" * 65536
    assert rss_bytes() - before < 32 * 1024 * 1024


# ------------------------------------------------------------------------------------------------ processes
def test_fork_bomb_is_contained_and_leaves_no_processes():
    r = run("import os\nwhile True:\n    os.fork()", Limits(timeout_s=3, cpu_s=2, memory_mb=256))
    assert not r.passed and r.status in ("failed", "timeout", "cpu"), r
    assert sandbox_processes() == [] and children_of(os.getpid()) == []


@pytest.mark.parametrize("program", [
    "import os\nassert os.system('echo ESCAPED') == 0",
    "import subprocess\nsubprocess.run(['echo', 'ESCAPED'])",
    "import os\nos.execv('/bin/echo', ['echo', 'ESCAPED'])",
    "import os\nos.posix_spawn('/bin/echo', ['echo', 'ESCAPED'], {})",
    "import multiprocessing\np = multiprocessing.Process(target=print, args=('ESCAPED',))\np.start()\np.join()",
])
def test_starting_programs_is_blocked(program):
    blocked(run(program))


def test_signals_cannot_reach_other_processes():
    victim = subprocess.Popen(["sleep", "60"])
    try:
        r = run(f"""
            import os, signal
            for pid in ({victim.pid}, {os.getpid()}, 1):  # signal 0: a permission check that harms no one
                try:
                    os.kill(pid, 0)
                    print("reached", pid)
                except OSError as e:
                    print("blocked", pid, type(e).__name__)
            os.kill({victim.pid}, signal.SIGKILL)
        """)
        time.sleep(0.2)
        assert victim.poll() is None, "the sandbox killed a process outside it"
        assert "reached" not in r.stdout, r
        assert r.status == "failed"
    finally:
        victim.kill()
        victim.wait()


# ------------------------------------------------------------------------------------------------ files
@pytest.fixture
def outside(tmp_path: Path) -> dict[str, Path]:
    """Files the harness owns, outside any sandbox work directory."""
    results = tmp_path / "results.jsonl"
    results.write_text('{"score": 1}\n')
    secret = tmp_path / "token"
    secret.write_text("hf_topsecret\n")
    return {"results": results, "secret": secret, "dir": tmp_path, "mode": results.stat().st_mode}


def _unchanged(paths: dict) -> None:
    assert paths["results"].read_text() == '{"score": 1}\n'
    assert paths["secret"].read_text() == "hf_topsecret\n"
    assert paths["results"].stat().st_mode == paths["mode"]
    assert sorted(p.name for p in paths["dir"].iterdir()) == ["results.jsonl", "token"]


@pytest.mark.parametrize("attack", [
    "open({results!r}, 'a').write('{{\"score\": 100}}\\n')",
    "open({results!r}, 'w').close()",
    "os.truncate({results!r}, 0)",
    "open({new!r}, 'w').write('x')",
    "os.remove({results!r})",
    "os.rename({results!r}, 'stolen')",
    "os.symlink({results!r}, 'link'); open('link', 'w').write('x')",
    "os.link({results!r}, 'hard'); open('hard', 'w').write('x')",
    "os.chmod({results!r}, 0o777)",
    "os.mkdir({new!r})",
    "open({tmp_new!r}, 'w').write('x')",
])
def test_writing_outside_the_work_directory_is_blocked(outside, attack):
    tmp_new = f"/tmp/x-{uuid.uuid4().hex}"
    program = "import os\n" + attack.format(results=str(outside["results"]), new=str(outside["dir"] / "new"),
                                            tmp_new=tmp_new) + "\nprint('ESCAPED')\n"
    blocked(run(program))
    _unchanged(outside)
    assert not os.path.exists(tmp_new)


@pytest.mark.parametrize("attack", [
    "print(open({secret!r}).read())",
    "print(os.listdir({dir!r}))",
    "print(open({readme!r}).read()[:50])",
    "print(os.listdir(os.path.expanduser('~root')))",
])
def test_reading_the_harness_files_is_blocked(outside, attack):
    readme = Path(__file__).resolve().parent.parent / "README.md"
    r = run("import os\n" + attack.format(secret=str(outside["secret"]), dir=str(outside["dir"]), readme=str(readme)))
    blocked(r)
    assert "hf_topsecret" not in r.stdout + r.stderr and "token" not in r.stdout


# ------------------------------------------------------------------------------------------------ network
@pytest.fixture
def server():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    yield srv
    srv.close()


def _no_connection(srv: socket.socket) -> bool:
    srv.setblocking(False)
    try:
        conn, _ = srv.accept()  # a connection that completed would be queued here even if closed again
    except BlockingIOError:
        return True
    conn.close()
    return False


@pytest.mark.parametrize("attack", [
    "s = socket.create_connection(('127.0.0.1', {port}), timeout=2)",
    "s = socket.socket(socket.AF_INET)",
    "s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)",
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x', ('127.0.0.1', {port}))",
    "s = socket.socket(socket.AF_UNIX); s.connect('/run/systemd/private')",
    "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=2)",
])
def test_network_is_blocked(server, attack):
    port = server.getsockname()[1]
    blocked(run("import socket\n" + attack.format(port=port) + "\nprint('ESCAPED')"))
    assert _no_connection(server)


# ------------------------------------------------------------------------------------------------ secrets
def test_environment_secrets_are_not_visible(monkeypatch):
    monkeypatch.setenv("HARNESS_TEST_SECRET", "s3cret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-s3cret")
    me = os.getpid()
    r = run(f"""
        import os
        print(sorted(os.environ.items()))
        for path in ["/proc/self/environ", "/proc/{me}/environ", "/proc/{me}/cmdline", "/proc/1/environ",
                     f"/proc/{{os.getppid()}}/environ"]:
            try:
                print(path, open(path, "rb").read())
            except OSError as e:
                print(path, "unreadable", type(e).__name__)
    """)
    assert r.status == "passed", r
    assert "s3cret" not in r.stdout + r.stderr
    assert f"/proc/{me}/environ unreadable" in r.stdout
    env = eval(r.stdout.splitlines()[0])  # noqa: S307 - our own program's output
    assert {k for k, _ in env} == {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONIOENCODING", "PYTHONDONTWRITEBYTECODE"}


# ------------------------------------------------------------------------------------------------ each layer alone
def _alone(program: str, **setup) -> SandboxResult:
    return sandbox._execute(textwrap.dedent(program), FAST, None, sandbox._Setup(**setup))


def _need(layer: str) -> None:
    require(isolation()[layer], f"the {layer} layer does not work on this machine")


def test_landlock_alone_confines_files_and_exec(outside):
    _need("landlock")
    req = frozenset({"landlock"})
    blocked(_alone(f"open({str(outside['results'])!r}, 'a').write('x')\nprint('ESCAPED')", require=req))
    blocked(_alone(f"open({str(outside['secret'])!r}).read()\nprint('ESCAPED')", require=req))
    blocked(_alone("import os\nos.execv('/bin/echo', ['echo', 'ESCAPED'])", require=req))
    _unchanged(outside)


def test_seccomp_alone_blocks_processes_sockets_and_signals():
    _need("seccomp")
    req = frozenset({"seccomp"})
    blocked(_alone("import os\nos.fork()\nprint('ESCAPED')", require=req))
    blocked(_alone("import socket\nsocket.socket()\nprint('ESCAPED')", require=req))
    blocked(_alone("import os\nos.kill(1, 0)\nprint('ESCAPED')", require=req))
    assert _alone("import threading\nt = threading.Thread(target=print, args=('t',))\nt.start()\nt.join()",
                  require=req).stdout == "t\n"


def test_namespaces_alone_hide_network_and_processes(server):
    _need("namespaces")
    wrapper = sandbox._setup()[1].wrapper
    port = server.getsockname()[1]
    blocked(_alone(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('ESCAPED')",
                   wrapper=wrapper))
    assert _no_connection(server)
    r = _alone(f"import os\nprint(os.getpid(), os.path.exists('/proc/{os.getpid()}'))", wrapper=wrapper)
    assert r.stdout == "2 False\n", r


def test_a_required_layer_that_fails_is_an_error_not_a_weaker_run():
    r = sandbox._execute("print('ran')", FAST, None, sandbox._Setup(require=frozenset({"no-such-layer"})))
    assert (r.status, r.stdout) == ("error", "")
    r = sandbox._execute("print('ran')", FAST, None, sandbox._Setup(wrapper=("/nonexistent/unshare",)))
    assert (r.status, r.returncode) == ("error", None)


# ------------------------------------------------------------------------------------------------ batches
def test_run_batch_keeps_input_order_with_mixed_outcomes():
    programs = ["print('a')", "assert False", "import sys; print(sys.stdin.read())", "while True: pass",
                "x = bytearray(10**10)", "import socket; socket.socket()", "print('g')"]
    stdin = [None, None, "from stdin", None, None, None, None]
    results = run_batch(programs, Limits(timeout_s=10, cpu_s=1, memory_mb=256), stdin=stdin, workers=3)
    assert [r.status for r in results] == ["passed", "failed", "passed", "cpu", "memory", "failed", "passed"]
    assert [results[0].stdout, results[2].stdout, results[6].stdout] == ["a\n", "from stdin\n", "g\n"]
    with pytest.raises(ValueError):
        run_batch(["pass"], stdin=[None, None])
    assert run_batch([]) == []


# ------------------------------------------------------------------------------------------------ the harness after all that
def test_the_harness_is_unaffected(tmp_path):
    """Runs last in this file: after every hostile program above, this process still works normally."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    cli = socket.create_connection(srv.getsockname(), timeout=2)
    conn, _ = srv.accept()
    cli.sendall(b"ping")
    assert conn.recv(4) == b"ping"
    for s in (cli, conn, srv):
        s.close()
    (tmp_path / "f.txt").write_text("ok")
    assert (tmp_path / "f.txt").read_text() == "ok"
    assert subprocess.run(["true"]).returncode == 0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    import resource

    assert resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY
    assert sandbox_processes() == [] and children_of(os.getpid()) == []
    assert [n for n in os.listdir(PRIVATE_TMP) if n.startswith("harness-sandbox-")] == []  # work dirs removed
