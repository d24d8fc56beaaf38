"""The shared folder (run_python's `shared_dir`): two sandboxed programs of one check (NaturalCodeBench's tests and
the model's code, under different uids) exchange files through one host folder at the same path, both ways, while a
third sandbox without the option cannot see it, and every other layer still holds for the two. Checked with the
tmpfs folder shared_folder() makes and with a plain folder a caller made, and with the mount namespace taken away
(Landlock alone must then keep the third program out)."""

from __future__ import annotations

import dataclasses
import os
import tempfile
import textwrap
from pathlib import Path

import pytest
from needs import require

from harness.contain import remove_tree
from harness.sandbox import core as sandbox
from harness.sandbox.core import Limits, SandboxResult, run_python, shared_folder

SMALL = Limits(timeout_s=10.0, cpu_s=5, memory_mb=256, tasks=16, disk_mb=8, files=64)

WRITER = """
    import os, json
    os.makedirs("{d}/sub")
    with open("{d}/sub/from_a.txt", "w") as f:
        f.write("hello")
    print(json.dumps({{"uid": os.getuid()}}))
"""
READER = """
    import os, json
    text = open("{d}/sub/from_a.txt").read()
    with open("{d}/sub/from_a.txt", "a") as f:  # the other uid's file, written too
        f.write(" back")
    with open("{d}/from_b.txt", "w") as f:
        f.write("reply")
    print(json.dumps({{"uid": os.getuid(), "text": text}}))
"""
OUTSIDER = """
    import os
    try:
        print(sorted(os.listdir("{d}")))
    except OSError as e:
        print(type(e).__name__)
    try:
        open("{d}/sub/from_a.txt").read()
    except OSError as e:
        print(type(e).__name__)
    else:
        print("read it")
"""


def run(program: str, d: str, shared: bool, **changes) -> SandboxResult:
    setup = dataclasses.replace(sandbox._setup()[1], **changes)
    return sandbox._execute(textwrap.dedent(program.format(d=d)), SMALL, None, setup,
                            shared_dir=os.path.realpath(d) if shared else None)


def exchange(d: str, **changes) -> None:
    import json

    a = run(WRITER, d, True, **changes)
    assert a.status == "passed", a
    b = run(READER, d, True, **changes)
    assert b.status == "passed", b
    assert json.loads(b.stdout)["text"] == "hello"
    assert Path(d, "sub", "from_a.txt").read_text() == "hello back"
    assert Path(d, "from_b.txt").read_text() == "reply"
    if os.geteuid() == 0 and changes.get("drop_uid", True):
        assert json.loads(a.stdout)["uid"] != json.loads(b.stdout)["uid"] != 0  # two uids, neither root's
    c = run(OUTSIDER, d, False, **changes)
    assert c.status == "passed", c
    assert "read it" not in c.stdout and "from_a.txt" not in c.stdout and "sub" not in c.stdout, c.stdout


def test_two_sandboxes_exchange_files_a_third_cannot_see_them():
    with shared_folder(SMALL) as d:
        exchange(d)
    assert not os.path.exists(d)


def test_a_plain_folder_the_caller_made_works_too():
    d = tempfile.mkdtemp(prefix="harness-test-shared-")
    try:
        exchange(d)
    finally:
        remove_tree(d)


def test_landlock_alone_keeps_the_third_out():
    """No mount namespace (so no masks, no tmpfs): Landlock's rules still grant the folder only to the two."""
    require(sandbox.isolation()["landlock"], "Landlock is not available here")
    d = tempfile.mkdtemp(prefix="harness-test-shared-")
    try:
        exchange(d, wrapper=(), tmpfs=False, tasks=False, drop_uid=False)
    finally:
        remove_tree(d)


def test_the_shared_folder_is_bounded_like_a_work_directory():
    """shared_folder() of a root harness is a tmpfs of the limits' size: filling it stops with ENOSPC."""
    require(os.geteuid() == 0, "only a root harness mounts a tmpfs for the shared folder")
    with shared_folder(SMALL) as d:
        r = run(f"open('{d}/big', 'wb').write(b'x' * (12 << 20))", d, True)
    assert r.status == "failed" and "No space left on device" in r.stderr, r


def test_other_layers_hold_for_the_sharing_programs():
    """The folder is the only new right: still no writes to other places, no processes, no sockets."""
    program = """
        import os, socket
        out = []
        for attempt in (lambda: open("/tmp/escaped.txt", "w"), os.fork, lambda: socket.socket(socket.AF_INET)):
            try:
                attempt()
                out.append("allowed")
            except OSError:
                out.append("denied")
        print(out)
    """
    with shared_folder(SMALL) as d:
        r = run(program, d, True)
    assert r.status == "passed" and r.stdout.strip() == "['denied', 'denied', 'denied']", r
    assert not os.path.exists("/tmp/escaped.txt")


def test_a_missing_shared_folder_is_one_line():
    r = run_python("print(1)", SMALL, shared_dir="/nonexistent/harness-shared")
    assert r.status == "error" and r.stderr == "sandbox: the shared folder '/nonexistent/harness-shared' does not exist"


@pytest.fixture(autouse=True)
def _probe() -> None:
    sandbox._setup()
