"""`harness eval --suite superclue --judge-model ...` end to end on tiny models: every task of every category runs
(code in the sandbox, judged tasks through the scripted tiny judge), category scores and the total follow the
suite's rule, and every task score can be recomputed from the per-sample JSONL."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import SUPERCLUE_LIMIT

from harness.cli import main
from harness.results.files import read_samples
from harness.tasks.suites import load_suite

pytestmark = pytest.mark.slow


def _run(tmp: Path, model: Path, data_dir: Path, *extra: str, suite: str = "superclue") -> tuple[dict, list[dict]]:
    args = ["eval", "--model", str(model), "--suite", suite, "--data-dir", str(data_dir), "--limit", "4",
            "--max-new-tokens", "12", "--output-dir", str(tmp), "--no-progress", *extra]
    assert main(args) == 0
    (path,) = tmp.rglob("*.json")
    results = json.loads(path.read_text(encoding="utf-8"))
    return results, read_samples(path.parent / results["samples_file"])


@pytest.fixture(scope="module")
def suite_run(superclue_qwen2_run: Path) -> tuple[dict, list[dict]]:
    """The session's superclue run of the tiny qwen2 with the scripted judge (conftest.py; the browser tests
    build their board from it too)."""
    (path,) = superclue_qwen2_run.glob("*.json")
    results = json.loads(path.read_text(encoding="utf-8"))
    return results, read_samples(path.parent / results["samples_file"])


def test_every_suite_task_ran(suite_run: tuple[dict, list[dict]]) -> None:
    results, samples = suite_run
    suite = load_suite("superclue")
    assert set(results["tasks"]) == set(suite.tasks)
    assert len(samples) == sum(t["n_samples"] for t in results["tasks"].values()) == SUPERCLUE_LIMIT * len(suite.tasks)
    for name, t in results["tasks"].items():
        assert 0 <= t["score"] <= 100, name
        assert t["mode"] in ("likelihood", "generate")
    assert results["tasks"]["cmrc2018"]["primary_metric"] == "f1"
    assert {"f1", "exact_match"} <= set(results["tasks"]["cmrc2018"]["metrics"])
    assert results["tasks"]["gaokao"]["mode"] == "generate" and results["tasks"]["ceval"]["mode"] == "likelihood"


def test_category_scores_and_total_follow_the_rule(suite_run: tuple[dict, list[dict]]) -> None:
    results, _ = suite_run
    s = results["suite"]
    assert s["name"] == "superclue" and "mean" in s["rule"]
    num = den = 0.0
    for cid, c in s["categories"].items():
        scores = [results["tasks"][t]["score"] for t in c["tasks"]]
        assert c["evaluated"] and c["score"] == pytest.approx(sum(scores) / len(scores)), cid
        num += c["weight"] * c["score"]
        den += c["weight"]
    assert s["total"] == pytest.approx(num / den)
    assert s["weight_evaluated"] == 9 and s["weight_all"] == 9  # every category filled
    # the scripted judge rates everything 1 of 10 (Flames: 1 of 3, not harmless); BELLE's 0-1 scale gives 100
    judged = {t: results["tasks"][t]["score"] for t in ("alignbench", "belle_eval", "mtbench_zh", "flames", "cvalues")}
    assert judged == {"alignbench": 10.0, "belle_eval": 100.0, "mtbench_zh": 10.0, "flames": 0.0, "cvalues": 10.0}
    assert results["judge"]["model"]["name"] == "scripted-judge"
    assert results["sandbox"] and all(results["sandbox"].values())  # every containment layer was in force


def test_task_scores_recomputed_from_samples(suite_run: tuple[dict, list[dict]]) -> None:
    """Micro tasks: weighted mean of the per-sample primary metric; macro tasks: mean over subsets."""
    results, samples = suite_run
    by_task: dict[str, list[dict]] = defaultdict(list)
    for s in samples:
        by_task[s["task"]].append(s)
    for name, t in results["tasks"].items():
        metric = t["primary_metric"]
        rows = [s for s in by_task[name] if metric in s["metrics"]]  # unparsed verdicts are left out
        assert len(rows) == t["aggregate"]["n"], name
        if t["aggregate"]["rule"] == "macro":
            per: dict[str, list[float]] = defaultdict(list)
            for s in rows:
                per[s["meta"]["subset"]].append(s["metrics"][metric])
            expected = 100 * sum(sum(v) / len(v) for v in per.values()) / len(per)
        else:
            expected = 100 * sum(s["metrics"][metric] * s["weight"] for s in rows) / sum(s["weight"] for s in rows)
        assert t["score"] == pytest.approx(expected), name


def test_generate_samples_record_extraction(suite_run: tuple[dict, list[dict]]) -> None:
    _, samples = suite_run
    gen = [s for s in samples if s["mode"] == "generate"]
    assert gen and all("output" in s and "finish_reason" in s for s in gen)
    for s in gen:
        if s["task"] in ("cmath", "mgsm_zh", "gsm8k_zh") and s["prediction"] is not None:
            assert any(ch.isdigit() for ch in s["prediction"])
        if s["task"] == "gaokao":
            assert s["weight"] > 0 and s["meta"]["type"] in ("single_choice", "multi_choice", "multi_question_choice", "five_out_of_seven")


def test_mode_override_within_a_suite(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path) -> None:
    results, _ = _run(tmp_path, tiny_models["llama"], data_dir, "--tasks", "ceval,cmath,tnews", "--mode", "likelihood")
    assert results["tasks"]["ceval"]["mode"] == "likelihood" and results["tasks"]["tnews"]["mode"] == "likelihood"
    assert results["tasks"]["cmath"]["mode"] == "generate"  # generate-only: keeps its mode, and says so
    assert any("cmath" in n for n in results["notes"])
    assert results["suite"]["categories"]["computation"]["tasks"] == {"cmath": results["tasks"]["cmath"]["score"]}
