"""cons@N (majority voting): with N generations per item, the answer most of them give is the item's answer.

OlymMATH's local_tester.py reports cons@10 beside pass@1: the sampled answers are grouped by equivalence and the
largest group's answer is scored. Here answers are grouped the way the task compares an answer with its reference
(math: math-verify equivalence; numeric: equal within the task's tolerance; others: the same string), an answer
that could not be read never votes, and a tie goes to the group whose first answer came first (generation order,
which is fixed by the item's seeds, never by batching). The item scores what that answer scored."""

from __future__ import annotations

from typing import Any, Callable, Sequence


def _same(answer_type: str, numeric: Any) -> Callable[[str, str], bool]:
    if answer_type == "math":
        from harness.scoring.math_equiv import equivalent

        return lambda a, b: equivalent(a, b) or equivalent(b, a)
    if answer_type == "numeric":
        from harness.scoring.numeric import numbers_match

        tol = numeric.model_dump() if numeric is not None else {}
        return lambda a, b: numbers_match(a, b, **tol)
    return lambda a, b: a == b


def consensus(predictions: Sequence[str | None], values: Sequence[float], answer_type: str,
              numeric: Any = None) -> tuple[str | None, int, float]:
    """The majority answer, its votes, and the value (primary metric) it scored; (None, 0, 0.0) when no
    generation's answer could be read."""
    same = _same(answer_type, numeric)
    groups: list[list[int]] = []  # indices of generations, grouped; groups in order of their first member
    for i, p in enumerate(predictions):
        if p is None:
            continue
        home = next((g for g in groups if same(p, predictions[g[0]] or "")), None)
        if home is None:
            groups.append([i])
        else:
            home.append(i)
    if not groups:
        return None, 0, 0.0
    best = max(groups, key=len)  # max keeps the first of equal lengths: the earliest group wins a tie
    return predictions[best[0]], len(best), float(values[best[0]])
