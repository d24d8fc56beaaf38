"""cons@N (majority voting): with N generations per item, the answer most of them give is the item's answer.

As OlymMATH's local_tester.py computes its cons@10 (read at 94e19ffb): answers are put in clusters in generation
order, each new cluster seeded by the first answer not yet placed and joined by every later one equivalent to the
seed (the seed taken as the reference); the largest cluster wins, the earliest of equal ones; its first answer is
the item's. Equivalence is the task's own comparison (math: math-verify; numeric: equal within the task's tolerance;
others: the same string). Answers that could not be read form a cluster of their own, as upstream's identical
unparsed answers do, so an item most of whose generations give no answer scores 0. Generation order is fixed by the
item's seeds, never by batching. The item scores what its winning answer scored."""

from __future__ import annotations

from typing import Any, Callable, Sequence


def _same(answer_type: str, numeric: Any) -> Callable[[str, str], bool]:
    """equal(answer, seed): whether an answer joins the cluster of `seed` (the seed as the reference)."""
    if answer_type == "math":
        from harness.scoring.math_equiv import equivalent

        return equivalent
    if answer_type == "numeric":
        from harness.scoring.numeric import numbers_match

        tol = numeric.model_dump() if numeric is not None else {}
        return lambda a, b: numbers_match(a, b, **tol)
    return lambda a, b: a == b


def consensus(predictions: Sequence[str | None], values: Sequence[float], answer_type: str,
              numeric: Any = None) -> tuple[str | None, int, float]:
    """The winning answer (None: the unread ones won), its votes, and the value (primary metric) it scored."""
    same = _same(answer_type, numeric)
    clusters: list[list[int]] = []
    placed: set[int] = set()
    for i, seed in enumerate(predictions):
        if i in placed:
            continue
        cluster = [i] + [j for j in range(i + 1, len(predictions)) if j not in placed and (
            predictions[j] is None if seed is None else predictions[j] is not None and same(predictions[j] or "", seed))]
        placed.update(cluster)
        clusters.append(cluster)
    if not clusters:
        return None, 0, 0.0
    best = max(clusters, key=len)  # max keeps the first of equal lengths: the earliest cluster wins a tie
    chosen = predictions[best[0]]
    return chosen, len(best), 0.0 if chosen is None else float(values[best[0]])
