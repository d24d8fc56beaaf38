"""Find which option label a chat model chose in a free-text answer to a multiple-choice question.

Design choices, each made so that a score means what it says:

* Never guess. CMMLU's official extractor returns a random letter when nothing matches, which adds noise
  and inflates weak models towards chance; we return None, which is scored wrong and counted as "unextracted".
* Labels are standalone tokens: a label next to an ASCII letter or digit is part of a word ("Because",
  "ABCD", "DNA"), never an answer. Labels are matched case-sensitively (a lowercase "a" is usually the
  English article) and regexes are built from `labels`, so A-E, A-J or "1".."4" work alike.
* `extract_choice` is single-choice: an explicit multi-label answer ("答案：AB", "答案是A和C") is ambiguous and gives None,
  as does any response whose evidence points at more than one label.
* Evidence is tried strongest first: explicit answer phrases (the LAST one wins, since models reason and
  then conclude), a response starting with a label, exactly one non-negated standalone label, and finally
  the text of exactly one option.
* `extract_choice_set` reads multi-select answers ("AC", "A、C", "A和C", "答案：A,C") as a set of labels, from an
  explicit answer statement (the last) or a response that starts with the labels; nothing else is guessed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

__all__ = ["extract_choice", "extract_choice_set"]

_B = r"(?<![A-Za-z0-9])"  # a label must not continue a word on its left ...
_A = r"(?![A-Za-z0-9])"  # ... or on its right
_LATEX = re.compile(r"\\(?:boxed|text|textbf|mathrm|mathbf|fbox)\s*\{([^{}]*)\}")
_WRAPPERS = [("(", ")"), ("[", "]"), ("【", "】"), ("「", "」"), ("『", "』"), ("<", ">"), ("{", "}"),
             ("*", "*"), ("_", "_"), ("`", "`"), ("$", "$"), ("\\(", "\\)")]
_SEP = r"(?:\s*[、和与及/&]\s*)?"  # between labels of one multi-label answer: "AB", "A、C", "A和C"
_NEG_ZH = r"(?<![不没别勿])(?<!不[能应要会可])(?<!不应该)"  # "不选A" / "不应该选A" is not a choice
_NEG_EN = r"(?<![A-Za-z])(?<!not )(?<!n't )(?<!never )"
_CORRECT = r"(?:是|为)?\s*最?(?:正确|对)的?+(?!\s*(?:吗|么|\?|与否|应|于|比|待|象|照|称|立))"
_WRONG = (r"(?>错误|错|不正确|不对|不是|不符|不成立|排除"
          r"|(?i:is wrong|is incorrect|are wrong|are incorrect|is false))"
          r"(?!的?\s*(?:吗|么|\?))")  # "A是错误的吗？" asks, it does not rule A out

# Explicit answer statements; {run} becomes a named group holding one or more labels.
_EXPLICIT = [
    r"答案\s*(?:应该|应当|应|就|则|可能)?\s*(?:是|为|选择|选)?\s*:?\s*(?:选项)?\s*{run}",
    r"正确的?(?:选项|选择)\s*(?:应该|应)?\s*(?:是|为)?\s*:?\s*{run}",
    _NEG_ZH + r"选(?:择)?\s*(?:的是|是|为)?\s*:?\s*(?:选项|答案)?\s*{run}",
    r"{run}\s*(?:选项|项)?\s*(?:的?(?:说法|表述|描述))?\s*" + _CORRECT,
    r"(?<![A-Za-z])(?i:answer|option|choice)\s*(?:(?i:is|would be|should be|will be|must be)\s*:?|:)"
    r"\s*(?:(?i:option|choice)\s*)?{run}",
    _NEG_EN + r"(?i:choose|select|pick|go with)\s+(?:(?i:option)\s*)?{run}",
    r"{run}\s+(?i:is)\s+(?i:the\s+)?(?i:correct|right)" + _A,
]
# Statements that rule a label out, so a bare mention of it is not evidence for it.
_NEGATED = [
    r"{run}\s*(?:选项|项)?\s*(?:的?(?:说法|表述|描述))?\s*(?:都|均|也|明显|显然)?\s*(?:是|为)?\s*"
    + _WRONG,
    r"(?:不选|不是|排除|并非|而非|(?<![A-Za-z])(?i:not))\s*(?:选项)?\s*{run}",
]


def extract_choice(text: str, labels: Sequence[str], options: Sequence[str] | None = None) -> str | None:
    """Return the option label (one of `labels`, e.g. "A".."D") the model chose in `text`, or None when no
    answer can be found (or the evidence is ambiguous): never a random guess, so failures stay visible."""
    labels = [lab for lab in labels if lab]
    if not text or not labels:
        return None
    lab, run, t = _prepare(text, labels, _SEP)

    # 1. Explicit answer statements: the last one wins; a multi-label one is ambiguous.
    last = _last_explicit(t, run)
    if last is not None:
        chosen = set(re.findall(lab, last))
        return chosen.pop() if len(chosen) == 1 else None

    # 2. The response starts with a label ("B", "B.", "B、", "B: ...") and is not an echo of the option list.
    start = re.match(rf"\s*(?:选项|(?i:option)\s*)?{_B}(?P<run>{lab}){_A}(?:\s*(?:选项|项))?"
                     rf"(?=\s*(?:$|[.、:)\]】。,;!\n]))", t)
    listed = set(re.findall(rf"(?m)^\s*(?:选项|(?i:option)\s*)?({lab})\s*[.、:)]", t))
    if start and len(listed) < 2:
        return start.group("run")

    # 3. Exactly one label mentioned as a standalone token, ignoring ruled-out ones and English articles.
    negated = [m.span("run") for p in _NEGATED for m in re.finditer(p.format(run=run), t)]
    mentioned = {
        m.group()
        for m in re.finditer(_B + lab + _A, t)
        if not any(s <= m.start() < e for s, e in negated) and not re.match(r"\s+[a-z]", t[m.end():])
    }
    if len(mentioned) == 1:
        return mentioned.pop()
    if mentioned:
        return None

    # 4. The text of exactly one option (an option contained in a longer matching option does not count).
    return _match_option_text(t, labels, options) if options else None


def _prepare(text: str, labels: Sequence[str], sep: str) -> tuple[str, str, str]:
    """The label pattern, a run of labels joined by `sep`, and the normalised text: shared by both extractors."""
    lab = "(?:" + "|".join(re.escape(x) for x in sorted(labels, key=len, reverse=True)) + ")"
    return lab, f"{_B}(?P<run>{lab}(?:{sep}{lab})*){_A}", _normalise(text, lab)


def _last_explicit(t: str, run: str) -> str | None:
    """The labels of the last explicit answer statement ("答案：B", "选AC", "answer: A, C"), or None."""
    hits = [m for p in _EXPLICIT for m in re.finditer(p.format(run=run), t)]
    return max(hits, key=lambda m: m.start("run")).group("run") if hits else None


def _normalise(text: str, lab: str) -> str:
    """NFKC (full-width "Ｂ" -> "B", "：" -> ":", "（" -> "(") and strip markup around labels, so that the
    patterns only ever see a bare label: **B**, __B__, \\boxed{B}, \\text{B}, (B), [B], 【B】, $B$ -> B."""
    t = unicodedata.normalize("NFKC", text).replace("**", "").replace("__", "")
    wrapped = re.compile("|".join(rf"{re.escape(o)}\s*({lab})\s*{re.escape(c)}" for o, c in _WRAPPERS))
    previous = None
    while previous != t:  # repeat for nested markup such as $\boxed{\text{B}}$ or *(B)*
        previous = t
        t = _LATEX.sub(r" \1 ", t)
        t = wrapped.sub(lambda m: " " + next(g for g in m.groups() if g) + " ", t)
    return t


def _compact(s: str) -> str:
    """Casefolded text without whitespace or punctuation, so "北京。" matches the option "北京". Dashes are
    kept because they carry meaning in options ("-1" vs "1")."""
    s = unicodedata.normalize("NFKC", s).casefold()
    return "".join(
        ch for ch in s
        if not ch.isspace() and not (unicodedata.category(ch).startswith("P") and unicodedata.category(ch) != "Pd")
    )


def _match_option_text(t: str, labels: Sequence[str], options: Sequence[str]) -> str | None:
    """Label of the only option whose full text the response contains (or equals, after compaction)."""
    body = _compact(t)
    found = {label: c for label, opt in zip(labels, options) if (c := _compact(opt)) and c in body}
    maximal = [label for label, c in found.items() if not any(c != d and c in d for d in found.values())]
    return maximal[0] if len(maximal) == 1 else None


_SET_SEP = r"(?:\s*(?:[、和与及/&,，;；]|(?i:and))\s*|\s+)?"  # multi-select answers also list labels with commas or spaces


def extract_choice_set(text: str, labels: Sequence[str], options: Sequence[str] | None = None) -> str | None:
    """The labels a model chose in a multi-select answer, joined in label order ("AC"), or None.

    Evidence, strongest first: the last explicit answer statement ("答案：A、C", "正确选项为AC", "answer: A, C"), then
    a response that starts with its labels ("AC", "A,C。"). A response that names one label counts as the set of
    that label (so a single-answer item of a multi-select task is read the same way)."""
    labels = [lab for lab in labels if lab]
    if not text or not labels:
        return None
    lab, run, t = _prepare(text, labels, _SET_SEP)
    last = _last_explicit(t, run)
    if last is not None:
        return _ordered(re.findall(lab, last), labels)
    start = re.match(rf"\s*(?:选项|(?i:option)\s*)?{run}(?:\s*(?:选项|项))?(?=\s*(?:$|[.、:)\]】。,;!\n]))", t)
    listed = set(re.findall(rf"(?m)^\s*(?:选项|(?i:option)\s*)?({lab})\s*[.、:)]", t))
    if start and len(listed) < 2:
        return _ordered(re.findall(lab, start.group("run")), labels)
    return None


def _ordered(found: Sequence[str], labels: Sequence[str]) -> str:
    return "".join(sorted(set(found), key=list(labels).index))


def extract_answer_letter(text: str) -> str | None:
    """HalluQA's multiple-choice rule (calculate_metrics_mc.py @7e5c6739): the reply, stripped, is "Answer: X" (X: the
    rest as written, so "Answer: A。" is not "A") or a single letter; anything else is no answer."""
    t = text.strip()
    if t.startswith("Answer: "):
        return t[len("Answer: "):] or None
    return t if len(t) == 1 and t.isalpha() else None


def extract_first_letter(text: str, labels: Sequence[str]) -> str | None:
    """UHGEval's selective rule (eval_sele.py @affd38ea): the reply's first non-blank character, when it is a label.
    Upstream first cuts the reply at "更符合现实，更准确"; what is left starts with the same character, or is blank when
    the reply starts with the phrase (then no label either way)."""
    t = text.strip()
    return t[0] if t and t[0] in labels else None
