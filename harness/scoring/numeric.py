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
  They also compare as the number written before the sign: "40%" == 40 and "40" == gold "40%". GSM8K-zh needs
  this: its questions that ask for a percentage ("百分之几", "百分比") have bare gold answers ("40"), which models
  state as "40%" (also "40 %", full-width "４０％", "百分之四十"). Nothing looser: "0.4" != 40, and two percentages
  compare as values only ("0.25%" != "25%").
* Chinese number words are read only after 百分之 ("百分之四十", "百分之十五点五", "百分之百"), where they are
  the common way to state a percentage; elsewhere ("十八") they are not numbers.
* Tolerance: a whole-number gold is matched exactly; any other within rel_tol/abs_tol (DEFAULT_REL_TOL,
  DEFAULT_ABS_TOL), which a task may widen with its `numeric: {rel_tol, abs_tol}` block.
"""

from __future__ import annotations

import math
import re
import unicodedata
from fractions import Fraction

__all__ = ["parse_number", "extract_number", "gold_number", "numbers_match", "DEFAULT_REL_TOL", "DEFAULT_ABS_TOL"]

DEFAULT_REL_TOL = 1e-4  # relative tolerance for a gold that is not a whole number ("1/3" vs "0.33333")
DEFAULT_ABS_TOL = 1e-6  # absolute tolerance, for golds near 0

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


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_PERCENT = re.compile(r"(?<![零〇一二两三四五六七八九十百千\d])百分之([零〇一二两三四五六七八九十百千]+(?:点[零〇一二三四五六七八九]+)?)")


def _cn_number(words: str) -> str | None:
    """Chinese number words below 10,000 as digits: "四十" -> "40", "一百零五" -> "105", "十五点五" -> "15.5"."""
    whole, _, frac = words.partition("点")
    total = digit = 0
    last_unit = 10_000
    for ch in whole:
        if ch in _CN_UNITS:
            unit = _CN_UNITS[ch]
            if unit >= last_unit:
                return None  # "十百": not a number
            total += (digit or 1) * unit
            digit, last_unit = 0, unit
        elif digit:
            return None  # "四五" (4 or 5): a range, not one number
        else:
            digit = _CN_DIGITS[ch]
    total += digit
    return str(total) + ("." + "".join(str(_CN_DIGITS[c]) for c in frac) if frac else "")


def _norm(text: str) -> str:
    """NFKC plus the LaTeX spellings of the same literals, so one regex reads them all; 百分之 + Chinese number
    words becomes 百分之 + digits."""
    t = unicodedata.normalize("NFKC", text).replace("\u2212", "-")
    t = re.sub(r"\\[dt]frac", r"\\frac", t).replace("\\%", "%").replace("{,}", ",")
    t = _CN_PERCENT.sub(lambda m: "百分之" + (_cn_number(m.group(1)) or m.group(1)), t)
    return re.sub(r"(?<=\d)\\,(?=\d{3})", ",", t)


def _value(m: re.Match[str], as_written: bool = False) -> float | None:
    """The literal's value; `as_written`: a percentage as the number before its sign ("40%" -> 40, not 0.4)."""
    g = m.groupdict()
    try:
        if g["fn"] is not None:
            v = Fraction(g["fw"] or 0) + Fraction(g["fn"]) / Fraction(g["fd"])
        elif g["mw"] is not None:
            v = Fraction(g["mw"]) + Fraction(int(g["mn"]), int(g["md"]))
        elif g["cd"] is not None:
            v = Fraction(int(g["cn"]), int(g["cd"]))
        elif g["cv"] is not None:
            v = Fraction(g["cv"]) if as_written else Fraction(g["cv"]) / 100
        elif g["n"] is not None:
            v = Fraction(int(g["n"]), int(g["d"]))
        else:
            v = Fraction((g["g"] or g["x"]).replace(",", ""))
    except ZeroDivisionError:
        return None
    if g["pct"] and not as_written:
        v /= 100
    return float(-v if g["neg"] else v)


def _readings(text: str) -> tuple[float | None, float | None]:
    """A literal's value, and for a percentage also the number before its sign ("40%" -> (0.4, 40.0))."""
    m = _LIT.fullmatch(_norm(text).strip())
    if m is None:
        return None, None
    percent = bool(m.group("pct") or m.group("cp"))
    return _value(m), (_value(m, as_written=True) if percent else None)


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
    assert skip is not None  # the pattern matches the empty string
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


def numbers_match(prediction: str | None, gold: str, rel_tol: float = DEFAULT_REL_TOL,
                  abs_tol: float = DEFAULT_ABS_TOL) -> bool:
    """Whether two literals name the same value within tolerance ("0.5" == "1/2", "25%" == "0.25",
    "1,234" == "1234"). A missing or unparseable prediction is wrong; a rounded decimal for a fraction gold
    ("0.33" for "1/3") is wrong too unless it is within rel_tol, so widen it if a task rounds (the task file's
    `numeric: {rel_tol, abs_tol}`: pass `**spec.numeric.model_dump()`).

    A percentage also stands for the number before its sign, on either side: "40%" matches a gold "40" and
    "40" a gold "40%" (GSM8K-zh's "百分之几" questions have bare golds); "0.4" still does not match "40".

    A whole-number gold must be matched exactly: a relative tolerance would let 1450001 pass for 1,450,000."""
    p, p_written = _readings(prediction) if prediction is not None else (None, None)
    g, g_written = _readings(gold)
    if p is None or g is None:
        return False
    pairs = [(p, g)]
    if p_written is not None and g_written is None:
        pairs.append((p_written, g))  # "40%" for a bare gold "40"
    if g_written is not None and p_written is None:
        pairs.append((p, g_written))  # "40" for a gold "40%"; two percentages compare as values only
    return any(_same(a, b, rel_tol, abs_tol) for a, b in pairs)


def _same(p: float, g: float, rel_tol: float, abs_tol: float) -> bool:
    if g.is_integer():
        return p == g
    return math.isclose(p, g, rel_tol=rel_tol, abs_tol=abs_tol)
