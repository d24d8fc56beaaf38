"""`harness bench`: the figures from hand-worked timings (percentiles, TPOT, goodput), the streaming client's timing
of each chunk through real HTTP against the fake OpenAI-compatible server (a scripted clock makes the times exact),
whole runs on the fake server and on the tiny model (hf), the results file against its schema, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from needs import require
from test_openai_backend import FakeServer

from harness.bench import client as bench_client
from harness.bench.client import OpenAIClient
from harness.bench.metrics import SLO, RequestRecord, percentile, summarize
from harness.bench.run import arrivals
from harness.bench.workload import BenchPrompt, task_prompts, write_jsonl
from harness.cli import main
from harness.results.bench_schema import SCHEMA_FILE, json_schema_text, validate_bench
from harness.results.schema import SchemaError

try:
    import jsonschema
except ImportError:  # comes with Ray, a test extra
    jsonschema = None


def _records() -> list[RequestRecord]:
    """Four finished requests and a failed one; seconds."""
    return [
        RequestRecord(0, ttft=0.100, itl=[0.050, 0.050], latency=0.200, prompt_len=10, output_len=3, success=True),
        RequestRecord(1, ttft=0.200, itl=[0.100], latency=0.300, prompt_len=10, output_len=2, success=True),
        RequestRecord(2, ttft=0.300, itl=[], latency=0.300, prompt_len=10, output_len=1, success=True),
        RequestRecord(3, ttft=0.400, itl=[0.200, 0.200, 0.200], latency=1.000, prompt_len=10, output_len=4, success=True),
        RequestRecord(4, error="HTTP 500: boom"),
    ]


def test_figures_worked_by_hand() -> None:
    s = summarize(_records(), 2.0, SLO(ttft_ms=350, tpot_ms=120))
    assert (s["requests"], s["completed"], s["failed"]) == (5, 4, 1)
    assert s["output_tokens"] == 10 and s["input_tokens"] == 40  # the failed request counts neither
    assert s["request_throughput"] == pytest.approx(2.0) and s["output_tokens_per_s"] == pytest.approx(5.0)
    assert s["total_tokens_per_s"] == pytest.approx(25.0)
    # TTFT 100, 200, 300, 400 ms: p50 between ranks 2 and 3, p90 at rank 2.7 of 0..3, p99 at 2.97
    assert [s["ttft_ms"][k] for k in ("mean", "p50", "p90", "p99", "n")] == pytest.approx([250, 250, 370, 397, 4])
    # TPOT (latency - TTFT) / (tokens - 1): 50, 100, (none for one token), 200 ms
    assert [s["tpot_ms"][k] for k in ("p50", "p90", "p99", "n")] == pytest.approx([100, 180, 198, 3])
    # ITL pooled: 50, 50, 100, 200, 200, 200 ms
    assert [s["itl_ms"][k] for k in ("p50", "p90", "n")] == pytest.approx([150, 200, 6])
    assert [s["e2el_ms"][k] for k in ("p50", "p90")] == pytest.approx([300, 790])
    # goodput: TTFT <= 350 and TPOT <= 120 holds for requests 0, 1 and 2 (one token: TPOT 0), not 3 (TTFT 400)
    assert s["good_requests"] == 3 and s["goodput"] == pytest.approx(1.5)
    tight = summarize(_records(), 2.0, SLO(ttft_ms=350, tpot_ms=120, e2el_ms=250))
    assert tight["good_requests"] == 1 and tight["goodput"] == pytest.approx(0.5)  # only request 0 ends by 250 ms
    assert "goodput" not in summarize(_records(), 2.0, SLO())  # no target, no goodput
    assert s["errors"] == ["HTTP 500: boom"]


def test_percentile_matches_numpy() -> None:
    np = pytest.importorskip("numpy")
    xs = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.0]
    for p in (0, 10, 50, 90, 99, 100):
        assert percentile(xs, p) == pytest.approx(float(np.percentile(xs, p)))


def test_poisson_arrivals_have_the_asked_rate() -> None:
    a = arrivals(4000, 8.0, 1.0, seed=3)
    assert a[0] == 0 and a == sorted(a) and a == arrivals(4000, 8.0, 1.0, seed=3)
    gaps = [y - x for x, y in zip(a, a[1:])]
    mean = sum(gaps) / len(gaps)
    assert mean == pytest.approx(1 / 8, rel=0.05)
    cv = (sum((g - mean) ** 2 for g in gaps) / len(gaps)) ** 0.5 / mean
    assert cv == pytest.approx(1.0, abs=0.06)  # exponential gaps: standard deviation = mean
    assert arrivals(3, float("inf"), 1.0, 0) == [0.0, 0.0, 0.0]


def test_client_times_each_streamed_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three streamed chunks and a usage chunk; the clock is read at sending and at each chunk with output."""
    server = FakeServer()
    server.reply = lambda body: {"text": "你好世界啊", "finish_reason": "length", "prompt_tokens": 12, "completion_tokens": 5}
    try:
        ticks = iter([10.0, 10.25, 10.30, 10.45])
        monkeypatch.setattr(bench_client, "clock", lambda: next(ticks))
        c = OpenAIClient(server.url, "tiny", ignore_eos=True)
        rec = c.send(0, BenchPrompt("题目", 5))
    finally:
        server.close()
    assert rec.success and rec.ttft == pytest.approx(0.25) and rec.itl == pytest.approx([0.05, 0.15])
    assert rec.latency == pytest.approx(0.45) and (rec.output_len, rec.prompt_len) == (5, 12)
    (body,) = server.posts("/v1/completions")
    assert body["max_tokens"] == 5 and body["ignore_eos"] is True and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True} and body["temperature"] == 0.0
    s = summarize([rec], 1.0, SLO(tpot_ms=50.1))
    assert s["tpot_ms"]["p50"] == pytest.approx(50.0) and s["good_requests"] == 1  # (450 - 250) / 4


def test_bench_against_a_streaming_server(tmp_path: Path) -> None:
    server = FakeServer()
    server.delay = 0.02
    server.reply = lambda body: {"text": "一二三四五六", "finish_reason": "length", "prompt_tokens": 9,
                                 "completion_tokens": body["max_tokens"]}
    prompts = tmp_path / "prompts.jsonl"
    write_jsonl([BenchPrompt(f"问题{i}", 3 + i % 2) for i in range(6)], prompts)
    out = tmp_path / "bench.json"
    try:
        assert main(["bench", "--backend", "openai", "--base-url", server.url, "--model", "tiny", "--prompts", str(prompts),
                     "--concurrency", "2", "--request-rate", "50", "--max-concurrency", "3", "--slo-ttft-ms", "0.001",
                     "--warmup", "0", "--no-progress", "-o", str(out)]) == 0
    finally:
        server.close()
    doc = json.loads(out.read_text(encoding="utf-8"))
    validate_bench(doc)
    assert [s["name"] for s in doc["scenarios"]] == ["concurrency=2", "rate=50"]
    for s in doc["scenarios"]:
        assert s["completed"] == 6 and s["failed"] == 0
        assert s["output_tokens"] == 3 * 3 + 3 * 4 and s["input_tokens"] == 6 * 9  # the server's usage
        assert s["itl_ms"]["n"] == 6 * 2  # three chunks of two characters each: two gaps per request
        assert s["good_requests"] == 0 and s["goodput"] == 0  # nobody answers in a microsecond
    assert doc["scenarios"][1]["request_rate"] == 50 and doc["scenarios"][1]["max_concurrency"] == 3
    assert doc["accelerator"]["kind"] == "remote" and doc["workload"]["source"] == "file"
    bodies = server.posts("/v1/completions")
    assert len(bodies) == 12 and sorted(b["prompt"] for b in bodies[:6]) == sorted(f"问题{i}" for i in range(6))
    assert server.max_in_flight <= 3


def test_bench_tiny_model_hf(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    assert main(["bench", "--model", str(tiny_models["qwen2"]), "--input-len", "16", "--output-len", "4",
                 "--num-prompts", "6", "--offline", "--concurrency", "2", "--ignore-eos", "--batch-size", "4",
                 "--warmup", "0", "--slo-ttft-ms", "60000", "--no-progress", "-o", str(out)]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    validate_bench(doc)
    assert doc["accelerator"]["kind"] == "cpu" and doc["devices"] == 1
    assert doc["model"]["name"] == "tiny-qwen2"  # as `harness eval` names it: the leaderboard puts the two together
    assert doc["workload"]["input_len"] == {"mean": 16, "min": 16, "max": 16}
    for s in doc["scenarios"]:
        assert (s["completed"], s["output_tokens"], s["input_tokens"]) == (6, 24, 96)  # exact lengths: --ignore-eos
        assert (s["ttft_ms"]["n"], s["tpot_ms"]["n"], s["itl_ms"]["n"]) == (6, 6, 18)
        assert s["good_requests"] == 6 and s["goodput"] == pytest.approx(s["request_throughput"])
        assert s["per_accelerator"]["output_tokens_per_s"] == pytest.approx(s["output_tokens_per_s"])
        assert s["ttft_ms"]["p50"] <= s["e2el_ms"]["p50"]


def test_task_prompts_are_the_tasks_own(data_dir: Path) -> None:
    from harness.tasks.task import Task, discover_tasks

    prompts = task_prompts(["cmath", "ceval"], None, data_dir, 4, None, seed=1)
    assert [p.source for p in prompts] == ["cmath", "ceval", "cmath", "ceval"]  # spread over the tasks
    cmath = Task.load(discover_tasks()["cmath"])
    assert prompts[0].output_len == cmath.spec.generation.max_new_tokens
    drawn = cmath.samples(data_dir, limit=2, seed=1)
    assert [p.text for p in prompts if p.source == "cmath"] == [cmath.prompt(s, {}, 0, "generate").prompt for s in drawn]
    assert drawn[0].question in prompts[0].text


def test_schema_file_is_current_and_strict(tmp_path: Path) -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == json_schema_text(), "python -m harness.results.bench_schema --write"
    doc: dict[str, Any] = {"bench_schema_version": 1, "kind": "harness-bench", "finished_at": "2026-12-01T00:00:00+00:00",
                           "model": {"name": "m", "backend": "hf"}, "workload": {"source": "random", "num_prompts": 1},
                           "scenarios": [{"name": "offline", **summarize(_records(), 2.0)}]}
    validate_bench(doc)
    bad = json.loads(json.dumps(doc))
    bad["scenarios"][0]["output_tokens_per_s"] = "5"
    with pytest.raises(SchemaError, match="scenarios.0.output_tokens_per_s"):
        validate_bench(bad)
    require(jsonschema is not None, "jsonschema (installed with Ray, a test extra) is not installed")
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.validate(doc, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


@pytest.mark.parametrize("args, says", [
    (["--backend", "openai", "--model", "m", "--input-len", "4", "--output-len", "2"], "--base-url"),
    (["--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--input-len", "4"], "cannot reach"),
    (["--model", "m", "--input-len", "4", "--tasks", "cmath"], "one prompt source"),
])
def test_bad_input_is_one_line(args: list[str], says: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["bench", *args, "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and says in err and "\n" not in err
