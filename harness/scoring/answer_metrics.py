"""Per-answer metrics: one function per name a task's `metrics` may list, scoring the answer read out of a reply
(see extractors.py) against the sample's reference. Each returns a value in [0, 1], or None where the metric leaves
the sample out (accuracy_answered). Metrics that other scorers compute (a judge's verdict, a checklist, tool
calls, tests run in the sandbox) are declared in SCORED_ELSEWHERE, so a task file can name them too; `evaluate:`
metrics are modules of the `evaluate` library (harness/scoring/evaluate_metric.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from harness.registry import Registry
from harness.types import Sample


@dataclass(frozen=True)
class AnswerContext:
    """What a metric may need of the task beside the sample: its answer type and numeric tolerances."""

    answer_type: str = "choice"
    numeric: Any = None  # the task's NumericSpec, or None for the defaults


MetricFn = Callable[[str | None, Sample, AnswerContext], "float | None"]
METRICS: Registry[MetricFn] = Registry("metric")

# names other scorers give values to, and where
SCORED_ELSEWHERE = {
    "judge_score": "a judge model (answer_type judged)",
    "csr": "the cfbench checklist judge parser", "isr": "the cfbench checklist judge parser",
    "psr": "the cfbench checklist judge parser",
    "hsr": "the followbench checklist judge parser", "ssr": "the followbench checklist judge parser",
    "acebench": "the tool-call checker (answer_type tool_call)",
    "acebench_strict": "the tool-call checker (answer_type tool_call)",
    "correct": "a three-way judge grade (judge.parser abc)", "incorrect": "a three-way judge grade (judge.parser abc)",
    "not_attempted": "a three-way judge grade (judge.parser abc)",
    "correct_given_attempted": "the correct and incorrect shares", "f_score": "the correct and incorrect shares",
}
PASS_AT = re.compile(r"^pass@[1-9][0-9]*$")  # tests run in the sandbox (answer_type execution)
EVALUATE_PREFIX = "evaluate:"


def check_metric_name(name: str) -> str:
    """A name a task may list: registered here, scored elsewhere, pass@k, or evaluate:<name>."""
    if name in METRICS or name in SCORED_ELSEWHERE or PASS_AT.match(name):
        return name
    if name.startswith(EVALUATE_PREFIX) and re.fullmatch(r"[A-Za-z0-9_.-]+", name[len(EVALUATE_PREFIX):]):
        return name
    raise ValueError(METRICS.unknown(name, also=(*SCORED_ELSEWHERE, "pass@<k>", "evaluate:<name>")))


@METRICS.register("accuracy")
def accuracy(prediction: str | None, sample: Sample, ctx: AnswerContext) -> float:
    """The answer is the reference: the label (or exact set of labels), a number within tolerance, or one of the
    reference strings."""
    if prediction is None:
        return 0.0
    if ctx.answer_type == "numeric":
        from harness.scoring.numeric import numbers_match

        tol = ctx.numeric.model_dump() if ctx.numeric is not None else {}
        return 1.0 if any(numbers_match(prediction, a, **tol) for a in sample.answers) else 0.0
    if sample.target >= 0 or sample.is_multi_choice:  # a label, or exactly the set of labels ("AC")
        return 1.0 if prediction == sample.target_label else 0.0
    return 1.0 if prediction in sample.answers else 0.0


@METRICS.register("accuracy_answered")
def accuracy_answered(prediction: str | None, sample: Sample, ctx: AnswerContext) -> float | None:
    """Accuracy over the answered items only (UHGEval's own figure): an unanswered item is left out."""
    return None if prediction is None else accuracy(prediction, sample, ctx)


@METRICS.register("exact_match")
def exact_match(prediction: str | None, sample: Sample, ctx: AnswerContext) -> float:
    """CMRC2018's exact match, against the best reference."""
    from harness.scoring.cmrc import cmrc_em

    return cmrc_em(list(sample.answers), prediction or "")


@METRICS.register("f1")
def f1(prediction: str | None, sample: Sample, ctx: AnswerContext) -> float:
    """CMRC2018's character F1, against the best reference."""
    from harness.scoring.cmrc import cmrc_f1

    return cmrc_f1(list(sample.answers), prediction or "")


@METRICS.register("gaokao_score")
def gaokao_score(prediction: str | None, sample: Sample, ctx: AnswerContext) -> float:
    """GAOKAO-Bench's points for the question type, as a fraction of the question's points."""
    from harness.scoring.gaokao import normalised_score

    predicted = prediction.split(",") if prediction else []
    return normalised_score(predicted, list(sample.answers), str(sample.meta.get("type", "single_choice")))


@METRICS.register("math_equiv")
def math_equiv(prediction: str | None, sample: Sample, ctx: AnswerContext) -> float:
    """Equal as mathematics to any reference answer, decided by math-verify as OlymMATH's scorer calls it."""
    from harness.scoring.math_equiv import equivalent

    return 1.0 if prediction is not None and any(equivalent(prediction, a) for a in sample.answers) else 0.0
