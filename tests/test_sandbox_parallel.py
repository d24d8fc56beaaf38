"""Sandboxed checks run concurrently (issue 14, item 4): through a whole `harness eval` over the fake OpenAI
server, up to --sandbox-workers checks run at once (default: the cores), the items waiting for theirs stay
bounded, every item is still written once with its own result, and the results record the worker count."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from test_openai_backend import FakeServer

import harness.sandbox.protocol as protocol
from harness.cli import main
from harness.run.dispatch import Dispatcher
from harness.sandbox.core import limits

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("workers", [1, 3, None])
def test_checks_run_at_once_up_to_the_limit(workers: int | None, data_dir: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeServer()
    server.reply = lambda body: {"text": "    return None\n", "finish_reason": "stop", "stop_reason": None}
    lock = threading.Lock()
    running, peak = [0], [0]
    real = protocol.run_check

    def slow_check(check: protocol.Check, limits) -> protocol.CheckResult:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.3)  # long enough for the others to start, if they may
            return real(check, limits)
        finally:
            with lock:
                running[0] -= 1

    waiting: list[int] = []
    finish_soon = Dispatcher._finish_soon

    def watched(self: Dispatcher, *args) -> None:
        finish_soon(self, *args)
        waiting.append(len(self._waiting))

    monkeypatch.setattr(protocol, "run_check", slow_check)
    monkeypatch.setattr(Dispatcher, "_finish_soon", watched)
    flag = ["--sandbox-workers", str(workers)] if workers else []
    try:
        assert main(["eval", "--backend", "openai", "--base-url", server.url, "--model", "tiny", "--tasks", "humaneval_zh",
                     "--limit", "12", "--data-dir", str(data_dir), "--output-dir", str(tmp_path), "--no-progress",
                     "--no-cache", *flag]) == 0
    finally:
        server.close()
    expected = workers or protocol.default_workers()
    assert peak[0] == min(expected, 12)
    assert len(waiting) == 12 and max(waiting) <= 4 * expected  # items waiting for their checks stay few
    (path,) = tmp_path.rglob("*.json")
    results = json.loads(path.read_text(encoding="utf-8"))
    assert results["sandbox"]["workers"] == expected and results["sandbox"]["protocol"] == protocol.PROTOCOL
    assert results["sandbox"]["limits"] == limits() and "weak" not in results["sandbox"]  # what held, recorded
    lines = [json.loads(x) for x in (path.parent / results["samples_file"]).read_text(encoding="utf-8").splitlines()]
    assert len({s["sample_id"] for s in lines}) == 12 == len(lines)
    assert all(s["execution"][0]["status"] == "failed" and s["execution"][0]["reason"] for s in lines)
    assert results["tasks"]["humaneval_zh"]["metrics"]["statuses"] == {"failed": 12}


def test_sandbox_workers_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["eval", "--model", "x", "--tasks", "humaneval_zh", "--sandbox-workers", "0"])
    assert "--sandbox-workers" in capsys.readouterr().err
