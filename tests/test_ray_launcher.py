"""`--launcher ray` on a local Ray cluster the test starts (2 CPUs): two tiny models x several tasks split into
shards, one worker killed mid-shard and retried, and the merged results equal a local run's, sample by sample."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from needs import require

from harness.cli import main
from harness.leaderboard.collect import load_results
from harness.run.launch_ray import FAULT_ENV, shard_tasks

pytestmark = pytest.mark.slow
try:
    import ray
except ImportError:
    ray = None


TASKS = "ceval,cmath,tnews,cluewsc,humaneval_zh"


def _args(data_dir: Path, out: Path, *extra: str) -> list[str]:
    return ["--tasks", TASKS, "--data-dir", str(data_dir), "--limit", "3", "--max-new-tokens", "16",
            "--batch-size", "1", "--output-dir", str(out), "--no-progress", *extra]


def _by_model(out: Path) -> dict[str, tuple[dict[str, Any], dict[tuple[str, str], tuple[Any, ...]]]]:
    got = {}
    for run in load_results(out):
        samples = [json.loads(x) for x in (out / run["_file"]).parent.joinpath(run["samples_file"]).read_text(encoding="utf-8").splitlines()]
        answers = {(s["task"], s["sample_id"]): (s["prediction"], s.get("output"), s.get("logprobs"), s["correct"]) for s in samples}
        assert len(answers) == len(samples)  # no sample twice
        got[run["model"]["name"]] = (run, answers)
    return got


def test_shards_are_round_robin_and_never_empty() -> None:
    assert shard_tasks(["a", "b", "c", "d", "e"], 2) == [["a", "c", "e"], ["b", "d"]]
    assert shard_tasks(["a", "b"], 5) == [["a"], ["b"]]
    assert shard_tasks(["a"], 0) == [["a"]]


@pytest.fixture(scope="module")
def local(tiny_models: dict[str, Path], data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("local")
    models = f"{tiny_models['qwen2']},{tiny_models['llama']}"
    assert main(["eval", "--models", models, *_args(data_dir, out, "--no-cache")]) == 0
    return _by_model(out)


def test_ray_run_with_a_killed_worker_equals_a_local_run(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path,
                                                          local: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    require(ray is not None, "Ray is an optional extra, not installed here: pip install 'harness[ray]'")
    monkeypatch.setenv(FAULT_ENV, "2")  # the first worker to start a shard SIGKILLs itself after 2 samples
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        out = tmp_path / "out"
        models = f"{tiny_models['qwen2']},{tiny_models['llama']}"
        assert main(["eval", "--models", models, "--launcher", "ray", "--shards", "2", *_args(data_dir, out)]) == 0
    finally:
        ray.shutdown()
    (marker,) = out.glob(".shards/*/fault-fired")  # the fault did fire: one worker died mid-shard
    assert marker.exists()
    merged = _by_model(out)
    assert sorted(merged) == sorted(local) == ["tiny-llama", "tiny-qwen2"]
    for name, (run, answers) in merged.items():
        local_run, local_answers = local[name]
        assert run["launcher"]["kind"] == "ray" and len(run["launcher"]["shards"]) == 2
        assert list(run["tasks"]) == TASKS.split(",")
        assert answers == local_answers, name  # every sample, as one process produced it
        for task, t in run["tasks"].items():
            assert t["score"] == local_run["tasks"][task]["score"], (name, task)
            assert t["prompt_hash"] == local_run["tasks"][task]["prompt_hash"], (name, task)
        assert run["throughput"]["samples"] + run["cache"]["hits"] >= 15  # cached answers are not re-measured
    # the retried shard took what its killed worker had finished from the cache
    assert sum(run["cache"]["hits"] for run, _ in merged.values()) >= 2
    # the leaderboard sees one run per model, not the shard files
    assert len(load_results(out)) == 2


def test_ray_needs_a_data_dir(tiny_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--model", str(tiny_models["qwen2"]), "--tasks", "ceval", "--launcher", "ray",
                 "--output-dir", str(tmp_path)]) == 2
    assert "--data-dir" in capsys.readouterr().err
