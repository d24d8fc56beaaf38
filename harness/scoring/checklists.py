"""Checklist verdicts: a judge's mark per constraint, read out of its text, and the per-item scores built on them.

Two benchmarks of SuperCLUE's 精确指令遵循 dimension score an answer constraint by constraint:

- CFBench (PKU-Baichuan-MLSystemLab/CFBench @ 0bcbf9b0, code/evalaute.py): the judge echoes every checkpoint, a
  tab and 0 or 1, entries separated by blank lines. Per item: CSR (the share of checkpoints met, rounded to two
  decimals), ISR (all met), PSR (no 主需 checkpoint missed, and enough 次需 ones met).
- FollowBench (YJiangcm/FollowBench @ 6278f4c1, code_zh/gpt4_based_evaluation.py): the judge's last line is a
  Python list of YES/NO, one per constraint added at the item's level. Per item: HSR (all met), SSR (share met).

A text that does not hold the marks the rubric asks for gives None: the item is counted as unparsed and left
out of the score, never scored 0.
"""

from __future__ import annotations

import ast
import re
from typing import Any, Sequence

PRIMARY, SECONDARY = "主需", "次需"
_FULLWIDTH = str.maketrans("０１", "01")
# a mark at the end of a line: the tab the rubric asks for, then 0 or 1 (1.0 read as 1)
_MARK = re.compile(r"\t[ \t]*([01])(?:\.0+)?[ \t]*(?=\n|\Z)")
# FollowBench's reader takes these as "not met" (paring_discriminative_generation); anything else is invalid
_NOT_MET = ("NO", "PARTIAL", "PARTIALLY", "MAYBE", "UNKNOWN")


def round2(x: float) -> float:
    """numpy's round(x, 2), which upstream applies: x * 100 rounded half to even, divided by 100."""
    return round(x * 100) / 100


# ---- CFBench ----------------------------------------------------------------------------------------------------

def cfbench_strict(text: str, checkpoints: Sequence[str]) -> list[int] | None:
    """Upstream's reader (_get_judge_scores): entries split on blank lines, one per checkpoint, each exactly
    `<the checkpoint as written>\\t<0 or 1>`. Anything else is a failed parse upstream (it asks the judge again)."""
    parts = text.split("\n\n")
    if len(parts) != len(checkpoints):
        return None
    marks = []
    for part, checkpoint in zip(parts, checkpoints):
        fields = part.split("\t")
        if len(fields) != 2 or fields[0] != checkpoint:
            return None
        try:
            value = float(fields[1])
        except ValueError:
            return None
        if value not in (0.0, 1.0):
            return None
        marks.append(int(value))
    return marks


def parse_cfbench(text: str, checkpoints: Sequence[str]) -> tuple[list[int], bool] | None:
    """The judge's marks in checkpoint order and whether they came in upstream's exact form; None when the text
    does not give exactly one mark per checkpoint.

    Upstream re-asks the judge until its strict reader succeeds; a harness run judges once, so where the echo
    differs (a checkpoint re-worded, its stray spaces dropped, a line numbered) the marks are taken in order from
    the ends of lines (`\\t0` / `\\t1`), provided there is exactly one per checkpoint."""
    strict = cfbench_strict(text, checkpoints)
    if strict is not None:
        return strict, True
    found = _MARK.findall(text.translate(_FULLWIDTH))
    if len(found) != len(checkpoints) or not checkpoints:
        return None
    return [int(x) for x in found], False


def cfbench_scores(marks: Sequence[int], kinds: Sequence[str]) -> dict[str, float]:
    """CSR, ISR and PSR of one item as _score_compute computes them for a strictly parsed verdict.

    CSR = mean mark rounded to 2 decimals; ISR = 1 only if that is 1. PSR = 0 if any 主需 checkpoint failed; else
    1 when every checkpoint is 主需; else, with only 次需 checkpoints, 1 if CSR > 0.8; else (主需 and 次需 mixed)
    1 if 0.5 + 0.5 * (mean 次需 mark rounded to 2 decimals) > 0.8, i.e. more than 60% of the 次需 ones met."""
    if len(marks) != len(kinds) or not marks:
        raise ValueError(f"{len(marks)} marks for {len(kinds)} checkpoints")
    unknown = sorted({k for k in kinds if k not in (PRIMARY, SECONDARY)})
    if unknown:
        raise ValueError(f"checkpoint kind {unknown[0]!r} is neither {PRIMARY} nor {SECONDARY}")
    csr = round2(sum(marks) / len(marks))
    isr = 0.0 if csr < 1 else 1.0
    primary = [m for m, k in zip(marks, kinds) if k == PRIMARY]
    secondary = [m for m, k in zip(marks, kinds) if k == SECONDARY]
    if 0 in primary:
        psr = 0.0
    elif not primary:
        psr = 1.0 if csr > 0.8 else 0.0
    elif not secondary:
        psr = 1.0
    else:
        psr = 1.0 if 0.5 + 0.5 * round2(sum(secondary) / len(secondary)) > 0.8 else 0.0
    return {"csr": csr, "isr": isr, "psr": psr}


# ---- FollowBench ------------------------------------------------------------------------------------------------

def parse_followbench(text: str, level: int) -> list[int] | None:
    """One mark per constraint of a level-`level` item, read as paring_discriminative_generation reads it: curly
    quotes made straight, backticks, spaces and newlines stripped from the ends, then the last line. Level 1: YES
    anywhere in it is met, else NO is not met. Higher levels: the `[...]` in it, bare YES/NO quoted, read as a Python
    literal (ast.literal_eval: never evaluated as code); at least `level` elements, the first `level` counted:
    YES met; NO, PARTIAL(LY), MAYBE, UNKNOWN not met; anything else makes the verdict unreadable."""
    t = text.replace("“", '"').replace("”", '"')
    last = t.strip("`").strip(" ").strip("\n").split("\n")[-1].strip(" ")
    if level == 1:
        if "YES" in last:
            return [1]
        if "NO" in last:
            return [0]
        return None
    found = re.search(r"\[.*\]", last)
    if not found:
        return None
    body = found.group()
    if '"' not in body and "'" not in body:
        body = body.replace("YES", "'YES'").replace("NO", "'NO'")
    try:
        items: Any = ast.literal_eval(body)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if not isinstance(items, (list, tuple)) or len(items) < level:
        return None
    marks = []
    for item in items[:level]:
        if item == "YES":
            marks.append(1)
        elif isinstance(item, str) and item in _NOT_MET:
            marks.append(0)
        else:
            return None
    return marks


def followbench_scores(marks: Sequence[int]) -> dict[str, float]:
    """HSR: every constraint met; SSR: the share met. A rule-checked item has one mark for all its constraints,
    so both are that mark, as upstream adds a rule's result to both tables."""
    if not marks:
        raise ValueError("no marks")
    return {"hsr": 1.0 if all(marks) else 0.0, "ssr": sum(marks) / len(marks)}


# ---- what the judge pass calls ---------------------------------------------------------------------------------

PARSERS = ("cfbench", "followbench")
METRICS = {"cfbench": ("csr", "isr", "psr"), "followbench": ("hsr", "ssr")}


def parse_marks(parser: str, text: str, row: dict[str, Any]) -> tuple[list[int], bool] | None:
    """The marks in `text` for the item whose data row is `row`, and whether they came in the exact form. A
    thinking judge's reasoning (up to its last </think>) is not read: it may draft marks it later changes."""
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1].lstrip("\n")
    if parser == "cfbench":
        return parse_cfbench(text, [str(c[0]) for c in row["criteria"]])
    if parser == "followbench":
        marks = parse_followbench(text, int(row["level"]))
        return None if marks is None else (marks, True)
    raise ValueError(f"unknown checklist parser {parser}")


def item_metrics(parser: str, marks: list[int], row: dict[str, Any]) -> dict[str, float]:
    """Every metric of the item from its marks."""
    if parser == "cfbench":
        return cfbench_scores(marks, [str(c[1]) for c in row["criteria"]])
    return followbench_scores(marks)
