"""run_command (the command mode the JVM runs in): boot applies every layer, then execs the command, and the
command itself can neither exec nor fork anything (seccomp pins execve to boot's one call; Landlock executes only
the command's file), nor write outside its work directory; the files handed over are in its cwd; bad input is one
line."""

from __future__ import annotations

import os

from needs import require

from harness.sandbox import core as sandbox
from harness.sandbox.core import Limits, run_command

SMALL = Limits(timeout_s=10.0, cpu_s=5, memory_mb=256, tasks=16, disk_mb=8, files=64)


def test_the_command_runs_with_its_files_and_cannot_exec_or_fork():
    require(sandbox.isolation()["seccomp"] and sandbox.isolation()["landlock"], "seccomp and Landlock needed here")
    script = ("read v < given.txt; echo $v; echo x > /tmp/escaped-by-command.txt && echo wrote-outside; "
              "echo y > inside.txt && read w < inside.txt && echo $w; /bin/true; echo forked")
    r = run_command(["/bin/sh", "-c", script], SMALL, files={"given.txt": b"hello"})
    assert r.stdout.split() == ["hello", "y"], r  # no write outside, and the shell could not fork /bin/true
    assert r.status == "failed" and "Cannot fork" in r.stderr, r
    assert not os.path.exists("/tmp/escaped-by-command.txt")
    r = run_command(["/bin/sh", "-c", "exec /bin/true"], SMALL)  # exec in place: refused (exit 0 if it worked)
    assert r.status == "failed" and r.returncode != 0, r


def test_bad_commands_are_one_line():
    r = run_command(["sh", "-c", "true"], SMALL)
    assert r.status == "error" and r.stderr == "sandbox: the command must start with an absolute path, not 'sh'"
    r = run_command(["/bin/true"], SMALL, files={"../x": b""})
    assert r.status == "error" and r.stderr == "sandbox: bad work-directory file name '../x'"
