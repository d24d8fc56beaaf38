"""The downloadable ranking (data/ranking.csv and data/ranking.json), from results files written by the test.

The CSV is opened in spreadsheets, so untrusted text (model names, families) must never start a formula; its
numbers are rounded; a missing category or throughput is an empty cell, not 0. Its throughput column per
accelerator holds the decoding speed: generated tokens of the generate-mode tasks over their seconds, never the
likelihood tasks' time. The JSON must parse with a strict parser (no NaN). Every expectation is computed by hand.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from harness.leaderboard.collect import Leaderboard, build, load_results
from harness.leaderboard.export import ranking_csv, ranking_json

CAT_OF = {"ceval": "knowledge", "cmmlu": "knowledge", "cmath": "reasoning", "logiqa_zh": "reasoning"}
SUITE = {"knowledge": ("知识", "Knowledge", 1.0), "reasoning": ("推理", "Reasoning", 2.0)}
H100, H100X2, XEON = ("cuda", "H100", 1), ("cuda", "H100", 2), ("cpu", "Xeon", 1)


def write(folder: Path, model: str, when: str, tasks: dict[str, tuple[Any, ...]], *, acc: tuple[str, str, int] | None,
          backend: str = "hf", family: str = "qwen2", params: int | None = None) -> None:
    """tasks: name -> (score, stderr, mode, generated_tokens, seconds, n_samples); laid out like `harness eval`."""
    data = {
        "schema_version": 1, "finished_at": when,
        "model": {"name": model, "family": family, "type": "chat", "backend": backend, "dtype": "bfloat16",
                  "engine": {"engine": "transformers", "engine_version": "4.0"}, "num_parameters": params},
        "suite": {"name": "t", "version": "1", "categories": {
            k: {"zh": zh, "en": en, "weight": w, "tasks": {t: v[0] for t, v in tasks.items() if CAT_OF[t] == k}}
            for k, (zh, en, w) in SUITE.items()}},
        "throughput": ({"accelerator": {"kind": acc[0], "name": acc[1], "count": acc[2]}, "batch_size": 8,
                        "prompt_tokens_per_s": 1234.5, "samples_per_s": 3.0, "samples": 10} if acc else {}),
        "tasks": {n: {"version": 1, "category": CAT_OF[n], "mode": mode, "score": s, "score_stderr": se,
                      "n_samples": n_items, "num_fewshot": 0, "template_hash": "t-" + n, "prompt_hash": "p-" + n,
                      "throughput": {"generated_tokens": gen, "seconds": secs}}
                  for n, (s, se, mode, gen, secs, n_items) in tasks.items()},
    }
    path = folder / model.replace("/", "_") / f"{when}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


@pytest.fixture
def board(tmp_path: Path) -> Leaderboard:
    # knowledge (80.126 + 70) / 2 = 75.063, reasoning 50, total (75.063 + 2 * 50) / 3 = 58.354333
    # stderr: variances 2/4 and 2/4 -> sqrt(1 * 0.5 + 4 * 0.5) / 3 = 0.527; generate tok/s (100 + 300) / (2 + 2) = 100
    write(tmp_path, "Qwen2.5-7B", "2026-01-01", {
        "ceval": (80.126, 1, "likelihood", 0, 50.0, 100), "cmmlu": (70, 1, "likelihood", 0, 70.0, 100),
        "cmath": (60, 1, "generate", 100, 2.0, 100), "logiqa_zh": (40, 1, "generate", 300, 2.0, 100)},
        acc=H100, params=7_615_616_512)
    # total (70 + 2 * 30) / 3 = 43.333, stderr sqrt(1 + 4) / 3 = 0.745; 2 GPUs; tok/s 50 / 4 = 12.5
    write(tmp_path, '=HYPERLINK("x")', "2026-01-02", {
        "ceval": (70, 1, "likelihood", 0, 9.0, 100), "cmath": (30, 1, "generate", 50, 4.0, 100)},
        acc=H100X2, backend="vllm", family="@fam")
    # knowledge only: total 90; no generate task, so no decoding speed
    write(tmp_path, "+1", "2026-01-03", {"ceval": (90, 1, "likelihood", 0, 5.0, 100)}, acc=XEON)
    # reasoning only, on 50 items where others ran 100 (flagged): total 20, stderr sqrt(4) / 2 = 1; tok/s 30 / 3
    write(tmp_path, "@SUM", "2026-01-04", {"cmath": (20, 1, "generate", 30, 3.0, 50)}, acc=H100)
    # no score at all: unranked, last; no accelerator recorded
    write(tmp_path, "zz-failed", "2026-01-05", {"ceval": (None, None, "likelihood", 0, 0.0, 0)}, acc=None)
    return build(load_results(tmp_path))


def test_csv_header_rows_rounding_and_empty_cells(board: Leaderboard) -> None:
    table = list(csv.reader(io.StringIO(ranking_csv(board))))
    assert table[0] == ["rank", "tied_with_previous", "model", "thinking", "family", "type", "params", "total",
                        "total_stderr", "knowledge", "reasoning", "generated_tok_s[2x H100 · vllm]",
                        "generated_tok_s[H100 · hf]", "generated_tok_s[Xeon · hf]", "tokens_per_correct",
                        "reasoning_tokens_per_generation", "unfinished_reasoning", "flags"]
    # these results record no thinking statistics: the cost cells are empty
    assert table[1:] == [
        ["1", "False", "'+1", "False", "qwen2", "chat", "", "90.0", "1.0", "90.0", "", "", "", "", "", "", "", ""],
        ["2", "False", "Qwen2.5-7B", "False", "qwen2", "chat", "7615616512", "58.35", "0.53", "75.06", "50.0", "",
         "100.0", "", "", "", "", ""],
        ["3", "False", "'=HYPERLINK(\"x\")", "False", "'@fam", "chat", "", "43.33", "0.75", "70.0", "30.0", "12.5", "",
         "", "", "", "", ""],
        ["4", "False", "'@SUM", "False", "qwen2", "chat", "", "20.0", "1.0", "", "20.0", "", "10.0", "", "", "", "",
         "cmath@v1: 50 items, fewer than the 100 of another model's run"],
        ["", "False", "zz-failed", "False", "qwen2", "chat", "", "", "", "", "", "", "", "", "", "", "", ""],
    ]


def test_csv_never_starts_a_cell_with_a_formula_character(board: Leaderboard) -> None:
    for line in list(csv.reader(io.StringIO(ranking_csv(board))))[1:]:
        for cell in line:
            assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), cell


def test_json_parses_strictly_with_categories_and_rows(board: Leaderboard) -> None:
    def no_nan(token: str) -> Any:
        raise AssertionError(f"{token} in ranking.json")

    data = json.loads(ranking_json(board, "2026-05-01 00:00 UTC"), parse_constant=no_nan)
    assert data["built_at"] == "2026-05-01 00:00 UTC"
    assert data["categories"] == [
        {"key": "knowledge", "zh": "知识", "en": "Knowledge", "tasks": ["ceval", "cmmlu"], "weight": 1.0},
        {"key": "reasoning", "zh": "推理", "en": "Reasoning", "tasks": ["cmath", "logiqa_zh"], "weight": 2.0},
    ]
    rows = {r["model"]: r for r in data["rows"]}
    assert [r["model"] for r in data["rows"]] == ["+1", "Qwen2.5-7B", '=HYPERLINK("x")', "@SUM", "zz-failed"]
    qwen = rows["Qwen2.5-7B"]
    assert qwen["rank"] == 2 and qwen["total"] == pytest.approx((75.063 + 100) / 3)
    assert qwen["categories"] == pytest.approx({"knowledge": 75.063, "reasoning": 50.0})
    assert qwen["tasks"]["ceval@v1"] == {"score": 80.126, "stderr": 1, "n": 100, "num_fewshot": 0, "mode": "likelihood",
                                         "template_hash": "t-ceval", "prompt_hash": "p-ceval", "judge": None, "finished_at": "2026-01-01",
                                         "results_file": "Qwen2.5-7B/2026-01-01.json"}
    (tp,) = qwen["throughput"].values()
    assert tp["accelerator"] == "H100" and tp["backend"] == "hf" and tp["generated_tokens_per_s"] == 100.0
    assert tp["prompt_tokens_per_s"] == 1234.5 and tp["engine"] == "transformers 4.0"
    assert rows["+1"]["categories"] == {"knowledge": 90.0, "reasoning": None}
    assert rows["+1"]["throughput"]["Xeon · hf"]["generated_tokens_per_s"] is None
    assert rows["@SUM"]["flags"] == ["cmath@v1: 50 items, fewer than the 100 of another model's run"]
    assert rows["zz-failed"]["rank"] is None and rows["zz-failed"]["total"] is None and rows["zz-failed"]["tasks"] == {}
