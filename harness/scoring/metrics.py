"""Per-sample scoring and the roll-up to groups, tasks, categories.

Scores are kept as fractions in [0, 1] internally and reported on a 0-100 scale. Each group score carries its
standard error so a reader (and the leaderboard) can tell a real difference from noise.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterable, Mapping, Sequence

from harness.scoring.answer_metrics import EVALUATE_PREFIX, METRICS, AnswerContext
from harness.scoring.extractors import EXTRACTORS
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
    if sample.is_multi_choice:  # the dispatcher leaves these out of likelihood runs (one option cannot be a set)
        raise ValueError(f"{sample.sample_id}: a multi-answer item cannot be scored by likelihood")
    best = max(range(len(result.logprobs)), key=lambda i: (result.logprobs[i], -i))
    ok = 1.0 if best == sample.target else 0.0
    return Scored(
        prediction=sample.labels[best],
        metrics={m: ok for m in metrics},
        correct=bool(ok),
        logprobs=dict(zip(sample.labels, result.logprobs)),
    )


def extract(extractor: str, text: str, sample: Sample) -> str | None:
    """Read the answer out of generated text with the task's extractor (harness/scoring/extractors.py)."""
    return EXTRACTORS[extractor](text, sample)


def metric_value(metric: str, prediction: str | None, sample: Sample, answer_type: str,
                 numeric: Any = None) -> float | None:
    """One sample's value of one per-answer metric (harness/scoring/answer_metrics.py), in [0, 1]; None where the
    metric leaves the sample out."""
    return METRICS[metric](prediction, sample, AnswerContext(answer_type, numeric))


def score_generation(
    sample: Sample, result: GenerateResult, metrics: Sequence[str] = ("accuracy",), extractor: str = "choice",
    answer_type: str = "choice", numeric: Any = None, tool_call: Any = None,
    evaluators: Mapping[str, Any] | None = None,
) -> Scored:
    """Score one reply: extract the answer, then each metric. `evaluators` are the task's loaded `evaluate:`
    metrics (harness/scoring/evaluate_metric.py), by name without the prefix."""
    if answer_type == "tool_call":  # calls read and checked by the task's checker (`tool_call` block)
        from harness.scoring.acebench import score_item

        return score_item(sample, result, metrics, tool_call)
    prediction = extract(extractor, result.text, sample)
    ctx = AnswerContext(answer_type, numeric)
    each: dict[str, float | None] = {}
    for m in metrics:
        if m.startswith(EVALUATE_PREFIX):
            each[m] = (evaluators or {})[m[len(EVALUATE_PREFIX):]].value(prediction, sample)
        else:
            each[m] = METRICS[m](prediction, sample, ctx)
    values = {m: v for m, v in each.items() if v is not None}
    return Scored(prediction=prediction, metrics=values, correct=values[metrics[0]] >= 1.0, output=result.text)


def _group_values(sample_meta: dict[str, Any], key: str) -> list[str]:
    if key not in sample_meta and "+" in key:  # "subset+level": one group per combination, "content/3"
        combos = [""]
        for part in key.split("+"):
            combos = [f"{c}/{v}" if c else v for c in combos for v in _group_values(sample_meta, part)]
        return combos
    value = sample_meta.get(key)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


class Moments:
    """Running sums of one group's (value, weight) pairs, kept exactly (as fractions): the mean and standard error
    come out the same whatever order samples finish in, and memory does not grow with the number of samples."""

    __slots__ = ("n", "w", "wv", "v", "v2", "w2", "w2v", "w2v2", "unit")

    def __init__(self) -> None:
        self.n = 0
        # ints while values and weights are whole numbers (0/1 accuracies, points), fractions otherwise
        self.w: int | Fraction = 0
        self.wv: int | Fraction = 0
        self.v: int | Fraction = 0
        self.v2: int | Fraction = 0
        self.w2: int | Fraction = 0
        self.w2v: int | Fraction = 0
        self.w2v2: int | Fraction = 0
        self.unit = True  # every weight is 1 (then the plain mean and its n-1 standard error)

    def add(self, value: float, weight: float = 1.0) -> None:
        value, weight = float(value), float(weight)
        v = int(value) if value.is_integer() else Fraction(value)
        w = int(weight) if weight.is_integer() else Fraction(weight)
        self.n += 1
        self.v += v
        self.v2 += v * v
        if weight != 1.0:
            self.unit = False
        self.w += w
        wv = w * v
        self.wv += wv
        self.w2 += w * w
        self.w2v += w * wv
        self.w2v2 += wv * wv

    def mean_stderr(self) -> tuple[float, float]:
        """Mean and standard error, computed exactly. Equal weights: the sample standard deviation (n-1) over
        sqrt(n), as lm-evaluation-harness reports it. Weights: sum w*x / sum w and the standard error of that ratio
        estimator, n/(n-1) * sum (w*(x-mean))^2 / (sum w)^2 under the square root."""
        n = self.n
        if self.unit:
            if n == 0:
                return float("nan"), float("nan")
            mean = Fraction(self.v, n)
            if n == 1:
                return float(mean), float("nan")
            var = (self.v2 - n * mean * mean) / (n - 1)
            return float(mean), math.sqrt(var / n)
        if n == 0 or self.w <= 0:
            return float("nan"), float("nan")
        mean = Fraction(self.wv) / self.w
        if n == 1:
            return float(mean), float("nan")
        var = Fraction(n, n - 1) * (self.w2v2 - 2 * mean * self.w2v + mean * mean * self.w2) / (self.w * self.w)
        return float(mean), math.sqrt(var)


class Tally:
    """One metric of one task, fed a sample at a time: what `aggregate` reports, from per-group running sums."""

    def __init__(self, group_by: Sequence[str]) -> None:
        self.group_by = list(group_by)
        self.all = Moments()
        self.groups: dict[str, dict[str, Moments]] = {key: {} for key in self.group_by}
        self.members: dict[str, dict[str, set[str]]] = {key: {} for key in self.group_by}  # group -> its base groups
        # items of one unit (meta "all_of": a dialogue's turns, see the task's `all_of`): unit -> (meta, lowest value,
        # weight). A unit counts once, right only if all its items are; it joins the sums when results are read.
        self.units: dict[str, tuple[dict[str, Any], float, float]] = {}

    def add(self, meta: dict[str, Any], value: float, weight: float = 1.0) -> None:
        unit = meta.get("all_of")
        if unit is not None:
            key = str(unit)
            held = self.units.get(key)
            self.units[key] = (meta, value if held is None else min(held[1], value), weight)
            return
        self._add(meta, value, weight)

    def _add(self, meta: dict[str, Any], value: float, weight: float = 1.0) -> None:
        self.all.add(value, weight)
        base = _group_values(meta, self.group_by[0]) if self.group_by else []
        for key in self.group_by:
            for g in _group_values(meta, key):
                self.groups[key].setdefault(g, Moments()).add(value, weight)
                self.members[key].setdefault(g, set()).update(base)

    def result(self, rule: str) -> dict[str, Any]:
        """micro: every sample weighs the same. macro: mean over the groups of the first `group_by` key (e.g. the
        unweighted mean of subject accuracies, C-Eval's and CMMLU's official "Average"); the higher-level groups
        (e.g. STEM) then also average their member subjects. A sample whose meta lists several groups (CMMLU's
        "China specific") counts in each."""
        if self.units:  # the units join a copy, so items of a unit may still arrive after a result is read
            import copy

            whole = copy.deepcopy(self)
            whole.units = {}
            for meta, value, weight in self.units.values():
                whole._add(meta, value, weight)
            return whole.result(rule)
        micro, micro_se = self.all.mean_stderr()
        out: dict[str, Any] = {"n": self.all.n, "micro": 100 * micro, "micro_stderr": 100 * micro_se, "groups": {}}
        base_key = self.group_by[0] if self.group_by else None
        base = self.groups[base_key] if base_key else {}
        base_scores = {g: m.mean_stderr() for g, m in base.items()}
        for key in self.group_by:
            table = {}
            for g, moments in sorted(self.groups[key].items()):
                m, se = moments.mean_stderr()
                entry: dict[str, Any] = {"n": moments.n, "micro": 100 * m, "micro_stderr": 100 * se}
                if rule == "macro" and key != base_key:
                    subs = sorted(self.members[key][g])
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
            pooled_var = micro_se**2 * self.all.n if self.all.n > 1 else float("nan")
            var_sum = sum(se**2 if not math.isnan(se) else pooled_var / base[g].n for g, (_, se) in base_scores.items())
            out["macro_stderr"] = 100 * math.sqrt(var_sum) / len(accs)
        out["score"] = out.get("macro", out["micro"])
        out["score_stderr"] = out.get("macro_stderr", out["micro_stderr"])
        return out


def _cga_f(c: float, i: float, n: int) -> tuple[float, float, float, float]:
    """CGA, F-score and their standard errors from the correct and incorrect shares of n items. CGA = CO/(CO+IN) and
    F = 2·CO·CGA/(CO+CGA), which is 2·CO/(1+CO+IN); both 0 where upstream's formula divides by 0. The standard errors
    are the delta method's over the items' (correct, incorrect) indicators, which exclude each other, with the same
    n-1 sample variance as Moments."""
    att = c + i
    cga = c / att if att > 0 else 0.0
    f = 2 * c / (1 + c + i)
    if n < 2:
        return cga, f, float("nan"), float("nan")
    k = n / (n - 1)
    sxx, syy, sxy = k * c * (1 - c), k * i * (1 - i), -k * c * i

    def se(gx: float, gy: float) -> float:
        return math.sqrt(max(gx * gx * sxx + gy * gy * syy + 2 * gx * gy * sxy, 0.0) / n)

    a = 1 + c + i
    cga_se = se(i / att**2, -c / att**2) if att > 0 else float("nan")
    return cga, f, cga_se, se(2 * (1 + i) / a**2, -2 * c / a**2)


def three_way(correct: dict[str, Any], incorrect: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Chinese SimpleQA's task-level metrics (calculate_accuracies in judge/chinese_simpleqa_easy.py @8b1aa9eb):
    correct_given_attempted (CGA) and f_score, overall and per group, from the `correct` and `incorrect` metrics'
    aggregates (Tally.result: 0-100, micro). Shaped like a Tally result, so either can be a task's score."""

    def block(cr: dict[str, Any], ir: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        n = cr["n"]
        if not n:
            nan = float("nan")
            return ({"n": 0, "micro": nan, "micro_stderr": nan, "score": nan},) * 2
        cga, f, cga_se, f_se = _cga_f(cr["micro"] / 100, ir["micro"] / 100, n)
        return ({"n": n, "micro": 100 * cga, "micro_stderr": 100 * cga_se, "score": 100 * cga},
                {"n": n, "micro": 100 * f, "micro_stderr": 100 * f_se, "score": 100 * f})

    cga, f = block(correct, incorrect)
    cga.update(score_stderr=cga["micro_stderr"], groups={})
    f.update(score_stderr=f["micro_stderr"], groups={})
    for key, table in correct["groups"].items():
        cga["groups"][key], f["groups"][key] = {}, {}
        for g, entry in table.items():
            cga["groups"][key][g], f["groups"][key][g] = block(entry, incorrect["groups"][key][g])
    return {"correct_given_attempted": cga, "f_score": f}


def aggregate(
    rows: Iterable[tuple[dict[str, Any], float]] | Iterable[tuple[dict[str, Any], float, float]],
    group_by: Sequence[str],
    rule: str,
) -> dict[str, Any]:
    """Scores of one task from (sample meta, value in [0, 1][, weight]) rows, for one metric (see `Tally`).

    A weight makes a sample count in proportion to it (GAOKAO-Bench: a question weighs its points, so the score
    is points earned over points possible).
    """
    tally = Tally(group_by)
    for r in rows:
        tally.add(r[0], r[1], r[2] if len(r) > 2 else 1.0)
    return tally.result(rule)


class TaskTally:
    """What a task's results block needs from its samples, fed as each is scored: per-metric tallies and a few
    counts (unextracted answers, sandbox statuses, unread verdicts). Nothing per sample is kept."""

    def __init__(self, metrics: Sequence[str], group_by: Sequence[str], csl: Any = None) -> None:
        self.group_by = list(group_by)
        self.metrics = {m: Tally(group_by) for m in metrics}
        self._keys = {part for key in self.group_by for part in (key, *key.split("+"))}  # what the groups are read from
        self.chains: Any = None  # FollowBench's CSL (spec.csl): each chain's levels, harness/scoring/chains.py
        if csl is not None:
            from harness.scoring.chains import ChainTally

            self.chains = ChainTally(csl.chain, csl.level, csl.by, csl.levels, csl.metric)
        self.n = 0
        self.without_prediction = 0
        self.without_metrics = 0  # a judge verdict that could not be read: left out of the score, counted
        self.predictions: Counter[str] = Counter()  # only where predictions are a few statuses (execution tasks)
        self.draws: list[Moments] = []  # several generations per item: the primary metric of the j-th of each
        self.any_right = Moments()  # ... and whether any of an item's generations was fully right (pass@N)
        self.majority = Moments()  # ... and what the majority answer scored (cons@N, harness/scoring/consensus.py)
        self.flags: Counter[str] = Counter()  # judged items by how their verdict was read (judge_clamped, ...)

    def add_draws(self, values: Sequence[float], majority: float | None = None) -> None:
        """One item's N generations: the primary metric of each, and what their majority answer scored (None where
        the task has no answers to vote on)."""
        if len(values) < 2:
            return
        if majority is not None:
            self.majority.add(majority)
        while len(self.draws) < len(values):
            self.draws.append(Moments())
        for moments, v in zip(self.draws, values):
            moments.add(v)
        self.any_right.add(1.0 if any(v >= 1.0 for v in values) else 0.0)

    def across_samples(self) -> dict[str, Any] | None:
        """With N generations per item: the task score (per-item mean) of each of the N runs, their mean (avg@N) and
        the standard error across the N runs, sd/sqrt(N): how much a score moves from one sampled run to the next."""
        if not self.draws:
            return None
        scores = [100 * m.mean_stderr()[0] for m in self.draws]
        n = len(scores)
        mean = sum(scores) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in scores) / (n - 1)) if n > 1 else float("nan")
        out = {"samples": n, "per_sample": scores, "mean": mean, "stderr": sd / math.sqrt(n),
               f"pass@{n}": 100 * self.any_right.mean_stderr()[0]}
        if self.majority.n:
            out[f"cons@{n}"] = 100 * self.majority.mean_stderr()[0]
        return out

    def add(self, sample: Sample, s: Scored, count_predictions: bool = False) -> None:
        self.add_values(sample.meta, s.metrics, sample.weight, s.prediction, count_predictions)

    def add_values(self, meta: dict[str, Any], metrics: dict[str, float], weight: float, prediction: str | None,
                   count_predictions: bool = False) -> None:
        self.n += 1
        if self.chains is not None:
            self.chains.add(meta, metrics)
        groups = {k: meta[k] for k in (*self._keys, "all_of") if k in meta}
        for m, tally in self.metrics.items():
            if m in metrics:
                tally.add(groups, metrics[m], weight)
        self.without_prediction += prediction is None
        self.without_metrics += not metrics
        if count_predictions:
            self.predictions[str(prediction)] += 1
