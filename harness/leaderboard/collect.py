"""Results files -> leaderboard rows: which runs count, and how models rank.

The leaderboard reads only results files (never tasks or backends). For every (model, task) it keeps the latest
run of each (task version, prompt hash): results of a changed task or prompt never share a column silently; the
column is named with its version and a row whose prompt differs from the column's newest is flagged. Ranks use
standard competition ranking ("1, 2, 2, 4"), and two neighbours whose totals differ by less than the combined
standard error are marked as a statistical tie.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError


@dataclass(frozen=True)
class TaskScore:
    task: str
    version: str
    prompt_hash: str
    score: float
    stderr: float | None
    n: int
    category: str
    finished_at: str
    run_file: str

    @property
    def column(self) -> str:
        """Leaderboard column: one per task version, so versions are never mixed."""
        return f"{self.task}@v{self.version}"


@dataclass
class ModelRow:
    model: str
    family: str | None
    type: str | None
    accelerators: set[str] = field(default_factory=set)
    scores: dict[str, TaskScore] = field(default_factory=dict)  # column -> latest score
    categories: dict[str, float] = field(default_factory=dict)
    total: float | None = None
    total_stderr: float | None = None
    rank: int | None = None
    tied_with_previous: bool = False
    flags: list[str] = field(default_factory=list)


def load_results(folder: Path) -> list[dict[str, Any]]:
    """Every results file (*.json with a schema_version) under `folder`; other JSON files are ignored."""
    if not folder.is_dir():
        raise HarnessError(f"leaderboard: results folder {folder} not found")
    runs = []
    for path in sorted(folder.rglob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and "schema_version" in data and "tasks" in data:
            data["_file"] = str(path.relative_to(folder))
            runs.append(data)
    return runs


def latest_scores(runs: list[dict[str, Any]]) -> dict[str, dict[str, TaskScore]]:
    """model -> column -> the latest TaskScore; within a column, a newer prompt hash replaces an older one and
    the model is flagged (see rows())."""
    best: dict[str, dict[str, TaskScore]] = {}
    for run in runs:
        model = run["model"]["name"]
        for name, t in run["tasks"].items():
            s = TaskScore(name, str(t["version"]), t.get("prompt_hash", ""), float(t["score"]), t.get("score_stderr"),
                          int(t["n_samples"]), t.get("category", ""), run.get("finished_at", ""), run["_file"])
            current = best.setdefault(model, {}).get(s.column)
            if current is None or s.finished_at > current.finished_at:
                best[model][s.column] = s
    return best


def rows(runs: list[dict[str, Any]], categories: dict[str, list[str]]) -> list[ModelRow]:
    """One row per model: latest scores, category means (tasks of the category present for the model), the total
    as the mean of evaluated categories, and ranks."""
    scores = latest_scores(runs)
    newest_prompt: dict[str, tuple[str, str]] = {}  # column -> (finished_at, prompt hash) of its newest run
    for per_model in scores.values():
        for col, s in per_model.items():
            if col not in newest_prompt or s.finished_at > newest_prompt[col][0]:
                newest_prompt[col] = (s.finished_at, s.prompt_hash)
    out: dict[str, ModelRow] = {}
    for run in runs:
        m = run["model"]
        row = out.setdefault(m["name"], ModelRow(m["name"], m.get("family"), m.get("type")))
        acc = run.get("throughput", {}).get("accelerator", {})
        if acc:
            row.accelerators.add(f"{acc.get('kind')}:{acc.get('name')}")
    for model, row in out.items():
        row.scores = scores.get(model, {})
        for col, s in row.scores.items():
            if s.prompt_hash != newest_prompt[col][1]:
                row.flags.append(f"{col}: prompt differs from the column's newest run ({s.prompt_hash})")
        by_task = {s.task: s for s in row.scores.values()}
        ses: list[float] = []
        for cat, tasks in categories.items():
            present = [by_task[t] for t in tasks if t in by_task]
            if present:
                row.categories[cat] = sum(s.score for s in present) / len(present)
                var = sum((s.stderr or 0.0) ** 2 for s in present) / len(present) ** 2
                ses.append(var)
        if row.categories:
            row.total = sum(row.categories.values()) / len(row.categories)
            row.total_stderr = math.sqrt(sum(ses)) / len(row.categories)
    return rank(list(out.values()))


def rank(table: list[ModelRow]) -> list[ModelRow]:
    """Sort by total (missing totals last, then by name for a stable order) and assign competition ranks; mark
    a row tied with the one above when their totals differ by less than the combined standard error."""
    table.sort(key=lambda r: (r.total is None, -(r.total or 0.0), r.model))
    for i, row in enumerate(table):
        if row.total is None:
            continue
        prev = table[i - 1] if i else None
        if prev is not None and prev.total is not None and prev.total == row.total:
            row.rank = prev.rank
        else:
            row.rank = i + 1
        if prev is not None and prev.total is not None:
            combined = math.sqrt((prev.total_stderr or 0.0) ** 2 + (row.total_stderr or 0.0) ** 2)
            row.tied_with_previous = abs(prev.total - row.total) <= combined
    return table
