"""Mathematical answers (OlymMATH, Math24o): the answer a solution states, and whether it equals the reference as
mathematics, decided by Hugging Face's `math-verify` (https://github.com/huggingface/Math-Verify), not by regexes.

What is reproduced, and from where:

* Extraction (`extract_answer`, extraction `boxed`): the content of the last complete ``\\boxed{...}``, braces
  balanced (``\\boxed{\\frac{\\sqrt{3}}{2}}`` gives ``\\frac{\\sqrt{3}}{2}``), escaped braces ``\\{ \\}`` not
  counted, a ``\\\\boxed`` (escaped backslash) not a box; a box that never closes (a generation cut at its budget)
  is passed over for the last one that does. This is what OlymMATH's local_tester.py (extract_boxed, RUCAIBox/OlymMATH
  @ 94e19ffb) takes, except in one corner: upstream counts every brace of the text, so an unmatched "{" before the
  box hides it from its brace stack and its regex fallback then reads only boxes nesting braces at most two deep
  (``\\boxed{\\sqrt{1+\\frac{\\sqrt{6}}{3}}}`` is three); here the box is read at any depth. Only when the text
  holds no complete box does the harness read an explicit final-answer line ("最终答案：…", "答案是 …",
  "Final answer: …"; the last one, the rest of its line): upstream scores such an answer wrong. An empty box is no answer (upstream compares "$.$", which matches nothing).
* Equivalence (`equivalent`, metric `math_equiv`): as local_tester.py does it, each side stripped of one leading and one
  trailing "$", wrapped in "$...$", parsed by `math_verify.parse` with its default extraction targets (LaTeX, then
  plain expressions) and compared by `math_verify.verify(gold, prediction)` with its defaults (numbers rounded to 6
  decimals, strict: variables and set/tuple kinds matter, 5-second limits). So fractions, decimals and radicals that
  are equal match (``3.6`` = ``\\frac{18}{5}``, ``-14+4\\sqrt{15}`` = ``4\\sqrt{15}-14``), intervals keep their
  ends (``[2,\\frac{4\\sqrt3}{3})`` != ``[2,\\frac{4\\sqrt3}{3}]``), degrees and Chinese unit words are dropped
  (``115`` = ``115^{\\circ}``, ``10个`` = ``10``). Upstream falls back to a lenient string comparison only when
  math-verify raises, which with these arguments it never does; that fallback is not reproduced.

Inherited limits of math-verify (kept: upstream scores with the same library): rounding to 6 decimals makes tiny
values equal (``0.0000009`` = ``\\frac{1}{1112111}``); ``(-1, 1)`` is read as an interval and as a pair, so the set
``\\{-1,1\\}`` matches it; a thin-space thousands separator (``1\\,799``) is not read as a number.

An answer longer than MAX_ANSWER_CHARS is not parsed at all (never equal), and reading the answer out of a text is
one linear pass. math-verify bounds its own work (5 s per parse and per comparison) with SIGALRM, which only the
main thread has: the harness scores there (``9^{9^{9}}`` then costs its 5 s and is not equal). Called from another
thread, the limits are off (math-verify's advice for threads) and such an answer could run for minutes.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

__all__ = ["last_boxed", "final_answer_line", "extract_answer", "equivalent", "MAX_ANSWER_CHARS"]

MAX_ANSWER_CHARS = 2000  # a longer "answer" is a runaway generation, not an answer
_BOX = "\\boxed{"
# explicit final-answer statements; the answer is the rest of the line (or the next non-empty line)
_FINAL = re.compile(r"(?:最终答案|最后答案|答案|(?i:final\s+answer|answer))\s*(?:\*\*)?\s*"
                    r"(?:应该|应当|应|就|则)?\s*(?:是(?!否)|为|:|：|(?i:is\b))")
_WRAP = [("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"), ("**", "**")]
_TRAILING = "。．.，,；;！!"


def last_boxed(text: str) -> str | None:
    """Content of the last complete \\boxed{...} in `text` (outermost where boxes nest), or None. One pass: every
    box is recorded when its brace closes and the last one closed wins, so an unclosed box is passed over."""
    if not text:
        return None
    stack: list[int | None] = []  # per open brace inside a box: where its box's content starts (None: a plain brace)
    last: tuple[int, int] | None = None
    i, n = 0, len(text)
    while i < n:
        if text.startswith(_BOX, i):
            stack.append(i + len(_BOX))
            i += len(_BOX)
            continue
        c = text[i]
        if c == "\\":  # an escaped character: \{ and \} are literal braces, \\boxed is no box
            i += 2
            continue
        if stack:
            if c == "{":
                stack.append(None)
            elif c == "}":
                start = stack.pop()
                if start is not None:
                    last = (start, i)
        i += 1
    return text[last[0]:last[1]] if last else None


def final_answer_line(text: str) -> str | None:
    """The answer after the last explicit final-answer phrase: the rest of its line, or the next non-empty line."""
    if not text:
        return None
    hits = list(_FINAL.finditer(text))
    if not hits:
        return None
    rest = text[hits[-1].end():]
    lines = rest.split("\n")
    first = lines[0].strip()
    if not first:
        first = next((line.strip() for line in lines[1:] if line.strip()), "")
    return _clean(first) if len(first) <= MAX_ANSWER_CHARS else None  # a runaway line is no answer


def _clean(answer: str) -> str | None:
    """Strip the markup and punctuation around a stated answer: "**$\\frac{1}{2}$**。" -> "\\frac{1}{2}"."""
    a = answer.strip()
    changed = True
    while changed and a:
        changed = False
        stripped = a.rstrip(_TRAILING).strip()
        if stripped != a:
            a, changed = stripped, True
        for o, c in _WRAP:
            if len(a) >= len(o) + len(c) and a.startswith(o) and a.endswith(c):
                a, changed = a[len(o):len(a) - len(c)].strip(), True
                break
    return a or None


def extract_answer(text: str) -> str | None:
    """The stated answer of a solution: the last complete \\boxed{}, else an explicit final-answer line."""
    box = last_boxed(text)
    if box is not None:
        return box.strip() or None
    return final_answer_line(text)


def _for_math_verify(answer: str) -> str | None:
    """One leading and one trailing "$" removed, then wrapped in "$...$" (None: nothing left)."""
    a = answer.strip()
    if a.startswith("$"):
        a = a[1:]
    if a.endswith("$"):
        a = a[:-1]
    a = a.strip()
    return f"${a}$" if a else None


def _timeout() -> int | None:
    """math-verify's limits (seconds) where SIGALRM can deliver them, the main thread; None elsewhere."""
    return 5 if threading.current_thread() is threading.main_thread() else None


def _parse(latex: str) -> list[Any]:
    from math_verify import parse

    return parse(latex, parsing_timeout=_timeout())


@lru_cache(maxsize=4096)
def _parsed_gold(gold: str) -> tuple[Any, ...]:
    return tuple(_parse(gold))


def equivalent(prediction: str | None, gold: str) -> bool:
    """Whether `prediction` states the same mathematical answer as the reference `gold` (both LaTeX or plain text),
    decided by math-verify as OlymMATH's scorer calls it (see the module docstring)."""
    if prediction is None or len(prediction) > MAX_ANSWER_CHARS:
        return False
    p, g = _for_math_verify(prediction), _for_math_verify(str(gold))
    if p is None or g is None:
        return False
    from math_verify import verify

    gold_parsed = list(_parsed_gold(g))
    return bool(verify(gold_parsed, _parse(p), timeout_seconds=_timeout()))
