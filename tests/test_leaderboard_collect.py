"""Collecting and ranking results files written by the test, with ranks and ties computed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.leaderboard.collect import latest_scores, load_results, rows

CATS = {"knowledge": ["ceval", "cmmlu"], "reasoning": ["logiqa_zh"]}


def write(folder: Path, model: str, when: str, tasks: dict[str, tuple], kind: str = "cuda") -> None:
    """tasks: name -> (score, stderr, version, prompt_hash)."""
    data = {
        "schema_version": 1, "finished_at": when,
        "model": {"name": model, "family": model.split("-")[0], "type": "chat"},
        "throughput": {"accelerator": {"kind": kind, "name": "H100" if kind == "cuda" else "Xeon"}},
        "tasks": {n: {"score": s, "score_stderr": se, "version": v, "template_hash": h, "n_samples": 100,
                      "category": "knowledge"} for n, (s, se, v, h) in tasks.items()},
    }
    path = folder / model / f"{when}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture
def results(tmp_path: Path) -> Path:
    # a: knowledge (80 + 60) / 2 = 70, reasoning 50 -> total 60
    write(tmp_path, "a-7b", "2026-01-01", {"ceval": (80, 1, 1, "p1"), "cmmlu": (60, 1, 1, "q1"), "logiqa_zh": (50, 2, 1, "r1")})
    # b: an old run, then a newer one that replaces it: knowledge 70, reasoning 50 -> total 60 (ties a exactly)
    write(tmp_path, "b-7b", "2026-01-01", {"ceval": (10, 1, 1, "p1"), "cmmlu": (10, 1, 1, "q1"), "logiqa_zh": (10, 1, 1, "r1")})
    write(tmp_path, "b-7b", "2026-02-01", {"ceval": (70, 1, 1, "p1"), "cmmlu": (70, 1, 1, "q1"), "logiqa_zh": (50, 2, 1, "r1")}, kind="cpu")
    # c: knowledge 59, reasoning 60 -> total 59.5: within the combined standard error of 60, so a statistical tie
    write(tmp_path, "c-9b", "2026-01-05", {"ceval": (59, 1, 1, "p1"), "cmmlu": (59, 1, 1, "q1"), "logiqa_zh": (60, 2, 1, "r1")})
    # d: only ceval, under a newer task version and another prompt: its own column; knowledge 90 -> total 90
    write(tmp_path, "d-1b", "2026-03-01", {"ceval": (90, 0.1, 2, "p2")})
    # e: far behind: total (20 + 10) / 2 = 15
    write(tmp_path, "e-1b", "2026-01-01", {"ceval": (20, 1, 1, "p1"), "logiqa_zh": (10, 1, 1, "r1")})
    (tmp_path / "notes.json").write_text('{"not": "a results file"}')
    (tmp_path / "x.samples.jsonl").write_text("{}\n")
    return tmp_path


def test_load_ignores_other_files(results: Path) -> None:
    assert len(load_results(results)) == 6
    with pytest.raises(HarnessError, match="not found"):
        load_results(results / "missing")


def test_latest_run_per_model_task_and_version(results: Path) -> None:
    best = latest_scores(load_results(results))
    assert best["b-7b"]["ceval@v1"].score == 70  # the February run replaced January's
    assert set(best["d-1b"]) == {"ceval@v2"}  # a new task version is a column of its own
    assert "ceval@v2" not in best["a-7b"]


def test_ranks_ties_and_totals_by_hand(results: Path) -> None:
    table = rows(load_results(results), CATS)
    got = [(r.model, r.rank, r.total, r.tied_with_previous) for r in table]
    assert got == [
        ("d-1b", 1, 90.0, False),
        ("a-7b", 2, 60.0, False),   # 30 points below d: no tie
        ("b-7b", 2, 60.0, True),    # equal total: same rank
        ("c-9b", 4, 59.5, True),    # 0.5 below, combined stderr > 0.5: a statistical tie
        ("e-1b", 5, 15.0, False),
    ]
    a = next(r for r in table if r.model == "a-7b")
    assert a.categories == {"knowledge": 70.0, "reasoning": 50.0}
    # total stderr: category variances (1+1)/4 = 0.5 and 4/1 = 4, sqrt(4.5) / 2
    assert a.total_stderr == pytest.approx(4.5**0.5 / 2)
    b = next(r for r in table if r.model == "b-7b")
    assert b.accelerators == {"cuda:H100", "cpu:Xeon"}


def test_rows_without_scores_rank_last(results: Path, tmp_path: Path) -> None:
    write(results, "f-0b", "2026-01-01", {"other_task": (99, 1, 1, "z")})
    table = rows(load_results(results), CATS)
    assert table[-1].model == "f-0b" and table[-1].rank is None and table[-1].total is None


def test_changed_prompt_is_flagged(results: Path) -> None:
    # a newer run of cmmlu v1 by another model with a different prompt: a's older-prompt score is flagged
    write(results, "g-3b", "2026-04-01", {"cmmlu": (40, 1, 1, "q2")})
    table = {r.model: r for r in rows(load_results(results), CATS)}
    assert any("cmmlu@v1" in f and "prompt setup differs" in f for f in table["a-7b"].flags)
    assert table["g-3b"].flags == []
