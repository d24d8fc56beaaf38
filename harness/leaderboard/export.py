"""The ranking as downloadable JSON (everything, nested) and CSV (one flat row per model)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import Any

from harness.leaderboard.collect import Leaderboard, ModelRow
from harness.leaderboard.samples import json_safe


def row_record(row: ModelRow, board: Leaderboard) -> dict[str, Any]:
    """One model as plain data: the same numbers the index shows, plus every task score and throughput."""
    return {
        "rank": row.rank,
        "tied_with_previous": row.tied_with_previous,
        "model": row.model,
        "thinking": row.thinking,
        "slug": row.slug,
        "family": row.family,
        "type": row.type,
        "params": row.params,
        "total": row.total,
        "total_stderr": row.total_stderr,
        "categories": {c.key: row.categories.get(c.key) for c in board.categories},
        "category_stderr": {c.key: row.category_stderr.get(c.key) for c in board.categories},
        "coverage": {k: {"tasks_scored": a, "tasks_in_category": b} for k, (a, b) in row.coverage.items()},
        "judges": row.judges,
        "tasks": {col: {"score": s.score, "stderr": s.stderr, "n": s.n, "num_fewshot": s.num_fewshot,
                        "mode": s.mode, "template_hash": s.template_hash, "prompt_hash": s.prompt_hash, "judge": s.judge,
                        "finished_at": s.finished_at, "results_file": s.run_file}
                  for col, s in row.scores.items()},
        "throughput": {k: asdict(tp) for k, tp in row.throughput.items()},
        "thinking_plan": row.thinking_plan,
        "generation": {col: asdict(g) for col, g in row.generation.items()},
        "cost": asdict(row.cost) if row.cost else None,
        "flags": row.flags,
    }


def ranking_json(board: Leaderboard, built_at: str) -> str:
    data = {
        "built_at": built_at,
        "categories": [{"key": c.key, "zh": c.zh, "en": c.en, "tasks": list(c.tasks), "weight": c.weight}
                       for c in board.categories],
        "rows": [row_record(r, board) for r in board.rows],
    }
    return json.dumps(json_safe(data), ensure_ascii=False, indent=1, allow_nan=False) + "\n"


def _cell(value: Any) -> Any:
    """Spreadsheets run a cell starting with = + - @ as a formula: quote such text (model names are untrusted)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _num(value: float | None, digits: int = 2) -> Any:
    return "" if value is None else round(value, digits)


def ranking_csv(board: Leaderboard) -> str:
    head = ["rank", "tied_with_previous", "model", "thinking", "family", "type", "params", "total", "total_stderr"]
    head += [c.key for c in board.categories]
    head += [f"generated_tok_s[{k}]" for k in board.throughput_keys]
    head += ["tokens_per_correct", "reasoning_tokens_per_generation", "unfinished_reasoning", "flags"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for r in board.rows:
        line = [r.rank, r.tied_with_previous, r.model, r.thinking, r.family, r.type, r.params, _num(r.total),
                _num(r.total_stderr)]
        line += [_num(r.categories.get(c.key)) for c in board.categories]
        line += [_num(r.throughput[k].generated_tokens_per_s, 1) if k in r.throughput else None
                 for k in board.throughput_keys]
        cost = r.cost
        line += [_num(cost.tokens_per_correct, 1) if cost else None,
                 _num(cost.reasoning_per_generation, 1) if cost else None, cost.unfinished if cost else None]
        line += [" | ".join(r.flags)]
        w.writerow([_cell(v) for v in line])
    return buf.getvalue()
