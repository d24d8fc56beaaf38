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


def parse_abc(text: str) -> str:
    """Chinese SimpleQA's grade (judge/chinese_simpleqa_easy.py @8b1aa9eb): the first A, B or C anywhere in the reply,
    as `re.search(r"(A|B|C)", ...)` finds it; C (not attempted) when there is none, as upstream defaults."""
    found = re.search(r"[ABC]", text)
    return found.group(0) if found else "C"


def abc_defaulted(text: str) -> bool:
    """Whether parse_abc found no letter and fell back to C (counted: a judge that ignores the format shows)."""
    return re.search(r"[ABC]", text) is None


def parse_yes_no(text: str) -> str | None:
    """One HalluQA vote: 是 (hallucinated) or 否. Upstream (calculate_metrics.py @7e5c6739) accepts only a reply that is
    exactly 是 or 否 and asks again otherwise; here the reply, stripped, must be or start with one of them (not 是否,
    an echo of the question)."""
    t = text.strip()
    if not t or t.startswith("是否") or t[0] not in "是否":
        return None
    return t[0]


def hallucinated(votes: list[str | None]) -> bool | None:
    """HalluQA's vote rule: a hallucination when more than half of the votes say 是 (upstream: more than 2 of n=5);
    None when any vote is unreadable (upstream asks again, and after five failures marks the item Invalid_Judge)."""
    if not votes or any(v is None for v in votes):
        return None
    return 2 * votes.count("是") > len(votes)


def _no_hallucination(text: str) -> float | None:
    """The yes_no parser's verdict: 1 for no hallucination, 0 for one (one reply is one vote)."""
    bad = hallucinated([parse_yes_no(text)])
    return None if bad is None else 0.0 if bad else 1.0


_GAOKAO_TOTAL = re.compile(r"【总分】\s*(?:.*=)?\s*(\d+(\.\d*)?)\s*分")  # Bench/bench_function.py @6dbb24f8


def parse_gaokao_total(text: str) -> float | None:
    """GAOKAO-Bench's grade: the points after 【总分】, read with upstream's regex, when it matches exactly once (upstream
    asks again otherwise)."""
    found = _GAOKAO_TOTAL.findall(text)
    return float(found[0][0]) if len(found) == 1 else None


PARSERS = {"rating": parse_rating, "score": parse_score, "alignbench": parse_alignbench, "abc": parse_abc,
           "yes_no": _no_hallucination, "gaokao_total": parse_gaokao_total}
UNSCALED = ("abc", "gaokao_total")  # a letter; points out of each item's own points (clamped by the item, not here)
FIRST_MATCH = ("abc", "yes_no", "gaokao_total")  # read the reply's first or only verdict: never from a judge's reasoning


def after_thinking(text: str) -> str:
    """A judge's reply without its reasoning: what follows the last </think>; nothing when a <think> block never
    closed. The first-match parsers (upstream's judges do not think) would otherwise read a letter the reasoning
    mentions."""
    if "</think>" in text:
        return text.rsplit("</think>", 1)[1]
    return "" if "<think>" in text else text


def parse_verdict(parser: str, text: str, scale: tuple[float, float]) -> float | str | None:
    """The verdict, or None when it is missing or outside the rubric's scale (a judge that answers "[[15]]"
    on a 1-10 scale has not given a verdict the rubric defines)."""
    value = PARSERS[parser](after_thinking(text) if parser in FIRST_MATCH else text)
    if value is None or parser in UNSCALED:
        return value
    assert not isinstance(value, str)  # a letter comes only from "abc", which is unscaled
    if not scale[0] <= value <= scale[1]:
        return None
    return value
