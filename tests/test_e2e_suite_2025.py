"""`harness eval --suite superclue-2025 --judge-model ...` end to end on tiny models: all seventeen tasks of the six
2025 dimensions run (math checked as mathematics, code and CPIFOpen in the sandbox, tool calls parsed, judged tasks
through the scripted tiny judge), every dimension is evaluated, the total follows the suite's rule, and every task
score is recomputed from the per-sample JSONL. The judge-free suite is checked on the same run: it is a subset whose
every dimension still has a task."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from harness.cli import main
from harness.results.files import read_samples
from harness.tasks.suites import aggregate_suite, load_suite

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tiny_models: dict[str, Path], data_dir: Path, scripted_judge: Path,
        tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[dict]]:
    out = tmp_path_factory.mktemp("suite-2025")
    assert main(["eval", "--model", str(tiny_models["qwen2"]), "--suite", "superclue-2025", "--data-dir", str(data_dir),
                 "--judge-model", str(scripted_judge), "--limit", "3", "--max-new-tokens", "12", "--output-dir", str(out),
                 "--no-progress", "--no-cache"]) == 0
    (path,) = out.rglob("*.json")
    results = json.loads(path.read_text(encoding="utf-8"))
    return results, read_samples(path.parent / results["samples_file"])


def test_every_task_ran_and_every_dimension_is_evaluated(run: tuple[dict, list[dict]]) -> None:
    results, samples = run
    suite = load_suite("superclue-2025")
    assert set(results["tasks"]) == set(suite.tasks) and len(suite.tasks) == 17
    s = results["suite"]
    assert list(s["categories"]) == ["math_reasoning", "science_reasoning", "code_generation", "instruction_following",
                                     "hallucination", "agents"]
    num = den = 0.0
    for cid, c in s["categories"].items():
        scored = [results["tasks"][t]["score"] for t in c["tasks"] if results["tasks"][t]["score"] is not None]
        assert c["evaluated"] and scored and c["score"] == pytest.approx(sum(scored) / len(scored)), cid
        assert c["unscored_tasks"] == [t for t in c["tasks"] if results["tasks"][t]["score"] is None]
        num, den = num + c["weight"] * c["score"], den + c["weight"]
    assert s["total"] == pytest.approx(num / den) and s["weight_evaluated"] == s["weight_all"] == 6
    judged = {t for t, r in results["tasks"].items() if r["answer_type"] == "judged"}
    assert judged == {"gaokao_science_open", "cfbench", "followbench_zh", "chinese_simpleqa", "halluqa"}
    assert results["judge"]["model"]["name"] == "scripted-judge"
    for name, t in results["tasks"].items():
        assert t["score"] is None or 0 <= t["score"] <= 100, name
    # ACEBench's agent scenarios are excluded and counted, never scored
    assert sum(e["count"] for e in results["tasks"]["acebench_normal_zh"]["context"]["excluded"].values()) == 50


def _mean(rows: list[dict], metric: str) -> float:
    return sum(s["metrics"][metric] * s["weight"] for s in rows) / sum(s["weight"] for s in rows)


def test_task_scores_recomputed_from_samples(run: tuple[dict, list[dict]]) -> None:
    """Every task with a score, from its samples: the weighted mean of the primary metric (macro: the mean over the
    cells of the task's first group key, e.g. FollowBench's subset+level); Chinese SimpleQA's F-score from its
    correct and incorrect shares, as upstream computes it."""
    results, samples = run
    by_task: dict[str, list[dict]] = defaultdict(list)
    for s in samples:
        by_task[s["task"]].append(s)
    checked = 0
    for name, t in results["tasks"].items():
        metric = t["primary_metric"]
        if metric == "f_score":
            rows = [s for s in by_task[name] if "correct" in (s.get("metrics") or {})]
            co, inc = _mean(rows, "correct"), _mean(rows, "incorrect")
            cga = co / (co + inc) if co + inc else 0.0
            expected = 100 * (2 * co * cga / (co + cga) if co + cga else 0.0)
            assert t["score"] == pytest.approx(expected), name
            checked += 1
            continue
        rows = [s for s in by_task[name] if metric in (s.get("metrics") or {})]
        if t["score"] is None:
            assert rows == [], name  # nothing scored, so nothing to average
            continue
        if t["aggregate"]["rule"] == "macro":
            key = next(iter(t["aggregate"]["groups"])).split("+")  # the first group key: the macro cells
            per: dict[str, list[dict]] = defaultdict(list)
            for s in rows:
                per["+".join(str(s["meta"][k]) for k in key)].append(s)
            expected = 100 * sum(_mean(v, metric) for v in per.values()) / len(per)
        else:
            expected = 100 * _mean(rows, metric)
        assert t["score"] == pytest.approx(expected), name
        checked += 1
    assert checked >= 10  # at least every judge-free task


def test_the_objective_suite_is_a_judge_free_subset(run: tuple[dict, list[dict]]) -> None:
    results, _ = run
    objective = load_suite("superclue-2025-objective")
    full = load_suite("superclue-2025")
    assert set(objective.tasks) < set(full.tasks)
    assert all(results["tasks"][t]["answer_type"] != "judged" for t in objective.tasks)
    assert [c.id for c in objective.categories] == [c.id for c in full.categories]
    out = aggregate_suite(objective, {t: results["tasks"][t] for t in objective.tasks})
    assert all(c["evaluated"] for c in out["categories"].values()) and out["weight_evaluated"] == 6
