"""Per-sample scoring and the roll-up to groups, tasks, categories.

Scores are kept as fractions in [0, 1] internally and reported on a 0-100 scale. Each group score carries its
standard error so a reader (and the leaderboard) can tell a real difference from noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from harness.extraction import extract_choice
from harness.types import GenerateResult, LoglikelihoodResult, Sample


@dataclass
class Scored:
    """What the runner writes per sample, besides the prompt."""

    prediction: str | None  # the chosen label (None: nothing could be extracted from the generation)
    correct: bool
    logprobs: dict[str, float] | None = None
    output: str | None = None


def score_likelihood(sample: Sample, result: LoglikelihoodResult) -> Scored:
    """Pick the option with the highest log-probability; ties go to the first option, deterministically."""
    best = max(range(len(result.logprobs)), key=lambda i: (result.logprobs[i], -i))
    return Scored(
        prediction=sample.labels[best],
        correct=best == sample.target,
        logprobs=dict(zip(sample.labels, result.logprobs)),
    )


def score_generation(sample: Sample, result: GenerateResult) -> Scored:
    label = extract_choice(result.text, sample.labels, sample.choices)
    return Scored(prediction=label, correct=label == sample.target_label, output=result.text)


def mean_stderr(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample standard deviation, n-1), as lm-evaluation-harness does."""
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    mean = sum(values) / n
    if n == 1:
        return mean, float("nan")
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def _group_values(sample_meta: dict[str, Any], key: str) -> list[str]:
    value = sample_meta.get(key)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def aggregate(
    rows: Iterable[tuple[dict[str, Any], bool]], group_by: Sequence[str], rule: str
) -> dict[str, Any]:
    """Scores of one task from (sample meta, correct) pairs.

    micro: every sample weighs the same. macro: mean over the groups of the first `group_by` key (e.g. the
    unweighted mean of subject accuracies, C-Eval's and CMMLU's official "Average"); the higher-level groups
    (e.g. STEM) then also average their member subjects. A sample whose meta lists several groups (CMMLU's
    "China specific") counts in each.
    """
    rows = list(rows)
    flags = [1.0 if ok else 0.0 for _, ok in rows]
    micro, micro_se = mean_stderr(flags)
    out: dict[str, Any] = {"n": len(rows), "micro": 100 * micro, "micro_stderr": 100 * micro_se, "groups": {}}
    base_key = group_by[0] if group_by else None
    base: dict[str, list[float]] = {}
    for meta, ok in rows:
        for g in _group_values(meta, base_key) if base_key else []:
            base.setdefault(g, []).append(1.0 if ok else 0.0)
    base_scores = {g: mean_stderr(v) for g, v in base.items()}
    for key in group_by:
        per: dict[str, dict[str, Any]] = {}
        members: dict[str, set[str]] = {}
        for meta, ok in rows:
            for g in _group_values(meta, key):
                per.setdefault(g, {"values": []})["values"].append(1.0 if ok else 0.0)
                if base_key:
                    members.setdefault(g, set()).update(_group_values(meta, base_key))
        table = {}
        for g, d in sorted(per.items()):
            m, se = mean_stderr(d["values"])
            entry = {"n": len(d["values"]), "micro": 100 * m, "micro_stderr": 100 * se}
            if rule == "macro" and key != base_key:
                subs = sorted(members[g])
                entry["macro"] = 100 * sum(base_scores[s][0] for s in subs) / len(subs)
                entry["n_subsets"] = len(subs)
            entry["score"] = entry.get("macro", entry["micro"])
            table[g] = entry
        out["groups"][key] = table
    if rule == "macro" and base_scores:
        accs = [m for m, _ in base_scores.values()]
        out["macro"] = 100 * sum(accs) / len(accs)
        out["n_subsets"] = len(accs)
        # stderr of an unweighted mean of independent subset means: sqrt(sum se_s^2) / S. A subset with a
        # single item has no variance estimate of its own; it borrows the pooled per-item variance.
        pooled_var = micro_se**2 * len(rows) if len(rows) > 1 else float("nan")
        var_sum = sum(se**2 if not math.isnan(se) else pooled_var / len(base[g]) for g, (_, se) in base_scores.items())
        out["macro_stderr"] = 100 * math.sqrt(var_sum) / len(accs)
    out["score"] = out.get("macro", out["micro"])
    out["score_stderr"] = out.get("macro_stderr", out["micro_stderr"])
    return out
