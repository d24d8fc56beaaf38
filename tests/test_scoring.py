"""Metrics and aggregation on hand-worked cases: every expected number below was computed by hand."""

from __future__ import annotations

import math

import pytest

from harness.scoring.metrics import Moments, aggregate, score_generation, score_likelihood
from harness.types import Cost, GenerateResult, LoglikelihoodResult, Sample


def _sample(target: int = 1) -> Sample:
    return Sample("t", "s1", "q", ("甲", "乙", "丙", "丁"), ("A", "B", "C", "D"), target)


def _ll(logprobs: list[float]) -> LoglikelihoodResult:
    return LoglikelihoodResult(logprobs, [1] * 4, [False] * 4, True, Cost())


def test_likelihood_picks_highest_logprob() -> None:
    s = score_likelihood(_sample(1), _ll([-3.0, -0.5, -2.0, -9.0]))
    assert (s.prediction, s.correct) == ("B", True)
    assert s.logprobs == {"A": -3.0, "B": -0.5, "C": -2.0, "D": -9.0}
    s = score_likelihood(_sample(1), _ll([-3.0, -0.5, -0.4, -9.0]))
    assert (s.prediction, s.correct) == ("C", False)


def test_likelihood_tie_goes_to_first_option() -> None:
    assert score_likelihood(_sample(2), _ll([-1.0, -1.0, -1.0, -2.0])).prediction == "A"


def test_generation_scoring_uses_extraction() -> None:
    right = score_generation(_sample(1), GenerateResult("经过分析，答案是B。", "eos"))
    assert (right.prediction, right.correct, right.output) == ("B", True, "经过分析，答案是B。")
    none = score_generation(_sample(1), GenerateResult("我不知道", "eos"))
    assert (none.prediction, none.correct) == (None, False)


def _moments(values: list[float], weights: list[float] | None = None) -> tuple[float, float]:
    m = Moments()
    for i, v in enumerate(values):
        m.add(v, weights[i] if weights else 1.0)
    return m.mean_stderr()


def two_pass(values: list[float], weights: list[float]) -> tuple[float, float]:
    """The textbook two-pass formulas over a list, the reference the running sums are checked against."""
    n, total = len(values), sum(weights)
    mean = sum(w * v for v, w in zip(values, weights)) / total
    if all(w == 1.0 for w in weights):
        return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)
    return mean, math.sqrt(n / (n - 1) * sum((w * (v - mean)) ** 2 for v, w in zip(values, weights)) / total**2)


def test_mean_stderr_hand_worked() -> None:
    # values 1,0,1,1: mean .75, sample variance (3*.0625 + .5625)/3 = .25, se = sqrt(.25/4) = .25
    assert _moments([1, 0, 1, 1]) == pytest.approx((0.75, 0.25))
    m, se = _moments([1.0])
    assert m == 1.0 and math.isnan(se)
    # points 1 and 3 on values 1, 0: mean 1/4; n/(n-1) * ((1*.75)^2 + (3*.25)^2) / 4^2 = 2 * 1.125 / 16
    assert _moments([1.0, 0.0], [1.0, 3.0]) == pytest.approx((0.25, math.sqrt(2 * 1.125 / 16)))


def _rows() -> list[tuple[dict, bool]]:
    # subject a (group X): 2/2 right; subject b (group X): 0/1; subject c (groups X and Y): 1/4
    return (
        [({"subset": "a", "group": "X"}, True)] * 2
        + [({"subset": "b", "group": "X"}, False)]
        + [({"subset": "c", "group": ["X", "Y"]}, ok) for ok in (True, False, False, False)]
    )


def test_micro_aggregate() -> None:
    out = aggregate(_rows(), ["subset", "group"], "micro")
    assert out["n"] == 7
    assert out["score"] == pytest.approx(100 * 3 / 7)
    assert out["groups"]["subset"]["a"]["score"] == pytest.approx(100.0)
    assert out["groups"]["subset"]["c"]["score"] == pytest.approx(25.0)
    assert out["groups"]["group"]["X"]["score"] == pytest.approx(100 * 3 / 7)
    assert out["groups"]["group"]["Y"]["score"] == pytest.approx(25.0)


def test_macro_aggregate_is_mean_of_subject_means() -> None:
    out = aggregate(_rows(), ["subset", "group"], "macro")
    # subjects: a 100, b 0, c 25 -> (100 + 0 + 25) / 3
    assert out["score"] == pytest.approx(125 / 3)
    assert out["micro"] == pytest.approx(100 * 3 / 7)
    x = out["groups"]["group"]["X"]
    assert x["macro"] == pytest.approx(125 / 3) and x["n_subsets"] == 3
    assert out["groups"]["group"]["Y"]["score"] == pytest.approx(25.0)
    # stderr of the macro mean: sqrt(se_a^2 + se_b^2 + se_c^2) / 3. a: all right -> 0; c: values 1,0,0,0 -> se .25;
    # b has one item, so it borrows the pooled variance of all 7 flags (3 ones): (3*(4/7)^2 + 4*(3/7)^2)/6 = 2/7
    assert out["score_stderr"] == pytest.approx(100 * math.sqrt(2 / 7 + 0.25**2) / 3)


def test_aggregate_without_groups() -> None:
    out = aggregate([({}, True), ({}, False)], [], "micro")
    assert out["score"] == 50.0 and out["groups"] == {}


def test_weighted_aggregate_is_points_earned_over_points_possible() -> None:
    # GAOKAO-style: a 6-point question fully right, a 2-point question half right, a 2-point question wrong:
    # (6*1 + 2*.5 + 2*0) / (6 + 2 + 2) = 7/10, where an unweighted mean would give 0.5
    rows = [({"subset": "a"}, 1.0, 6.0), ({"subset": "a"}, 0.5, 2.0), ({"subset": "b"}, 0.0, 2.0)]
    out = aggregate(rows, ["subset"], "micro")
    assert out["score"] == pytest.approx(70.0)
    assert out["groups"]["subset"]["a"]["score"] == pytest.approx(100 * 7 / 8)
    assert aggregate([(m, v) for m, v, _ in rows], ["subset"], "micro")["score"] == pytest.approx(50.0)


def test_running_moments_equal_the_two_pass_formulas_in_any_order() -> None:
    """The streamed tally gives the list-based mean and standard error (to rounding), and the very same bits
    whatever order samples finish in (a resumed run finishes them in another order)."""
    import random

    rng = random.Random(3)
    for values, weights in [
        ([float(rng.random() < 0.4) for _ in range(500)], [1.0] * 500),  # accuracies
        ([rng.random() for _ in range(300)], [1.0] * 300),  # F1-like fractions
        ([rng.random() for _ in range(300)], [rng.choice([1.0, 2.5, 6.0]) for _ in range(300)]),  # points
    ]:
        m = Moments()
        for v, w in zip(values, weights):
            m.add(v, w)
        expected = two_pass(values, weights)
        assert m.mean_stderr() == pytest.approx(expected, rel=1e-12)
        pairs = list(zip(values, weights))
        rng.shuffle(pairs)
        shuffled = Moments()
        for v, w in pairs:
            shuffled.add(v, w)
        assert shuffled.mean_stderr() == m.mean_stderr()


def test_running_moments_edge_cases() -> None:
    empty = Moments()
    assert all(math.isnan(x) for x in empty.mean_stderr())
    one = Moments()
    one.add(1.0)
    mean, se = one.mean_stderr()
    assert mean == 1.0 and math.isnan(se)
    same = Moments()
    for _ in range(4):
        same.add(0.5, 2.0)
    assert same.mean_stderr() == (0.5, 0.0)
