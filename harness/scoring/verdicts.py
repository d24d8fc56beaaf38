"""Reading a judge model's verdict out of its free text.

Each parser returns the verdict as a number, or None when the text holds no verdict it can trust; None is
recorded and counted as unparsed, never turned into a score of 0. Where a judge writes several candidates (it
quotes the format, then gives its own rating), the last one wins: the official scripts read it that way.
"""

from __future__ import annotations

import re

_NUM = r"(\d+(?:\.\d+)?)"
_FULLWIDTH = str.maketrans("０１２３４５６７８９．：［］（）", "0123456789.:[]()")


def _last(pattern: str, text: str) -> float | None:
    found = re.findall(pattern, text)
    return float(found[-1]) if found else None


def parse_rating(text: str) -> float | None:
    """MT-Bench: "Rating: [[8]]" (also [8] / 评分：8 as judges drift from the format)."""
    t = text.translate(_FULLWIDTH)
    for pattern in (rf"\[\[\s*{_NUM}\s*\]\]", rf"(?:[Rr]ating|评分|得分|分数)\s*[:：]?\s*\[?\s*{_NUM}\s*\]?",
                    rf"\[\s*{_NUM}\s*\]"):
        value = _last(pattern, t)
        if value is not None:
            return value
    return None


def parse_score(text: str) -> float | None:
    """BELLE: "得分: 0.8" / "得分：1分" (a fraction like 3/4 is read as 0.75)."""
    t = text.translate(_FULLWIDTH)
    frac = re.findall(r"得分\s*[:：]?\s*(\d+)\s*/\s*(\d+)", t)
    if frac:
        a, b = frac[-1]
        return float(a) / float(b) if float(b) else None
    return _last(rf"得分\s*[:：]?\s*{_NUM}", t)


def parse_alignbench(text: str) -> float | None:
    """AlignBench: the last {...} dictionary's '综合得分' (as its judge.py reads it), else a loose 综合得分: N."""
    t = text.translate(_FULLWIDTH)
    dicts = re.findall(r"\{([^{}]*)\}", t)
    for body in reversed(dicts):
        m = re.search(rf"['\"]?综合得分['\"]?\s*[:：]\s*{_NUM}", body)
        if m:
            return float(m.group(1))
    return _last(rf"综合得分\s*['\"]?\s*[:：]\s*{_NUM}", t)


def dimension_scores(text: str) -> dict[str, float]:
    """AlignBench's per-dimension ratings from the last dictionary, for the sample record."""
    dicts = re.findall(r"\{([^{}]*)\}", text.translate(_FULLWIDTH))
    if not dicts:
        return {}
    return {k: float(v) for k, v in re.findall(rf"['\"]([^'\"]+)['\"]\s*[:：]\s*{_NUM}", dicts[-1])}


PARSERS = {"rating": parse_rating, "score": parse_score, "alignbench": parse_alignbench}


def parse_verdict(parser: str, text: str, scale: tuple[float, float]) -> float | None:
    """The verdict, or None when it is missing or outside the rubric's scale (a judge that answers "[[15]]"
    on a 1-10 scale has not given a verdict the rubric defines)."""
    value = PARSERS[parser](text)
    if value is None or not scale[0] <= value <= scale[1]:
        return None
    return value
