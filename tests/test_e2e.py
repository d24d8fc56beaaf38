"""`harness eval` end to end on tiny qwen2, llama (Yi) and glm4 models over slices of the real C-Eval and CMMLU,
checking the results file against the contract and recomputing its scores from the per-sample JSONL."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from harness.cli import main
from harness.results.files import read_samples

pytestmark = pytest.mark.slow
ARCHS = ["qwen2", "llama", "glm4"]


def _eval(args: list[str], out: Path) -> tuple[dict, list[dict]]:
    assert main(["eval", *args, "--output-dir", str(out), "--no-progress"]) == 0
    (results_file,) = [p for p in out.rglob("*.json")]
    results = json.loads(results_file.read_text(encoding="utf-8"))
    samples = read_samples(results_file.parent / results["samples_file"])
    return results, samples


@pytest.fixture(scope="module", params=ARCHS)
def run(request: pytest.FixtureRequest, tiny_models: dict[str, Path], data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[dict]]:
    out = tmp_path_factory.mktemp(f"results-{request.param}")
    args = ["--model", str(tiny_models[request.param]), "--tasks", "ceval,cmmlu", "--data-dir", str(data_dir), "--limit", "30", "--num-fewshot", "2"]
    return _eval(args, out)


def test_results_file_contract(run: tuple[dict, list[dict]]) -> None:
    results, samples = run
    assert results["schema_version"] == 2
    m = results["model"]
    for key in ("name", "source", "dtype", "backend", "chat_template_hash", "weights", "architecture"):
        assert key in m
    assert m["backend"] == "hf" and m["dtype"] == "float32" and len(m["weights"]["sha256"]) == 64
    assert results["harness"]["version"] and results["environment"]["torch"] and results["environment"]["transformers"]
    assert results["command"][:2] == ["harness", "eval"]
    tp = results["throughput"]
    for key in ("model_load_seconds", "prompt_tokens", "generated_tokens", "seconds", "prompt_tokens_per_s",
                "generated_tokens_per_s", "samples_per_s", "batch_size", "peak_memory_bytes"):
        assert key in tp
    assert tp["accelerator"]["kind"] == "cpu" and tp["accelerator"]["count"] == 1 and tp["accelerator"]["name"]
    assert tp["samples"] == 60 and tp["prompt_tokens"] > 0 and tp["peak_memory_bytes"] > 0
    for name in ("ceval", "cmmlu"):
        t = results["tasks"][name]
        assert t["n_samples"] == 30 and t["num_fewshot"] == 2 and t["mode"] == "likelihood"
        assert t["version"] == 1 and len(t["prompt_hash"]) == 16 and len(t["template_hash"]) == 16
        assert t["data"]["origin"] == "local" and all(len(h) == 64 for h in t["data"]["files"].values())
        assert t["throughput"]["samples"] == 30 and t["throughput"]["prompt_tokens"] > 0
        assert 0 <= t["metrics"]["accuracy"] <= 100
    groups = results["tasks"]["ceval"]["aggregate"]["groups"]["group"]
    assert set(groups) <= {"STEM", "Social Science", "Humanities", "Other"} and len(groups) >= 3
    assert "China specific" in results["tasks"]["cmmlu"]["aggregate"]["groups"]["group"]
    assert results["tasks"]["ceval"]["description_zh"].startswith("C-Eval：")  # the leaderboard's Chinese pages
    assert len(samples) == 60


def test_samples_are_complete_and_consistent(run: tuple[dict, list[dict]]) -> None:
    _, samples = run
    for s in samples:
        assert {"task", "sample_id", "prompt", "target", "prediction", "correct", "logprobs"} <= set(s)
        assert set(s["logprobs"]) == {"A", "B", "C", "D"}
        assert s["prediction"] == max(s["logprobs"], key=s["logprobs"].get)
        assert s["correct"] == (s["prediction"] == s["target"])
        assert s["one_pass"] is True
        header = "以下是中国关于" if s["task"] == "ceval" else "以下是关于"
        assert s["prompt"].startswith(header)
        assert s["prompt"].endswith("答案：" if s["task"] == "ceval" else "答案是：")
    assert len({(s["task"], s["sample_id"]) for s in samples}) == len(samples)


def test_scores_recomputed_from_samples(run: tuple[dict, list[dict]]) -> None:
    """Macro average over subjects, recomputed independently from the JSONL, equals the reported score."""
    results, samples = run
    for name in ("ceval", "cmmlu"):
        per_subject: dict[str, list[bool]] = defaultdict(list)
        for s in samples:
            if s["task"] == name:
                per_subject[s["meta"]["subset"]].append(s["correct"])
        macro = 100 * sum(sum(v) / len(v) for v in per_subject.values()) / len(per_subject)
        assert results["tasks"][name]["metrics"]["accuracy"] == pytest.approx(macro)


def test_same_run_twice_gives_same_scores(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path) -> None:
    args = ["--model", str(tiny_models["qwen2"]), "--tasks", "ceval", "--data-dir", str(data_dir), "--limit", "12"]
    a, sa = _eval(args + ["--batch-size", "1"], tmp_path / "a")
    b, sb = _eval(args + ["--batch-size", "5"], tmp_path / "b")
    assert a["tasks"]["ceval"]["prompt_hash"] == b["tasks"]["ceval"]["prompt_hash"]
    assert a["tasks"]["ceval"]["metrics"]["accuracy"] == b["tasks"]["ceval"]["metrics"]["accuracy"]
    assert [s["prediction"] for s in sa] == [s["prediction"] for s in sb]


def test_generate_mode_with_chat_template(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path) -> None:
    args = ["--model", str(tiny_models["glm4"]), "--tasks", "cmmlu", "--data-dir", str(data_dir), "--limit", "6",
            "--mode", "generate", "--chat-template", "on", "--max-new-tokens", "8"]
    results, samples = _eval(args, tmp_path)
    t = results["tasks"]["cmmlu"]
    assert t["mode"] == "generate" and "unextracted" in t["metrics"]
    assert results["model"]["chat_template_applied"] is True
    assert results["throughput"]["generated_tokens"] > 0
    for s in samples:
        assert s["prompt"].startswith("[gMASK]<sop><|user|>\n以下是关于") and s["prompt"].endswith("<|assistant|>")
        assert "output" in s and s["finish_reason"] in ("eos", "length", "stop")
        assert 1 <= s["generated_tokens"] <= 8


def test_cli_subprocess_prints_summary(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "harness.cli", "eval", "--model", str(tiny_models["llama"]), "--tasks", "ceval",
           "--data-dir", str(data_dir), "--limit", "5", "--output-dir", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "ceval" in proc.stdout and ("STEM" in proc.stdout or "Humanities" in proc.stdout)
    assert "results:" in proc.stdout and "tok/s" in proc.stdout
    # stderr is a pipe, as in CI or `| tee log`: plain progress lines, no redrawn bar (tests/test_newcomer.py)
    assert "eval: 5 items to do" in proc.stderr and "eval: 5/5 items (100%) in " in proc.stderr, proc.stderr
    assert "\r" not in proc.stderr
