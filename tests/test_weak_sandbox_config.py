"""--allow-weak-sandbox is part of the run's configuration (EvalConfig.allow_weak_sandbox), not only a switch the CLI
flips in its own process: harness.evaluate() callers can pass it, and Ray workers, which run run_eval in processes
of their own with the driver's config, get it. Before, only the CLI's process was allowed, so a Ray worker on a
machine missing a layer refused the run the user had allowed, and the Python API could not allow it at all."""

from __future__ import annotations

from pathlib import Path

import pytest

import harness
from harness.errors import HarnessError
from harness.sandbox import core as sandbox


@pytest.fixture
def weak(monkeypatch: pytest.MonkeyPatch):
    """This machine's sandbox with Landlock forced missing, and nothing allowed yet."""
    layers, setup, held = sandbox._setup()
    monkeypatch.setattr(sandbox, "_probed", ({**layers, "landlock": False}, setup, held))
    monkeypatch.setattr(sandbox, "_allow_weak", False)


def test_the_python_api_takes_allow_weak_sandbox(weak, data_dir: Path, tmp_path: Path) -> None:
    from test_openai_backend import FakeServer

    server = FakeServer()
    server.reply = lambda body: {"text": "    return None\n", "finish_reason": "stop", "stop_reason": None}
    options = dict(backend="openai", base_url=server.url, limit=2, progress=False)
    try:
        with pytest.raises(HarnessError, match="pass --allow-weak-sandbox to run it anyway"):
            harness.evaluate("tiny", ["humaneval_zh"], data_dir=data_dir, **options)
        result = harness.evaluate("tiny", ["humaneval_zh"], data_dir=data_dir, allow_weak_sandbox=True, **options)
    finally:
        server.close()
    assert result.results.sandbox is not None
    block = result.results.sandbox
    assert block["landlock"] is False and block["weak"] == ["landlock"]
    assert result.scores["humaneval_zh"] == 0.0  # `return None` passes no HumanEval test
