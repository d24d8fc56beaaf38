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

    prediction: str | None  # the chosen label / number / span (None: nothing could be extracted)
    metrics: dict[str, float]  # this sample's value of each of the task's metrics, in [0, 1]
    correct: bool  # the task's first metric reached full marks
    logprobs: dict[str, float] | None = None
    output: str | None = None
    details: dict[str, Any] | None = None  # extra fields for the sample record (sandbox runs, judge verdicts)


def score_likelihood(sample: Sample, result: LoglikelihoodResult, metrics: Sequence[str] = ("accuracy",)) -> Scored:
    """Pick the option with the highest log-probability; ties go to the first option, deterministically."""
    best = max(range(len(result.logprobs)), key=lambda i: (result.logprobs[i], -i))
    ok = 1.0 if best == sample.target else 0.0
    return Scored(
        prediction=sample.labels[best],
        metrics={m: ok for m in metrics},
        correct=bool(ok),
        logprobs=dict(zip(sample.labels, result.logprobs)),
    )


def extract(extractor: str, text: str, sample: Sample) -> str | None:
    """Read the answer out of generated text, the way the task's answer type needs."""
    if extractor == "choice":
        return extract_choice(text, sample.labels, sample.choices)
    if extractor == "numeric":
        from harness.numeric import extract_number

        return extract_number(text)
    if extractor == "span":
        from harness.cmrc_metric import clean_span_prediction

        return clean_span_prediction(text) or None
    if extractor == "gaokao":
        from harness.gaokao import extract_answer

        # one entry per sub-question ("BD" is one multi-answer entry), kept apart by commas
        letters = extract_answer(text, str(sample.meta.get("type", "single_choice")), len(sample.answers))
        return ",".join(letters) if letters else None
    raise ValueError(f"unknown extractor {extractor}")


def metric_value(metric: str, prediction: str | None, sample: Sample, answer_type: str) -> float:
    """One sample's value of one metric, in [0, 1]."""
    if metric == "accuracy":
        if prediction is None:
            return 0.0
        if answer_type == "numeric":
            from harness.numeric import numbers_match

            return 1.0 if any(numbers_match(prediction, a) for a in sample.answers) else 0.0
        if sample.target >= 0:
            return 1.0 if prediction == sample.target_label else 0.0
        return 1.0 if prediction in sample.answers else 0.0
    if metric in ("exact_match", "f1"):
        from harness.cmrc_metric import cmrc_em, cmrc_f1

        return (cmrc_em if metric == "exact_match" else cmrc_f1)(list(sample.answers), prediction or "")
    if metric == "gaokao_score":
        from harness.gaokao import normalised_score

        predicted = prediction.split(",") if prediction else []
        return normalised_score(predicted, list(sample.answers), str(sample.meta.get("type", "single_choice")))
    raise ValueError(f"unknown metric {metric}")


def score_generation(
    sample: Sample, result: GenerateResult, metrics: Sequence[str] = ("accuracy",), extractor: str = "choice", answer_type: str = "choice"
) -> Scored:
    prediction = extract(extractor, result.text, sample)
    values = {m: metric_value(m, prediction, sample, answer_type) for m in metrics}
    return Scored(prediction=prediction, metrics=values, correct=values[metrics[0]] >= 1.0, output=result.text)


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


def weighted_mean_stderr(values: Sequence[float], weights: Sequence[float]) -> tuple[float, float]:
    """Weighted mean (sum w*x / sum w) and the standard error of a ratio estimator; equals mean_stderr for
    equal weights."""
    if all(w == 1.0 for w in weights):
        return mean_stderr(values)
    n, total = len(values), sum(weights)
    if n == 0 or total <= 0:
        return float("nan"), float("nan")
    mean = sum(w * v for v, w in zip(values, weights)) / total
    if n == 1:
        return mean, float("nan")
    var = n / (n - 1) * sum((w * (v - mean)) ** 2 for v, w in zip(values, weights)) / total**2
    return mean, math.sqrt(var)


def aggregate(
    rows: Iterable[tuple[dict[str, Any], float]] | Iterable[tuple[dict[str, Any], float, float]],
    group_by: Sequence[str],
    rule: str,
) -> dict[str, Any]:
    """Scores of one task from (sample meta, value in [0, 1][, weight]) rows, for one metric.

    A weight makes a sample count in proportion to it (GAOKAO-Bench: a question weighs its points, so the score
    is points earned over points possible).

    micro: every sample weighs the same. macro: mean over the groups of the first `group_by` key (e.g. the
    unweighted mean of subject accuracies, C-Eval's and CMMLU's official "Average"); the higher-level groups
    (e.g. STEM) then also average their member subjects. A sample whose meta lists several groups (CMMLU's
    "China specific") counts in each.
    """
    rows = [(r[0], float(r[1]), float(r[2]) if len(r) > 2 else 1.0) for r in rows]  # type: ignore[misc]
    flags = [v for _, v, _ in rows]
    micro, micro_se = weighted_mean_stderr(flags, [w for _, _, w in rows])
    out: dict[str, Any] = {"n": len(rows), "micro": 100 * micro, "micro_stderr": 100 * micro_se, "groups": {}}
    base_key = group_by[0] if group_by else None
    base: dict[str, list[tuple[float, float]]] = {}
    for meta, v, w in rows:
        for g in _group_values(meta, base_key) if base_key else []:
            base.setdefault(g, []).append((v, w))
    base_scores = {g: weighted_mean_stderr([v for v, _ in vw], [w for _, w in vw]) for g, vw in base.items()}
    for key in group_by:
        per: dict[str, list[tuple[float, float]]] = {}
        members: dict[str, set[str]] = {}
        for meta, v, w in rows:
            for g in _group_values(meta, key):
                per.setdefault(g, []).append((v, w))
                if base_key:
                    members.setdefault(g, set()).update(_group_values(meta, base_key))
        table = {}
        for g, vw in sorted(per.items()):
            m, se = weighted_mean_stderr([v for v, _ in vw], [w for _, w in vw])
            entry = {"n": len(vw), "micro": 100 * m, "micro_stderr": 100 * se}
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
