"""`harness eval --backend openai` and `--judge-backend openai` through the command line, against the fake
OpenAI-compatible server of test_openai_backend.py: chat models get messages (turn 2 with the model's own turn-1
answer), the judge's verdicts come back over HTTP, the key never reaches a file, and the results say where the
model ran. The real server (`vllm serve`) is exercised in tests_vllm/test_openai_server.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_openai_backend import FakeServer

from harness.cli import main


@pytest.fixture
def servers():
    model, judge = FakeServer(key="sk-eval-123"), FakeServer(models=(("judge-70b", "fake-engine"),), key="sk-judge-456")
    model.reply = lambda body: {"text": "我想一想。答案是：3", "finish_reason": "stop", "stop_reason": None}
    judge.reply = lambda body: {"text": "回答尚可。\nRating: [[7]]", "finish_reason": "stop", "stop_reason": None}
    yield model, judge
    model.close()
    judge.close()


def test_eval_and_judge_over_http(servers: tuple[FakeServer, FakeServer], data_dir: Path, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    model, judge = servers
    monkeypatch.setenv("EVAL_KEY", "sk-eval-123")
    monkeypatch.setenv("JUDGE_KEY", "sk-judge-456")
    out = tmp_path / "out"
    assert main(["eval", "--backend", "openai", "--base-url", model.url, "--model", "tiny", "--api-key-env", "EVAL_KEY",
                 "--tasks", "cmath,mtbench_zh", "--limit", "2", "--data-dir", str(data_dir), "--output-dir", str(out),
                 "--judge-backend", "openai", "--judge-base-url", judge.url, "--judge-model", "judge-70b",
                 "--judge-api-key-env", "JUDGE_KEY", "--no-progress"]) == 0
    (path,) = out.rglob("*.json")
    text = path.read_text(encoding="utf-8")
    results = json.loads(text)
    assert results["model"]["backend"] == "openai" and results["model"]["type"] == "chat"
    assert results["throughput"]["accelerator"]["kind"] == "remote"
    assert results["tasks"]["mtbench_zh"]["score"] == pytest.approx(70.0)  # [[7]] of 10, both turns
    assert results["judge"]["backend"] == "openai" and results["judge"]["model"]["name"] == "judge-70b"
    samples = [json.loads(x) for x in (path.parent / results["samples_file"]).read_text(encoding="utf-8").splitlines()]
    assert all(s["prediction"] == "3" for s in samples if s["task"] == "cmath")
    # everything went to the chat endpoint as messages; turn 2 carries the model's own first answer
    chats = model.posts("/v1/chat/completions")
    assert chats and not model.posts("/v1/completions")
    two_turn = [b for b in chats if len(b["messages"]) == 3]
    assert len(two_turn) == 2
    assert two_turn[0]["messages"][1] == {"role": "assistant", "content": "我想一想。答案是：3"}
    assert len(judge.posts("/v1/chat/completions")) == 4  # 2 items x 2 turns
    # keys travel only in the Authorization header: never in results, samples or judgements
    for f in path.parent.iterdir():
        content = f.read_text(encoding="utf-8")
        assert "sk-eval-123" not in content and "sk-judge-456" not in content, f.name
    assert all(r["headers"].get("Authorization") == "Bearer sk-eval-123" for r in model.requests)


def test_raw_text_with_chat_template_off(servers: tuple[FakeServer, FakeServer], data_dir: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = servers
    monkeypatch.setenv("EVAL_KEY", "sk-eval-123")
    assert main(["eval", "--backend", "openai", "--base-url", model.url, "--model", "tiny", "--api-key-env", "EVAL_KEY",
                 "--tasks", "cmath", "--limit", "2", "--data-dir", str(data_dir), "--output-dir", str(tmp_path),
                 "--chat-template", "off", "--no-progress"]) == 0
    assert len(model.posts("/v1/completions")) == 2 and not model.posts("/v1/chat/completions")


def test_server_down_is_one_line(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "tiny",
                 "--tasks", "cmath", "--limit", "1", "--data-dir", str(data_dir), "--output-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "127.0.0.1:9" in err and "\n" not in err
