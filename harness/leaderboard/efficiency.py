"""The efficiency page's comparisons across accelerators: a model x accelerator matrix of measured rates (all
devices and per device, energy per token, cost per million tokens where a cost exists), Pareto fronts of score
against tokens/s per device and against cost, and the `harness bench` runs found in the results folder, each
beside the same model's eval throughput on the same accelerator.

Bench files (harness/results/bench_schema.py, `kind: "harness-bench"`) are read here, not by collect.py: they hold
no scores, and a bad one is one line in the build's report, never a stopped build."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from harness.leaderboard import svg
from harness.leaderboard.collect import Leaderboard, ModelRow, Throughput
from harness.results.bench_schema import is_bench, validate_bench
from harness.results.schema import SchemaError


def load_bench(folder: Path, skipped: list[str] | None = None) -> list[dict[str, Any]]:
    """Every bench results file under `folder` (hidden folders skipped), oldest first, with `_file` added."""
    out = []
    for path in sorted(folder.rglob("*.json")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError):
            continue  # not JSON: load_results reports it
        if not is_bench(data):
            continue
        try:
            data = validate_bench(data).model_dump()  # every field present (None when the file lacks it)
        except SchemaError as e:
            if skipped is not None:
                skipped.append(f"skipped {rel.as_posix()}: {e}")
            continue
        data["_file"] = rel.as_posix()
        out.append(data)
    out.sort(key=lambda d: (d.get("finished_at", ""), d["_file"]))
    return out


@dataclass(frozen=True)
class Cell:
    """One model on one accelerator (one backend): the figures of its latest measuring run."""

    tp: Throughput
    fastest: bool  # the row's highest tokens/s per device

    @property
    def per_device(self) -> float | None:
        return self.tp.generated_tokens_per_s_per_accelerator

    @property
    def cost_per_mtok(self) -> float | None:
        cost = self.tp.cost if isinstance(getattr(self.tp, "cost", None), dict) else None
        value = (cost or {}).get("per_million_generated_tokens")
        return value if isinstance(value, (int, float)) else None

    @property
    def currency(self) -> str:
        cost = self.tp.cost if isinstance(getattr(self.tp, "cost", None), dict) else None
        return str((cost or {}).get("currency") or "")


def accelerator_name(tp: Throughput) -> str:
    """The accelerator as one column, whatever the device count: "NVIDIA H800" for 1x and 8x alike (the cell says
    how many)."""
    return getattr(tp, "accelerator_name", "") or re.sub(r"^\d+x ", "", tp.accelerator)


def matrix(board: Leaderboard) -> dict[str, Any]:
    """Rows: entries with any measured throughput; columns: accelerators (CPUs last); a cell per backend run on
    that accelerator."""
    cols: dict[str, str] = {}
    for r in board.rows:
        for tp in r.throughput.values():
            cols.setdefault(accelerator_name(tp), tp.kind)
    columns = sorted(cols, key=lambda c: (cols[c] in ("cpu", "remote"), c))
    rows = []
    for r in board.rows:
        if not r.throughput:
            continue
        best = max((tp.generated_tokens_per_s_per_accelerator or 0.0 for tp in r.throughput.values()), default=0.0)
        cells: dict[str, list[Cell]] = {}
        for tp in sorted(r.throughput.values(), key=lambda t: t.key):
            rate = tp.generated_tokens_per_s_per_accelerator or 0.0
            cells.setdefault(accelerator_name(tp), []).append(Cell(tp, best > 0 and rate == best and len(r.throughput) > 1))
        rows.append({"row": r, "cells": cells})
    return {"columns": columns, "rows": rows}


def _label(r: ModelRow, tp: Throughput) -> str:
    return f"{r.model} @ {tp.accelerator}"


def _tag(r: ModelRow) -> dict[str, str]:
    from harness.leaderboard import i18n

    zh, en = i18n.STRINGS["thinking_badge"]
    return {"tag_zh": zh, "tag_en": en} if r.thinking else {}


def fronts(board: Leaderboard) -> list[dict[str, Any]]:
    """Score against generated tokens/s per device over every (entry, accelerator) pair, and score against cost per
    million generated tokens where any pair has a cost (lower is better)."""
    charts = []
    speed = [svg.Point(_label(r, tp), rate, r.total, f"models/{r.slug}.html", **_tag(r))
             for r in board.rows for tp in r.throughput.values()
             if r.total is not None and (rate := tp.generated_tokens_per_s_per_accelerator or 0.0) > 0]
    if speed:
        charts.append({"key": "speed", "unit": "tok/s", "points": speed, "frontier": svg.pareto_frontier(speed),
                       "svg": Markup(svg.scatter_chart(
                           speed, x_zh="每设备生成 token/秒", x_en="generated tokens/s per device", y_zh="总分",
                           y_en="total score", title_zh="所有加速器：质量与每设备速度",
                           title_en="All accelerators: quality versus speed per device"))})
    costed = [(r, r.total, tp, Cell(tp, False)) for r in board.rows for tp in r.throughput.values() if r.total is not None]
    cost = [svg.Point(_label(r, tp), per_mtok, total, f"models/{r.slug}.html", **_tag(r))
            for r, total, tp, c in costed if total is not None and (per_mtok := c.cost_per_mtok or 0.0) > 0]
    if cost:
        currency = next((c.currency for _, _, _, c in costed if c.cost_per_mtok), "")
        charts.append({"key": "cost", "unit": f"{currency}/M tok", "points": cost,
                       "frontier": svg.pareto_frontier(cost, lower_x_better=True),
                       "svg": Markup(svg.scatter_chart(
                           cost, x_zh=f"每百万生成 token 成本（{currency}）", x_en=f"cost per million generated tokens ({currency})",
                           y_zh="总分", y_en="total score", title_zh="质量与成本", title_en="Quality versus cost",
                           x_unit=f"{currency}/M tok", lower_x_better=True))})
    return charts


def bench_rows(board: Leaderboard, benches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per scenario of the newest bench file per (model, backend, accelerator, workload source), with the
    model's eval throughput on the same accelerator beside it (None where the board has none)."""
    newest: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for b in benches:  # oldest first: the newest wins
        acc = b.get("accelerator") or {}
        key = (b["model"]["name"], b["model"]["backend"], str(acc.get("name") or acc.get("kind") or "?"),
               str(b["workload"].get("source")))
        newest[key] = b
    by_name = {r.model: r for r in board.rows if not r.thinking}
    out = []
    for (model, backend, acc_name, _), b in sorted(newest.items()):
        row = by_name.get(model) or by_name.get(model.rstrip("/").split("/")[-1])
        acc = b.get("accelerator") or {}
        devices = b.get("devices") or acc.get("count")
        eval_tp = None
        if row is not None:
            eval_tp = next((tp for tp in row.throughput.values() if accelerator_name(tp) == acc_name), None)
        wl = b["workload"]
        for s in b["scenarios"]:
            out.append({"model": model, "row": row, "backend": backend, "accelerator": acc_name, "devices": devices,
                        "kind": acc.get("kind"), "workload": wl, "s": s, "file": b["_file"], "finished_at": b["finished_at"],
                        "per_device": (s.get("per_accelerator") or {}).get("output_tokens_per_s"),
                        "eval_tp": eval_tp})
    return out


def efficiency_view(board: Leaderboard, benches: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything the efficiency page's cross-accelerator sections show."""
    return {"matrix": matrix(board), "fronts": fronts(board), "bench": bench_rows(board, benches)}
