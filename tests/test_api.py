"""The Python API, used as a notebook user would: only `import harness` and what it exports.

A run without output_dir writes nothing that stays (the temporary folder is gone, no response cache); its scores are
recomputed from its per-item records; a run with output_dir keeps the same files `harness eval` writes, with the
same scores as the command line for the same settings."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

import harness
from harness.cli import main
from harness.errors import HarnessError

pytestmark = pytest.mark.slow


def test_evaluate_returns_scores_and_samples_and_leaves_no_files(tiny_models: dict[str, Path], data_dir: Path,
                                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    result = harness.evaluate(str(tiny_models["qwen2"]), ["ceval", "cmmlu"], data_dir=data_dir, limit=12, num_fewshot=0)
    assert isinstance(result, harness.EvalResult) and result.path is None
    assert list(scratch.iterdir()) == [] and not cache.exists()  # nothing written that stays
    assert set(result.scores) == {"ceval", "cmmlu"}
    for task in ("ceval", "cmmlu"):
        rows = result.samples(task)
        assert len(rows) == 12 == result.tasks[task].n_samples
        recomputed = 100 * sum(r["metrics"]["accuracy"] for r in rows) / len(rows)
        assert result.scores[task] == pytest.approx(recomputed)
    assert len(result.samples()) == 24
    assert result.throughput is not None and result.throughput.prompt_tokens > 0
    assert result.categories == {} and result.overall is None  # tasks, not a suite


def test_evaluate_with_output_dir_matches_the_cli(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path) -> None:
    args = dict(limit=10, num_fewshot=1, seed=7)
    api = harness.evaluate(str(tiny_models["llama"]), "ceval", data_dir=str(data_dir), output_dir=tmp_path / "api", **args)
    assert api.path is not None and api.path.is_file() and api.path.is_relative_to(tmp_path / "api")
    assert json.loads(api.path.read_text(encoding="utf-8"))["tasks"]["ceval"]["score"] == api.scores["ceval"]
    assert len(api.samples("ceval")) == 10
    assert main(["eval", "--model", str(tiny_models["llama"]), "--tasks", "ceval", "--data-dir", str(data_dir),
                 "--limit", "10", "--num-fewshot", "1", "--seed", "7", "--output-dir", str(tmp_path / "cli"),
                 "--no-progress"]) == 0
    (cli_file,) = (tmp_path / "cli").rglob("*.json")
    assert json.loads(cli_file.read_text(encoding="utf-8"))["tasks"]["ceval"]["score"] == api.scores["ceval"]


def test_evaluate_suite_categories(tiny_models: dict[str, Path], data_dir: Path) -> None:
    result = harness.evaluate(str(tiny_models["qwen2"]), suite="superclue-objective", tasks=["ceval", "cmmlu"],
                              data_dir=data_dir, limit=4, num_fewshot=0)
    assert result.categories and all(v is None or 0 <= v <= 100 for v in result.categories.values())


def test_bad_options_are_one_line_errors(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="unknown option limt; did you mean limit"):
        harness.evaluate(str(tiny_models["qwen2"]), ["ceval"], data_dir=data_dir, limt=5)
    with pytest.raises(HarnessError, match="data_dir .*no such folder"):
        harness.evaluate(str(tiny_models["qwen2"]), ["ceval"], data_dir=tmp_path / "missing")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(HarnessError, match="output_dir"):
        harness.evaluate(str(tiny_models["qwen2"]), ["ceval"], data_dir=data_dir, output_dir=tmp_path / "a-file")
    with pytest.raises(HarnessError, match="task nope: not in this run"):
        _fake_result().samples("nope")


def _fake_result() -> harness.EvalResult:
    from harness.results.schema import validate_results

    raw = {"schema_version": 2, "model": {"name": "m"}, "tasks": {"ceval": {"version": 1, "n_samples": 0, "score": None}}}
    return harness.EvalResult(validate_results(raw), raw, None, None, [])
