"""An item's metrics from its judge verdict, for verdicts that are not one rating on a fixed scale: a three-way grade
(Chinese SimpleQA's A/B/C), points out of the item's own points (GAOKAO-Bench's 【总分】), and an empty answer that
a task scores without asking the judge (HalluQA, Chinese SimpleQA). The judge pass (harness/run/judge.py) calls it;
the task-level CGA and F-score are computed from the shares in harness/scoring/metrics.py (three_way)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.scoring.verdicts import abc_defaulted, after_thinking
from harness.tasks.spec import DERIVED, TaskSpec

OWN_PARSERS = ("abc", "gaokao_total")


@dataclass
class JudgedItem:
    metrics: dict[str, float]  # empty: the verdict could not be read (counted as unparsed, left out of the score)
    prediction: str | None
    score: float | None  # the item's own headline value (correct for a grade, the points' share), None if unparsed
    flags: list[str] = field(default_factory=list)  # judge_defaulted, judge_clamped, judge_skipped_empty: counted


def own_item(spec: TaskSpec, verdict: Any, text: str | None, weight: float, empty: bool) -> JudgedItem:
    """The item's metrics. `empty`: the answer was empty and the task scores it 0 on every per-item metric without a
    verdict (judge.empty_answer: zero). A grade is one-hot over correct / incorrect / not_attempted (a reply without
    a letter was graded C, as upstream, and is flagged). Points: min(verdict, points) / points, the item weighing its
    points; a verdict above them is clamped and flagged."""
    assert spec.judge is not None
    per_item = [m for m in spec.metrics if m not in DERIVED]
    if empty:
        return JudgedItem({m: 0.0 for m in per_item}, None, 0.0, ["judge_skipped_empty"])
    if verdict is None and text is None:  # no reply at all (the prompt did not fit the judge): unparsed, never C or 0
        return JudgedItem({}, None, None)
    if spec.judge.parser == "abc":
        shares = {"correct": float(verdict == "A"), "incorrect": float(verdict == "B"),
                  "not_attempted": float(verdict == "C")}
        flags = ["judge_defaulted"] if text is not None and abc_defaulted(after_thinking(text)) else []
        return JudgedItem({m: v for m, v in shares.items() if m in per_item}, verdict, shares["correct"], flags)
    if verdict is None or weight <= 0:
        return JudgedItem({}, None, None)
    awarded = min(float(verdict), weight)
    share = awarded / weight
    return JudgedItem({"judge_score": share}, f"{awarded:g}/{weight:g}", share,
                      ["judge_clamped"] if float(verdict) > weight else [])
