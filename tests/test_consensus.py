"""cons@N, the majority answer over N generations, as OlymMATH's local_tester.py computes cons@10: answers clustered
with the task's comparison, unread answers a cluster of their own, ties to the earliest cluster. Hand-worked from
OlymMATH-style answers."""

from __future__ import annotations

import pytest

from harness.scoring.consensus import consensus
from harness.scoring.metrics import TaskTally


def test_math_answers_vote_by_equivalence() -> None:
    # \frac{1}{2}, 0.5 and \dfrac12 are one answer (3 votes) against 1/3 (1) and the unread one (1)
    preds = [r"\frac{1}{2}", "1/3", None, "0.5", r"\dfrac12"]
    assert consensus(preds, [1, 0, 0, 1, 1], "math") == (r"\frac{1}{2}", 3, 1.0)
    # intervals keep their ends: [0,1) and [0,1] are different answers; two (0,1] beat one [0,1]
    assert consensus(["[0,1]", "(0,1]", r"\left(0,1\right]"], [1, 0, 0], "math") == ("(0,1]", 2, 0.0)


def test_ties_go_to_the_earliest_answer_and_nothing_read_scores_zero() -> None:
    assert consensus(["2", "3"], [0, 1], "math") == ("2", 1, 0.0)
    assert consensus(["3", "2"], [1, 0], "math") == ("3", 1, 1.0)
    assert consensus([None, None], [0, 0], "math") == (None, 2, 0.0)
    # most generations gave no answer: the unread cluster wins and the item scores 0, as upstream's does
    assert consensus([None, "2", None], [0, 1, 0], "math") == (None, 2, 0.0)
    assert consensus(["2", None, None, "2"], [1, 0, 0, 1], "math") == ("2", 2, 1.0)  # a tie: the earlier cluster


def test_numeric_and_choice_answers() -> None:
    assert consensus(["1,000", "999", "1000"], [1, 0, 1], "numeric") == ("1,000", 2, 1.0)
    assert consensus(["B", "A", "A"], [1, 0, 0], "choice") == ("A", 2, 0.0)


def test_cons_at_n_is_reported_beside_avg_and_pass() -> None:
    tally = TaskTally(["accuracy"], [])
    tally.add_draws([1.0, 0.0, 0.0], majority=0.0)  # right once, the majority wrong
    tally.add_draws([1.0, 1.0, 0.0], majority=1.0)
    across = tally.across_samples()
    assert across is not None
    assert across["cons@3"] == pytest.approx(50.0) and across["pass@3"] == pytest.approx(100.0)
    assert across["mean"] == pytest.approx(50.0)
