"""Collecting and ranking results files written by the test, with ranks and ties computed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.leaderboard.collect import (
    Category,
    Cost,
    build,
    categories_from_runs,
    entry_cost,
    latest_scores,
    load_results,
    rows,
    slug,
    task_generation,
)

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
    best = latest_scores(load_results(results))  # keyed by (model, thinking): these runs record no thinking
    assert best[("b-7b", False)]["ceval@v1"].score == 70  # the February run replaced January's
    assert set(best[("d-1b", False)]) == {"ceval@v2"}  # a new task version is a column of its own
    assert "ceval@v2" not in best[("a-7b", False)]


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


def test_older_version_and_smaller_runs_are_flagged(results: Path) -> None:
    table = {r.model: r for r in rows(load_results(results), CATS)}
    # d-1b ran ceval v2: every model still on v1 is told so; d itself is not
    assert any(f.startswith("ceval: scored on v1") for f in table["a-7b"].flags)
    assert not any("scored on" in f for f in table["d-1b"].flags)
    write(results, "h-2b", "2026-05-01", {"logiqa_zh": (30, 1, 1, "r1")})
    data = json.loads((results / "h-2b" / "2026-05-01.json").read_text(encoding="utf-8"))
    data["tasks"]["logiqa_zh"]["n_samples"] = 20
    (results / "h-2b" / "2026-05-01.json").write_text(json.dumps(data), encoding="utf-8")
    table = {r.model: r for r in rows(load_results(results), CATS)}
    assert any("logiqa_zh@v1: 20 items, fewer than the 100" in f for f in table["h-2b"].flags)
    assert not any("items" in f for f in table["a-7b"].flags)


def test_setup_includes_shots_and_mode(results: Path) -> None:
    write(results, "k-1b", "2026-06-01", {"logiqa_zh": (40, 1, 1, "r1")})
    path = results / "k-1b" / "2026-06-01.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["tasks"]["logiqa_zh"]["num_fewshot"] = 5  # same template, more exemplars: not comparable
    path.write_text(json.dumps(data), encoding="utf-8")
    table = {r.model: r for r in rows(load_results(results), CATS)}
    assert any("logiqa_zh@v1: prompt setup differs" in f and "5-shot" in f for f in table["a-7b"].flags)


def test_coverage_and_weighted_total(tmp_path: Path) -> None:
    write(tmp_path, "m-1b", "2026-01-01", {"ceval": (80, 0, 1, "p"), "logiqa_zh": (40, 0, 1, "r")})
    cats = [Category("knowledge", "知识", "Knowledge", ("ceval", "cmmlu"), 3.0),
            Category("reasoning", "推理", "Reasoning", ("logiqa_zh",), 1.0)]
    board = build(load_results(tmp_path), cats)
    (m,) = board.rows
    assert m.coverage == {"knowledge": (1, 2), "reasoning": (1, 1)}
    assert m.total == pytest.approx((3 * 80 + 40) / 4)  # categories weighted as the suite says
    assert [c.key for c in board.categories] == ["knowledge", "reasoning"]
    assert board.columns == ["ceval@v1", "logiqa_zh@v1"]


def test_categories_come_from_suite_blocks_in_order(tmp_path: Path) -> None:
    write(tmp_path, "a-7b", "2026-01-01", {"ceval": (80, 1, 1, "p"), "extra": (10, 1, 1, "x")})
    path = tmp_path / "a-7b" / "2026-01-01.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["tasks"]["extra"]["category"] = "misc"
    data["suite"] = {"categories": {"reasoning": {"zh": "逻辑推理", "en": "Reasoning", "weight": 1.0, "tasks": {"logiqa_zh": None}},
                                    "knowledge": {"zh": "知识百科", "en": "Knowledge", "weight": 2.0, "tasks": {"ceval": 80}}}}
    path.write_text(json.dumps(data), encoding="utf-8")
    cats = categories_from_runs(load_results(tmp_path))
    assert [(c.key, c.zh, c.en, c.tasks, c.weight) for c in cats] == [
        ("reasoning", "逻辑推理", "Reasoning", ("logiqa_zh",), 1.0),
        ("knowledge", "知识百科", "Knowledge", ("ceval",), 2.0),
        ("misc", "misc", "misc", ("extra",), 1.0),  # a task outside any suite gets its own category
    ]


def test_throughput_per_accelerator_and_backend(tmp_path: Path) -> None:
    write(tmp_path, "a-7b", "2026-01-01", {"ceval": (80, 1, 1, "p"), "cmath": (20, 1, 1, "m")})
    path = tmp_path / "a-7b" / "2026-01-01.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["model"].update(backend="vllm", engine={"engine": "vllm", "engine_version": "0.32.0"}, dtype="bfloat16")
    data["throughput"] = {"accelerator": {"kind": "cuda", "name": "NVIDIA H100", "count": 2}, "batch_size": 64,
                          "prompt_tokens_per_s": 5000.0, "samples_per_s": 12.0, "peak_memory_bytes": 2**34,
                          "ttft_s": {"p50": 0.05}, "tpot_s": {"p50": 0.01}, "samples": 200}
    data["tasks"]["ceval"].update(mode="likelihood", throughput={"generated_tokens": 0, "seconds": 9.0})
    data["tasks"]["cmath"].update(mode="generate", throughput={"generated_tokens": 3000, "seconds": 1.5})
    path.write_text(json.dumps(data), encoding="utf-8")
    write(tmp_path, "a-7b", "2026-02-01", {"ceval": (81, 1, 1, "p")}, kind="cpu")
    board = build(load_results(tmp_path))
    (row,) = board.rows
    assert board.throughput_keys == ["2x NVIDIA H100 · vllm", "Xeon · ?"]
    tp = row.throughput["2x NVIDIA H100 · vllm"]
    # generation speed counts only the generate-mode task: 3000 tokens / 1.5 s, not / 10.5 s
    assert tp.generated_tokens_per_s == pytest.approx(2000.0)
    assert (tp.engine, tp.dtype, tp.batch_size, tp.ttft_p50_s, tp.tpot_p50_s) == ("vllm 0.32.0", "bfloat16", 64, 0.05, 0.01)
    assert row.throughput["Xeon · ?"].generated_tokens_per_s is None  # no generate-mode task in that run


def test_slugs_are_file_safe_and_distinct() -> None:
    assert slug("tiny-qwen2") == "tiny-qwen2"
    assert slug("Qwen/Qwen2.5-7B").startswith("qwen-qwen2.5-7b-")
    assert slug("Qwen/Qwen2.5-7B") != slug("qwen-qwen2.5-7b")
    assert slug("../../etc") .count("/") == 0 and not slug("../x").startswith(".")
    assert slug("<script>") .replace("-", "").isalnum()


def write_thinking(folder: Path, model: str, when: str, thinking: object, tasks: dict[str, dict]) -> None:
    """A results file whose model block records `thinking` (any value, garbage included) and full task blocks."""
    data = {"schema_version": 1, "finished_at": when, "tasks": tasks,
            "model": {"name": model, "family": "qwen3", "type": "chat", "thinking": thinking}}
    path = folder / model / f"{when}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def gen_task(score: float, generations: int, generated: int, tokens_per_correct: object, reasoning: int | None,
             unfinished: int, category: str = "reasoning", mode: str = "generate") -> dict:
    th = {"generations": generations, "generated_tokens": generated, "tokens_per_correct": tokens_per_correct,
          "unfinished_reasoning": unfinished, "with_reasoning": generations}
    if reasoning is not None:
        th["reasoning_tokens"] = {"total": reasoning, "mean": reasoning / generations, "p90": 1, "max": 1}
    return {"score": score, "score_stderr": 1.0, "version": 1, "n_samples": generations, "category": category,
            "mode": mode, "template_hash": "t", "thinking": th,
            "decoding": {"max_new_tokens": 1024, "temperature": 0.6, "top_p": 0.95, "top_k": 20, "samples": 1,
                         "stop": [], "answer_stop": ["\n\n"]}}


def test_thinking_runs_are_entries_of_their_own(tmp_path: Path) -> None:
    on = {"enabled": True, "mode": "hybrid", "template_kwargs": {"enable_thinking": True}}
    write_thinking(tmp_path, "Qwen3-8B", "2026-01-01", {**on, "enabled": False}, {"cmath": gen_task(40, 10, 500, 125.0, 0, 0)})
    write_thinking(tmp_path, "Qwen3-8B", "2026-01-02", on, {"cmath": gen_task(80, 10, 8000, 1000.0, 7000, 1)})
    write_thinking(tmp_path, "Qwen3-8B", "2026-01-03", None, {"ceval": gen_task(55, 4, 4, 2.0, None, 0, "knowledge", "likelihood")})
    runs = load_results(tmp_path)
    best = latest_scores(runs)
    assert set(best) == {("Qwen3-8B", False), ("Qwen3-8B", True)}
    # the newest run without thinking does not replace the thinking run's cmath, nor the other way round
    assert best[("Qwen3-8B", True)]["cmath@v1"].score == 80 and best[("Qwen3-8B", False)]["cmath@v1"].score == 40
    table = {r.key: r for r in rows(runs)}
    on_row, off_row = table[("Qwen3-8B", True)], table[("Qwen3-8B", False)]
    assert (on_row.total, off_row.total) == (80.0, pytest.approx((40 + 55) / 2))
    assert (on_row.slug, off_row.slug) == (slug("Qwen3-8B") + "--thinking", slug("Qwen3-8B"))
    assert [r["_file"] for r in off_row.runs] == [
        "Qwen3-8B/2026-01-01.json", "Qwen3-8B/2026-01-03.json"]  # no thinking recorded: off
    assert on_row.thinking_plan == {"enabled": True, "mode": "hybrid", "source": None, "tags": None, "prefilled": None,
                                    "template_kwargs": '{"enable_thinking": true}', "switch": None}
    # 8000 tokens, 8000 / 1000 = 8 right; 7000 reasoning tokens over 10 generations
    assert on_row.cost == Cost(("cmath@v1",), 10, 8000.0, 8.0, 1000.0, 700.0, 1, False)
    assert off_row.cost is not None and off_row.cost.tokens_per_correct == 125.0  # the likelihood task is not counted
    g = on_row.generation["cmath@v1"]
    assert g.decoding == {"max_new_tokens": 1024, "top_k": 20, "samples": 1, "temperature": 0.6, "top_p": 0.95,
                          "stop": [], "answer_stop": ["\n\n"]}


def test_a_model_named_like_a_thinking_slug_keeps_its_own_page(tmp_path: Path) -> None:
    write_thinking(tmp_path, "m", "2026-01-01", {"enabled": True}, {"cmath": gen_task(10, 2, 20, 10.0, 5, 0)})
    write_thinking(tmp_path, "m--thinking", "2026-01-01", None, {"cmath": gen_task(20, 2, 20, 10.0, 5, 0)})
    slugs = {r.key: r.slug for r in rows(load_results(tmp_path))}
    assert slugs[("m", True)] == "m--thinking"
    assert slugs[("m--thinking", False)].startswith("m--thinking-") and len(set(slugs.values())) == 2


@pytest.mark.parametrize(("th", "score", "correct", "how"), [
    ({"generations": 4, "generated_tokens": 400, "tokens_per_correct": 200.0}, 50, 2.0, "tokens_per_correct"),
    ({"generations": 4, "generated_tokens": 400, "tokens_per_correct": None}, 0, 0.0, "none_right"),
    ({"generations": 4, "generated_tokens": 0, "tokens_per_correct": 0.0}, 75, 3.0, "score"),  # nothing to divide
    ({"generations": 4, "generated_tokens": 400}, 25, 1.0, "score"),  # an older block without the field
    ({"generations": 4, "generated_tokens": 400, "tokens_per_correct": "x"}, None, None, "unknown"),
])
def test_correct_answers_read_back_from_tokens_per_correct(th: dict, score: float | None, correct: float | None,
                                                           how: str) -> None:
    g = task_generation("t@v1", "t", {"thinking": th}, score)
    assert (g.correct, g.correct_from) == (correct, how)


def test_entry_cost_sums_tokens_and_answers_over_tasks() -> None:
    a = task_generation("a@v1", "a", gen_task(50, 10, 3000, 600.0, 2000, 2), 50)  # 5 right
    b = task_generation("b@v1", "b", gen_task(0, 6, 900, None, None, 0), 0)  # none right, reasoning not counted
    cost = entry_cost([a, b])
    assert cost == Cost(("a@v1", "b@v1"), 16, 3900.0, 5.0, 780.0, 200.0, 2, False)  # 3900 / 5; 2000 / 10 counted
    assert entry_cost([b]).tokens_per_correct is None and entry_cost([]) is None
