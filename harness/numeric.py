"""Numeric answers of math word problems (CMATH, MGSM-zh, GSM8K-zh) read from free-text model outputs.

Conventions, each chosen so that a score means what it says:

* Text is NFKC-normalised first (full-width digits, "，", "：", "％" become ASCII); U+2212 "−" is a minus sign.
* Supported literals: integers and decimals ("18", "3.5"; "18." is 18 followed by a full stop), thousands
  groups ("1,234", "1，234", LaTeX "1{,}234"/"1\\,234"), fractions "3/4", "\\frac{3}{4}" (also \\dfrac, \\tfrac),
  mixed numbers "1又1/2" and "1\\frac{1}{2}", Chinese fractions "4分之3" (= 3/4) and "百分之25", percentages
  "25%" / "25\\%", and a leading minus sign. Not supported: Chinese number words ("十八"), scientific notation.
* Thousands vs lists: a group needs a first part of 1-3 digits not starting with 0, then ",ddd" groups and no
  further digit or ",d" after it. So "3,4,5" and "1,2345" are lists, but a list of 3-digit numbers written
  without spaces ("120,150") reads as one number: rare in answers, and "1,234" is the common case.
* A "-" is a minus sign only when not preceded by a digit, letter or closing bracket: "3-4" (range) and
  "2023-10-05" (date) never give negative numbers. "2023/10/05" is not a fraction either.
* Percentages compare as values: "25%" == 0.25. CMATH needs this: its gold answers mix "25%" for
  "百分之几？" with "0.96" for "出勤率" and "0.0873" for "年利率", which models state as "96%" and "8.73%".
"""

from __future__ import annotations

import math
import re
import unicodedata
from fractions import Fraction

__all__ = ["parse_number", "extract_number", "gold_number", "numbers_match"]

_D = r"\d+(?:\.\d+)?"
_LIT = re.compile(rf"""
    (?P<neg>(?<![0-9A-Za-z)\]}}])-)?
    (?:(?P<fw>\d+)?\\frac\{{\s*(?P<fn>-?{_D})\s*\}}\{{\s*(?P<fd>{_D})\s*\}}
      |(?P<mw>\d+)\s*又\s*(?P<mn>\d+)\s*/\s*(?P<md>\d+)
      |(?P<cd>\d+)\s*分之\s*(?P<cn>\d+)
      |(?P<cp>百分之)\s*(?P<cv>{_D})
      |(?<![\d/.])(?P<n>\d+)/(?P<d>\d+)(?![/\d])
      |(?P<g>[1-9]\d{{0,2}}(?:,\d{{3}})+(?:\.\d+)?)(?!\d|,\d)
      |(?P<x>{_D})
    )(?P<pct>\s*%)?""", re.X)
_OP = re.compile(r"\s*(?:[-+*/×÷·=]|\\times|\\div|\\cdot)")
_END = re.compile(r"[。\n;!?]|\.(?!\d)")
# Explicit final-answer statements; the number is looked for right after the LAST one.
_STRONG = re.compile(r"(?:最终|最后|正确)?答案(?!是否)(?:应该|应|就|则)?(?:是|为)?"
                     r"|(?i:final\s+answer|answer\s*(?:is|:))|####(?=\s*-?\d)")
# "所以/因此 …是/为/=" conclusions: trusted only when nothing numeric follows them (not mid-reasoning).
_WEAK = re.compile(r"(?:所以|因此|综上所述?|总之|故|(?i:\b(?:therefore|thus|hence|so)\b))[^。\n;]*?"
                   r"(?:是|为|等于|共|=|(?i:\bis\b))")
_SKIP = re.compile(r"[\s:*#$(\[]*")
_LIST = re.compile(r"(?m)^[ \t#>]*(?:\d{1,2}(?:\.(?=[ \t])|、|[)）])|\(\d{1,2}\))")


def _norm(text: str) -> str:
    """NFKC plus the LaTeX spellings of the same literals, so one regex reads them all."""
    t = unicodedata.normalize("NFKC", text).replace("\u2212", "-")
    t = re.sub(r"\\[dt]frac", r"\\frac", t).replace("\\%", "%").replace("{,}", ",")
    return re.sub(r"(?<=\d)\\,(?=\d{3})", ",", t)


def _value(m: re.Match[str]) -> float | None:
    g = m.groupdict()
    try:
        if g["fn"] is not None:
            v = Fraction(g["fw"] or 0) + Fraction(g["fn"]) / Fraction(g["fd"])
        elif g["mw"] is not None:
            v = Fraction(g["mw"]) + Fraction(int(g["mn"]), int(g["md"]))
        elif g["cd"] is not None:
            v = Fraction(int(g["cn"]), int(g["cd"]))
        elif g["cv"] is not None:
            v = Fraction(g["cv"]) / 100
        elif g["n"] is not None:
            v = Fraction(int(g["n"]), int(g["d"]))
        else:
            v = Fraction((g["g"] or g["x"]).replace(",", ""))
    except ZeroDivisionError:
        return None
    if g["pct"]:
        v /= 100
    return float(-v if g["neg"] else v)


def parse_number(text: str) -> float | None:
    """A single numeric literal (see the module docstring for the forms) as a float, else None. Units or
    words around it ("0.5元", "$18$") give None: the caller extracts first, so nothing is parsed by accident."""
    m = _LIT.fullmatch(_norm(text).strip())
    return _value(m) if m else None


def _lit(m: re.Match[str]) -> str:
    return re.sub(r"\s+", "", m.group(0))


def _pick(seg: str, anchored: bool = False) -> str | None:
    """The answer in a short span: its first number (at its very start if `anchored`), unless that opens an
    expression ("9×2=18"), in which case the number after the last "=" of the span."""
    first = _LIT.match(seg) if anchored else _LIT.search(seg)
    if first is None:
        return None
    if not _OP.match(seg, first.end()):
        return _lit(first)
    if "=" not in seg:
        return None
    m = _LIT.search(seg, seg.rindex("=") + 1)
    return _lit(m) if m else None


def _span(t: str, start: int) -> tuple[str, int, bool]:
    """The text after an answer phrase up to the end of its sentence (skipping markup and blank lines), its
    end, and whether it starts on a later line (then it must start with the number: "答案：\n首先…" is a
    heading over a solution, not an answer)."""
    skip = _SKIP.match(t, start)
    end = _END.search(t, skip.end())
    stop = end.start() if end else len(t)
    return t[skip.end():stop], stop, "\n" in skip.group(0)


def _boxed(t: str) -> str | None:
    """Content of the last \\boxed{...}, braces balanced (\\boxed{\\frac{3}{4}})."""
    i = t.rfind("\\boxed")
    j = t.find("{", i) if i >= 0 else -1
    if j < 0:
        return None
    depth = 0
    for k in range(j, len(t)):
        depth += {"{": 1, "}": -1}.get(t[k], 0)
        if depth == 0:
            return t[j + 1:k]
    return t[j + 1:]


def extract_number(text: str) -> str | None:
    """The final numeric answer stated in a free-form solution, as the literal found (after NFKC, spaces
    removed): last \\boxed{} > number after the last explicit answer phrase > a closing "所以…是" conclusion >
    the last number in the text. Numbered-list markers ("1. ", "2、") are never answers."""
    if not text:
        return None
    t = _LIST.sub(" ", _norm(text))
    box = _boxed(t)
    if box is not None and (got := _pick(box)):
        return got
    strong = list(_STRONG.finditer(t))
    if strong:
        seg, _, crossed = _span(t, strong[-1].end())
        if got := _pick(seg, anchored=crossed):
            return got
    weak = list(_WEAK.finditer(t))
    if weak:
        seg, stop, crossed = _span(t, weak[-1].end())
        if not re.search(r"\d", t[stop:]) and (got := _pick(seg, anchored=crossed)):
            return got
    found = list(_LIT.finditer(t))
    return _lit(found[-1]) if found else None


def gold_number(text: str) -> str | None:
    """The reference answer of a dataset row: a bare number ("18", "2,125", "1/8", "25%"), the number after
    GSM8K's "#### ", or else the last number of a reference solution (calculator notes <<...>> dropped)."""
    t = re.sub(r"<<[^>]*>>", "", _norm(text)).strip()
    if parse_number(t) is not None:
        return re.sub(r"\s+", "", t)
    if "####" in t:
        m = _LIT.search(t, t.rindex("####") + 4)
        return _lit(m) if m else None
    found = list(_LIT.finditer(t))
    return _lit(found[-1]) if found else None


def numbers_match(prediction: str | None, gold: str, rel_tol: float = 1e-4, abs_tol: float = 1e-6) -> bool:
    """Whether two literals name the same value within tolerance ("0.5" == "1/2", "25%" == "0.25",
    "1,234" == "1234"). A missing or unparseable prediction is wrong; a rounded decimal for a fraction gold
    ("0.33" for "1/3") is wrong too unless it is within rel_tol, so widen it if a task rounds.

    A whole-number gold must be matched exactly: a relative tolerance would let 1450001 pass for 1,450,000."""
    p = parse_number(prediction) if prediction is not None else None
    g = parse_number(gold)
    if p is None or g is None:
        return False
    if g.is_integer():
        return p == g
    return math.isclose(p, g, rel_tol=rel_tol, abs_tol=abs_tol)
