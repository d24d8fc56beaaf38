"""Suites: named sets of tasks grouped into capability categories, with the rule that turns task scores into
category scores and a weighted total, SuperCLUE-style. The rule is data (in the suite file) and is copied into
every results file, so a reader knows what the total means."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import HarnessError, did_you_mean
from harness.tasks.roots import task_dirs


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    zh: str
    en: str
    weight: float = Field(1.0, ge=0)
    tasks: list[str] = Field(default_factory=list)  # empty: filled by a later capability (generation, code ...)
    note: str | None = None


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    version: int | str
    description: str
    mode: Literal["likelihood", "generate"] | None = None  # default for tasks that support it
    category_rule: Literal["mean_of_tasks", "weighted_by_items"] = "mean_of_tasks"
    rule: str  # the aggregation rule in words, copied into results
    categories: list[Category]

    @model_validator(mode="after")
    def _unique(self) -> Suite:
        ids = [c.id for c in self.categories]
        if len(set(ids)) != len(ids):
            raise ValueError("field 'categories': category ids must be distinct")
        tasks = [t for c in self.categories for t in c.tasks]
        if len(set(tasks)) != len(tasks):
            raise ValueError("field 'categories': a task may belong to one category only")
        return self

    @property
    def tasks(self) -> list[str]:
        return [t for c in self.categories for t in c.tasks]


def discover_suites() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for root in task_dirs():
        for path in sorted((root / "suites").glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


def load_suite(name: str) -> Suite:
    known = discover_suites()
    path = known.get(name) or (Path(name) if name.endswith((".yaml", ".yml")) and Path(name).is_file() else None)
    if path is None:
        raise HarnessError(f"--suite: unknown suite '{name}'{did_you_mean(name, known)} "
                           f"(known: {', '.join(sorted(known)) or 'none'})")
    try:
        return Suite.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as e:
        raise HarnessError(f"{path}: not valid YAML: {getattr(e, 'problem', e)}") from None
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(map(str, first["loc"]))
        msg = first["msg"].removeprefix("Value error, ")
        raise HarnessError(f"{path}: {'field ' + repr(where) + ': ' if where else ''}{msg}") from None


def _scored(score: Any) -> bool:
    """A task score that can be averaged: None (read back from a file) and NaN (in memory, before the writer turns it
    into null) both mean nothing was scored."""
    return score is not None and not (isinstance(score, float) and math.isnan(score))


def aggregate_suite(suite: Suite, tasks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Category score = mean of its evaluated tasks' scores (or weighted by their item counts, per the suite);
    total = weighted mean of the categories that have at least one evaluated task. Categories without results are
    listed as not evaluated and left out of the total (their weight is not silently counted as zero)."""
    categories: dict[str, Any] = {}
    num = den = 0.0
    for c in suite.categories:
        ran = {t: tasks[t] for t in c.tasks if t in tasks}
        # a task that ran but has no score (every judge verdict unreadable) is left out like a missing one, and
        # listed: counting it as zero would be a score nobody measured
        done = {t: r for t, r in ran.items() if _scored(r.get("score"))}
        entry: dict[str, Any] = {"zh": c.zh, "en": c.en, "weight": c.weight, "tasks": {t: r["score"] for t, r in ran.items()}}
        if done:
            if suite.category_rule == "weighted_by_items":
                n = sum(r["n_samples"] for r in done.values())
                entry["score"] = sum(r["score"] * r["n_samples"] for r in done.values()) / n
            else:
                entry["score"] = sum(r["score"] for r in done.values()) / len(done)
            num += c.weight * entry["score"]
            den += c.weight
        entry["evaluated"] = bool(done)
        entry["missing_tasks"] = [t for t in c.tasks if t not in tasks]
        entry["unscored_tasks"] = [t for t in ran if t not in done]
        categories[c.id] = entry
    return {
        "name": suite.name,
        "version": suite.version,
        "rule": suite.rule,
        "category_rule": suite.category_rule,
        "categories": categories,
        "total": num / den if den else None,
        "weight_evaluated": den,
        "weight_all": sum(c.weight for c in suite.categories),
    }
