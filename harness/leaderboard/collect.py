"""Results files -> leaderboard rows: which runs count, and how models rank.

The leaderboard reads only results files (never tasks or backends), so a site can be built from runs made
anywhere. For every (model, task, task version) it keeps the latest run: a new task version is a column of its
own, never mixed into the old one. Within a column, a cell whose setup (prompt template, few-shot count, mode)
differs from the column's newest run, or that covers fewer items, is flagged, and so is a category mean that
uses an older task version than another model's. Ranks use standard competition ranking ("1, 2, 2, 4"), and a
row whose total is within the combined standard error of the row above is marked as a statistical tie.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
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
    template_hash: str = ""
    num_fewshot: int | None = None
    mode: str = ""
    judge: str | None = None  # the judge model that scored it (judged tasks), else None
    # items the run did not ask as the task says (harness/context.py): (kind, count) for skipped (too long),
    # fewer_shots, budget_capped and excluded (by rule, e.g. multi-answer items in likelihood mode)
    not_as_asked: tuple[tuple[str, int], ...] = ()

    @property
    def column(self) -> str:
        """Leaderboard column: one per task version, so versions are never mixed."""
        return f"{self.task}@v{self.version}"

    @property
    def setup(self) -> tuple[str, int | None, str, str | None]:
        """What must match for two scores of one column to be comparable (the judge included)."""
        return (self.template_hash, self.num_fewshot, self.mode, self.judge)


@dataclass(frozen=True)
class Throughput:
    """One run's measured speed on one accelerator with one backend (the latest such run of the model)."""

    accelerator: str
    kind: str
    backend: str
    engine: str
    dtype: str
    batch_size: Any
    prompt_tokens_per_s: float | None
    generated_tokens_per_s: float | None  # over the generate-mode tasks only: decoding speed, not likelihood time
    samples_per_s: float | None
    peak_memory_bytes: int | None
    peak_memory_kind: str
    ttft_p50_s: float | None
    tpot_p50_s: float | None
    energy_joules: float | None
    samples: int
    finished_at: str
    run_file: str

    @property
    def key(self) -> str:
        return f"{self.accelerator} · {self.backend}"


@dataclass(frozen=True)
class Category:
    key: str
    zh: str
    en: str
    tasks: tuple[str, ...]
    weight: float = 1.0


@dataclass
class ModelRow:
    model: str
    family: str | None
    type: str | None
    params: int | None = None
    accelerators: set[str] = field(default_factory=set)
    scores: dict[str, TaskScore] = field(default_factory=dict)  # column -> latest score
    categories: dict[str, float] = field(default_factory=dict)
    category_stderr: dict[str, float] = field(default_factory=dict)
    coverage: dict[str, tuple[int, int]] = field(default_factory=dict)  # category -> (tasks scored, tasks known)
    judges: dict[str, list[str]] = field(default_factory=dict)  # category -> judge models behind its judged tasks
    total: float | None = None
    total_stderr: float | None = None
    rank: int | None = None
    tied_with_previous: bool = False
    flags: list[str] = field(default_factory=list)
    throughput: dict[str, Throughput] = field(default_factory=dict)  # Throughput.key -> latest
    runs: list[dict[str, Any]] = field(default_factory=list)  # every results file of the model, oldest first

    @property
    def slug(self) -> str:
        return slug(self.model)


@dataclass
class Leaderboard:
    rows: list[ModelRow]
    categories: list[Category]  # categories with at least one score, in suite order
    columns: list[str]  # task columns, in category order
    throughput_keys: list[str]
    tasks: dict[str, dict[str, Any]]  # task name -> description, source, license, template, category, versions


def slug(name: str) -> str:
    """A file-name-safe, readable id for a model or task name. A name that had to change gets a short hash of
    the original, so "Qwen/Qwen2.5-7B" and "qwen-qwen2.5-7b" never share a page."""
    s = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.")
    if s != name:
        s = f"{s or 'x'}-{hashlib.sha1(name.encode('utf-8')).hexdigest()[:6]}"
    return s


def load_results(folder: Path) -> list[dict[str, Any]]:
    """Every results file (*.json with a schema_version) under `folder`; other JSON files are ignored."""
    if not folder.is_dir():
        raise HarnessError(f"leaderboard: results folder {folder} not found")
    runs = []
    for path in sorted(folder.rglob("*.json")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts[:-1]):
            continue  # .shards/ (a Ray run's per-shard files, merged into the model's own file) and other hidden dirs
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and "schema_version" in data and "tasks" in data and "model" in data:
            data["_file"] = str(path.relative_to(folder))
            data["_path"] = str(path)
            runs.append(data)
    runs.sort(key=lambda r: (r.get("finished_at", ""), r["_file"]))
    return runs


def latest_scores(runs: list[dict[str, Any]]) -> dict[str, dict[str, TaskScore]]:
    """model -> column -> the score of the latest run of that column."""
    best: dict[str, dict[str, TaskScore]] = {}
    for run in runs:
        model = run["model"]["name"]
        judge = ((run.get("judge") or {}).get("model") or {}).get("name")
        for name, t in run["tasks"].items():
            if t.get("score") is None:
                continue
            s = TaskScore(name, str(t["version"]), t.get("prompt_hash", ""), float(t["score"]), t.get("score_stderr"),
                          int(t["n_samples"]), t.get("category", ""), run.get("finished_at", ""), run["_file"],
                          t.get("template_hash", ""), t.get("num_fewshot"), t.get("mode", ""),
                          judge if t.get("answer_type") == "judged" else None, _not_as_asked(t.get("context")))
            current = best.setdefault(model, {}).get(s.column)
            if current is None or s.finished_at >= current.finished_at:
                best[model][s.column] = s
    return best


def _not_as_asked(ctx: Any) -> tuple[tuple[str, int], ...]:
    if not isinstance(ctx, dict):
        return ()
    excluded = sum(int(e.get("count") or 0) for e in (ctx.get("excluded") or {}).values() if isinstance(e, dict))
    counts = [(k, int(ctx.get(k) or 0)) for k in ("skipped", "fewer_shots", "budget_capped")] + [("excluded", excluded)]
    return tuple((k, n) for k, n in counts if n)


def categories_from_runs(runs: list[dict[str, Any]]) -> list[Category]:
    """Categories in the order the suites list them, with their names and tasks; a task run outside any suite
    joins its own category (named by its key when no suite names it)."""
    found: dict[str, dict[str, Any]] = {}
    for run in runs:
        for key, c in (run.get("suite") or {}).get("categories", {}).items():
            cat = found.setdefault(key, {"zh": c.get("zh") or key, "en": c.get("en") or key, "tasks": [],
                                         "weight": float(c.get("weight", 1.0))})
            for t in c.get("tasks", {}):
                if t not in cat["tasks"]:
                    cat["tasks"].append(t)
    for run in runs:
        for name, t in run["tasks"].items():
            key = t.get("category") or "other"
            cat = found.setdefault(key, {"zh": key, "en": key, "tasks": [], "weight": 1.0})
            if name not in cat["tasks"]:
                cat["tasks"].append(name)
    return [Category(k, v["zh"], v["en"], tuple(v["tasks"]), v["weight"]) for k, v in found.items()]


def _version_key(v: str) -> tuple[int, Any]:
    return (0, int(v)) if v.isdigit() else (1, v)


def _throughput(run: dict[str, Any]) -> Throughput | None:
    tp = run.get("throughput") or {}
    acc = tp.get("accelerator") or {}
    if not acc:
        return None
    count = acc.get("count") or 1
    name = str(acc.get("name") or acc.get("kind") or "?")
    label = f"{count}x {name}" if acc.get("kind") == "cuda" and count > 1 else name
    gen_tokens = gen_seconds = 0.0
    for t in run["tasks"].values():
        if t.get("mode") == "generate":
            gen_tokens += (t.get("throughput") or {}).get("generated_tokens") or 0
            gen_seconds += (t.get("throughput") or {}).get("seconds") or 0.0
    model = run["model"]
    engine = model.get("engine") or {}
    return Throughput(
        accelerator=label, kind=str(acc.get("kind") or ""), backend=str(model.get("backend") or "?"),
        engine=f"{engine.get('engine', '?')} {engine.get('engine_version', '')}".strip(),
        dtype=str(model.get("dtype") or ""), batch_size=tp.get("batch_size"),
        prompt_tokens_per_s=tp.get("prompt_tokens_per_s"),
        generated_tokens_per_s=gen_tokens / gen_seconds if gen_seconds > 0 else None,
        samples_per_s=tp.get("samples_per_s"), peak_memory_bytes=tp.get("peak_memory_bytes"),
        peak_memory_kind=str(tp.get("peak_memory_kind") or ""),
        ttft_p50_s=(tp.get("ttft_s") or {}).get("p50"), tpot_p50_s=(tp.get("tpot_s") or {}).get("p50"),
        energy_joules=tp.get("energy_joules"), samples=int(tp.get("samples") or 0),
        finished_at=run.get("finished_at", ""), run_file=run["_file"],
    )


def rows(runs: list[dict[str, Any]], categories: list[Category] | dict[str, list[str]] | None = None) -> list[ModelRow]:
    """One row per model, ranked (see build())."""
    return build(runs, categories).rows


def build(runs: list[dict[str, Any]], categories: list[Category] | dict[str, list[str]] | None = None) -> Leaderboard:
    """Latest scores per model, category means over the model's newest version of each task, the total as the
    weighted mean of the categories it has, flags for anything not comparable, throughput, and ranks."""
    if categories is None:
        cats = categories_from_runs(runs)
    elif isinstance(categories, dict):
        cats = [Category(k, k, k, tuple(v)) for k, v in categories.items()]
    else:
        cats = categories
    scores = latest_scores(runs)
    newest: dict[str, TaskScore] = {}  # column -> its newest score (any model)
    most_items: dict[str, int] = {}
    current_version: dict[str, str] = {}
    for per_model in scores.values():
        for col, s in per_model.items():
            if col not in newest or s.finished_at > newest[col].finished_at:
                newest[col] = s
            most_items[col] = max(most_items.get(col, 0), s.n)
            if s.task not in current_version or _version_key(s.version) > _version_key(current_version[s.task]):
                current_version[s.task] = s.version

    out: dict[str, ModelRow] = {}
    for run in runs:
        m = run["model"]
        row = out.setdefault(m["name"], ModelRow(m["name"], m.get("family"), m.get("type")))
        row.family, row.type = m.get("family") or row.family, m.get("type") or row.type
        row.params = m.get("num_parameters") or row.params
        row.runs.append(run)
        tp = _throughput(run)
        if tp is not None:
            row.accelerators.add(f"{tp.kind}:{tp.accelerator}")
            row.throughput[tp.key] = tp  # runs are oldest first: the latest wins

    for model, row in out.items():
        row.scores = dict(sorted(scores.get(model, {}).items()))
        for col, s in row.scores.items():
            ref = newest[col]
            if s.setup != ref.setup:
                judged = f", judge {s.judge}" if s.judge or ref.judge else ""
                newest_judge = f", judge {ref.judge}" if s.judge or ref.judge else ""
                row.flags.append(f"{col}: prompt setup differs from the column's newest run "
                                 f"(template {s.template_hash}, {s.num_fewshot}-shot, {s.mode}{judged}; newest: "
                                 f"template {ref.template_hash}, {ref.num_fewshot}-shot, {ref.mode}{newest_judge})")
            if s.n < most_items[col]:
                row.flags.append(f"{col}: {s.n} items, fewer than the {most_items[col]} of another model's run")
        by_task: dict[str, TaskScore] = {}
        for s in row.scores.values():  # the model's newest version of each task
            if s.task not in by_task or _version_key(s.version) > _version_key(by_task[s.task].version):
                by_task[s.task] = s
        for s in by_task.values():
            if s.version != current_version[s.task]:
                row.flags.append(f"{s.task}: scored on v{s.version}; the newest version on this board is "
                                 f"v{current_version[s.task]}")
        variances: list[tuple[float, float]] = []
        for cat in cats:
            present = [by_task[t] for t in cat.tasks if t in by_task]
            if not present:
                continue
            row.categories[cat.key] = sum(s.score for s in present) / len(present)
            judges = sorted({s.judge for s in present if s.judge})
            if judges:
                row.judges[cat.key] = judges
            var = sum((s.stderr or 0.0) ** 2 for s in present) / len(present) ** 2
            row.category_stderr[cat.key] = math.sqrt(var)
            row.coverage[cat.key] = (len(present), len(cat.tasks))
            variances.append((cat.weight, var))
        weight = sum(w for w, _ in variances)
        if weight > 0:
            row.total = sum(cat.weight * row.categories[cat.key] for cat in cats if cat.key in row.categories) / weight
            row.total_stderr = math.sqrt(sum(w * w * v for w, v in variances)) / weight

    evaluated = [c for c in cats if any(c.key in r.categories for r in out.values())]
    order = {t: i for i, t in enumerate(t for c in cats for t in c.tasks)}
    columns = sorted({col for r in out.values() for col in r.scores},
                     key=lambda c: (order.get(c.split("@v")[0], len(order)), c))
    keys = sorted({k for r in out.values() for k in r.throughput})
    return Leaderboard(rank(list(out.values())), evaluated, columns, keys, _task_info(runs, cats))


def _task_info(runs: list[dict[str, Any]], cats: list[Category]) -> dict[str, dict[str, Any]]:
    """What a task page shows about the task itself, from its newest run (results carry description and template
    since they exist; older files lack them)."""
    cat_of = {t: c for c in cats for t in c.tasks}
    info: dict[str, dict[str, Any]] = {}
    for run in runs:  # oldest first: newer runs overwrite
        for name, t in run["tasks"].items():
            i = info.setdefault(name, {"name": name, "versions": {}})
            i.update({k: t[k] for k in ("description", "source", "license", "template", "category", "primary_metric",
                                        "answer_type") if t.get(k) is not None})
            i["versions"][str(t["version"])] = {"template_hash": t.get("template_hash"), "template": t.get("template")}
            c = cat_of.get(name)
            if c:
                i["category_zh"], i["category_en"] = c.zh, c.en
    return dict(sorted(info.items(), key=lambda kv: list(cat_of).index(kv[0]) if kv[0] in cat_of else len(cat_of)))


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
