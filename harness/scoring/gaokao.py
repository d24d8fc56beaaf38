"""GAOKAO-Bench objective questions: answer extraction and scoring exactly as the official code does them.

Everything here reproduces OpenLMLab's own rules, quirks included, so that a score computed by this harness is
the score GAOKAO-Bench would report for the same model output. The official sources read were:

* ``Bench/bench_function.py::extract_choice_answer`` in OpenLMLab/GAOKAO-Bench-2023 (the same regexes are
  inline in ``choice_test`` of OpenLMLab/GAOKAO-Bench ``Bench/bench_function.py``, and copied into
  OpenCompass's ``GaokaoBenchEvaluator.do_predictions_postprocess``): how letters are read from a model output.
* ``Bench/OBJ_score_evaluation.py`` in OpenLMLab/GAOKAO-Bench (``check_length_equal``, ``count_score``, the
  Physics branch of ``obj_score_eval`` and the ``score_dict`` subject table): how a question is scored and how
  points are summed into the reported scoring rates.
* ``Bench/objective_bench.py`` / ``choice_test``: the prompt is the keyword's ``prefix_prompt`` followed by
  ``question.strip() + "\\n"`` (as the system / user message for chat models, concatenated for completion ones).

Question types (``Obj_Prompt.json``, one per data file / keyword):

* ``single_choice``: one letter A-D; gold is ``["C"]``.
* ``multi_choice`` (Physics only): one question, one or more correct letters; gold is ONE string of letters,
  ``["BD"]`` (never ``["B", "D"]``), and the extractor returns the same shape.
* ``multi_question_choice``: a passage with several sub-questions, one letter each; gold is ``["A", "C", "B"]``
  (length 1 to 20).
* ``five_out_of_seven``: English 七选五, five letters from A-G; gold is ``["F", "A", "C", "D", "G"]``.

Scoring (``OBJ_score_evaluation.py``): the example's ``score`` field is the points of ONE (sub-)question, so an
example is worth ``len(gold) * score`` points. A prediction whose length differs from the gold's is replaced by
``["Z"] * len(gold)`` (``check_length_equal``), i.e. the whole example earns 0. Otherwise each position earns
``score`` when it equals the gold (``count_score``), except for Physics / ``multi_choice``: 6 points when the
letter string equals the gold string, 3 when every predicted letter occurs in the gold (a correct but incomplete
answer), 0 when any predicted letter is wrong. The official code hard-codes 6 and 3 (every Physics ``score`` is
6); here they are ``full_score`` and ``full_score / 2``, identical on this data.

Aggregation, to reproduce the reported numbers (``obj_score_eval``): the rates are ratios of summed POINTS, not
means of per-question rates. Per keyword (data file): ``scoring_rate = sum(points earned) / sum(len(gold) *
score)``; per subject: the same sums over that subject's keywords (``SUBJECTS``); overall: the same sums over all
subjects. The official script rounds each rate to 3 decimals. ``score`` is constant within each file, so a
keyword's rate is the mean of ``normalised_score`` weighted by ``len(gold)`` (the number of sub-questions); a
plain mean over examples differs from it wherever ``len(gold)`` varies (Chinese_Lang_and_Usage, Geography,
English_Reading_Comp). Subject and overall rates must weight by points (``max_points``), because ``score``
differs between files (English: 1, 1.5, 2, 2 per sub-question). ``aggregate`` does all three levels.
OpenCompass's ``GaokaoBenchEvaluator.score`` counts each sub-question as 1 (multi_choice 2/1) and reports per
file only, which gives the same per-file rates.

Known quirks of the official extractor, kept on purpose (a "fixed" extractor would not reproduce the benchmark):
letters are ASCII capitals only (full-width ``Ａ`` and lowercase ``a`` are never read); ``single_choice`` takes the
LAST A-D anywhere in the output, even inside words ("DNA") or after ``<eoa>``; ``multi_question_choice`` falls
back to the FIRST n capitals A-Z anywhere in the output when the number of ``【答案】X`` matches is not n;
``five_out_of_seven`` takes the first five A-G anywhere; ``multi_choice`` reads every A-D from ``【答案】`` to the
end of the output, or the last 10 non-space characters when ``【答案】`` is missing or is the very first thing in
the output (the official test is ``index > 0``), and keeps the letters in their written order, so "DB" is not
equal to the gold "BD" and earns only the partial credit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final, TypedDict

__all__ = [
    "FIVE_OUT_OF_SEVEN",
    "MULTI_CHOICE",
    "MULTI_QUESTION_CHOICE",
    "QUESTION_TYPES",
    "SINGLE_CHOICE",
    "SUBJECTS",
    "VALID_TYPES",
    "aggregate",
    "extract_answer",
    "format_prompt",
    "load_prompts",
    "max_points",
    "normalised_score",
    "score_question",
]

SINGLE_CHOICE: Final = "single_choice"
MULTI_CHOICE: Final = "multi_choice"
MULTI_QUESTION_CHOICE: Final = "multi_question_choice"
FIVE_OUT_OF_SEVEN: Final = "five_out_of_seven"
VALID_TYPES: Final = frozenset({SINGLE_CHOICE, MULTI_CHOICE, MULTI_QUESTION_CHOICE, FIVE_OUT_OF_SEVEN})

#: keyword (data file stem) -> question type, as in GAOKAO-Bench's ``Obj_Prompt.json`` (checked by the tests).
QUESTION_TYPES: Final[dict[str, str]] = {
    "2010-2022_Math_II_MCQs": SINGLE_CHOICE,
    "2010-2022_Math_I_MCQs": SINGLE_CHOICE,
    "2010-2022_History_MCQs": SINGLE_CHOICE,
    "2010-2022_Biology_MCQs": SINGLE_CHOICE,
    "2010-2022_Political_Science_MCQs": SINGLE_CHOICE,
    "2010-2022_Physics_MCQs": MULTI_CHOICE,
    "2010-2022_Chemistry_MCQs": SINGLE_CHOICE,
    "2010-2013_English_MCQs": SINGLE_CHOICE,
    "2010-2022_Chinese_Modern_Lit": MULTI_QUESTION_CHOICE,
    "2010-2022_English_Fill_in_Blanks": MULTI_QUESTION_CHOICE,
    "2012-2022_English_Cloze_Test": FIVE_OUT_OF_SEVEN,
    "2010-2022_Geography_MCQs": MULTI_QUESTION_CHOICE,
    "2010-2022_English_Reading_Comp": MULTI_QUESTION_CHOICE,
    "2010-2022_Chinese_Lang_and_Usage_MCQs": MULTI_QUESTION_CHOICE,
}

#: keyword -> subject, as in ``OBJ_score_evaluation.py::score_dict['subject'][...]['type']``.
SUBJECTS: Final[dict[str, str]] = {
    "2010-2013_English_MCQs": "English",
    "2010-2022_English_Fill_in_Blanks": "English",
    "2012-2022_English_Cloze_Test": "English",
    "2010-2022_English_Reading_Comp": "English",
    "2010-2022_Math_I_MCQs": "Math",
    "2010-2022_Math_II_MCQs": "Math",
    "2010-2022_Chinese_Modern_Lit": "Chinese",
    "2010-2022_Chinese_Lang_and_Usage_MCQs": "Chinese",
    "2010-2022_Physics_MCQs": "Physics",
    "2010-2022_Chemistry_MCQs": "Chemistry",
    "2010-2022_Biology_MCQs": "Biology",
    "2010-2022_History_MCQs": "History",
    "2010-2022_Geography_MCQs": "Geography",
    "2010-2022_Political_Science_MCQs": "Politics",
}

_NO_ANSWER: Final = "Z"  # check_length_equal's filler: never equal to, nor contained in, a gold answer
_ANSWER_TAG: Final = "【答案】"
_MQC_TAGGED = re.compile(r"【答案】\s*[:：]*\s*[A-Z]")  # extract_choice_answer, multi_question_choice
_A_TO_D = re.compile(r"[A-D]")
_A_TO_G = re.compile(r"[A-G]")
_A_TO_Z = re.compile(r"[A-Z]")
_SPACE = re.compile(r"\s+")


class Prompt(TypedDict):
    """One keyword's entry of ``Obj_Prompt.json``."""

    type: str
    prefix_prompt: str


def load_prompts(path: Path) -> dict[str, Prompt]:
    """Read GAOKAO-Bench's ``Obj_Prompt.json`` (``{"examples": [{type, keyword, prefix_prompt, ...}]}``), as
    ``objective_bench.py`` does, into ``keyword -> {"type", "prefix_prompt"}``.

    Raises ValueError for an unknown question type or a repeated keyword, so a changed file cannot silently be
    scored with the wrong rule."""
    with Path(path).open(encoding="utf-8") as f:
        raw = json.load(f)
    entries = raw["examples"] if isinstance(raw, dict) else raw
    prompts: dict[str, Prompt] = {}
    for entry in entries:
        keyword, qtype = entry["keyword"], entry["type"]
        if qtype not in VALID_TYPES:
            raise ValueError(f"{path}: keyword {keyword!r} has unknown question type {qtype!r}")
        if keyword in prompts:
            raise ValueError(f"{path}: keyword {keyword!r} appears twice")
        prompts[keyword] = {"type": qtype, "prefix_prompt": entry["prefix_prompt"]}
    return prompts


def format_prompt(prefix_prompt: str, question: str) -> str:
    """The single-string prompt of the official completion-model path (``choice_test``): the keyword's
    ``prefix_prompt`` then ``question.strip() + "\\n"``. Chat models get ``prefix_prompt`` as the system message
    and ``question.strip() + "\\n"`` as the user message instead."""
    return prefix_prompt + question.strip() + "\n"


def _check_type(question_type: str) -> None:
    if question_type not in VALID_TYPES:
        raise ValueError(f"unknown GAOKAO-Bench question type {question_type!r}; expected one of {sorted(VALID_TYPES)}")


def extract_answer(text: str, question_type: str, n_answers: int) -> list[str]:
    """Letters chosen in ``text``, per ``extract_choice_answer`` (GAOKAO-Bench ``Bench/bench_function.py``).

    ``n_answers`` is ``len(gold)`` (the official ``answer_lenth``); only ``multi_question_choice`` uses it.

    * single_choice: ``[last A-D in the text]``, or ``[]``.
    * multi_choice: ``["<letters>"]``, ONE string, in written order: every A-D after ``【答案】`` (whitespace
      removed), or within the last 10 non-space characters when ``【答案】`` is absent or at position 0; ``[]`` if
      there are none.
    * multi_question_choice: the letters of the ``【答案】[:：]X`` matches when there are exactly ``n_answers`` of
      them, else the first ``n_answers`` capitals A-Z of the whole text (possibly fewer).
    * five_out_of_seven: the first five A-G of the whole text (possibly fewer).

    A result whose length is not ``len(gold)`` earns nothing (``score_question``)."""
    _check_type(question_type)
    if question_type == SINGLE_CHOICE:
        letters = _A_TO_D.findall(text)
        return letters[-1:]
    if question_type == MULTI_CHOICE:
        content = _SPACE.sub("", text)
        at = content.find(_ANSWER_TAG)
        region = content[at:] if at > 0 else content[-10:]
        answer = "".join(_A_TO_D.findall(region))
        return [answer] if answer else []
    if question_type == MULTI_QUESTION_CHOICE:
        if n_answers < 1:
            raise ValueError(f"multi_question_choice needs n_answers >= 1, got {n_answers}")
        tagged = _MQC_TAGGED.findall(text)
        if len(tagged) == n_answers:
            return [_A_TO_Z.findall(t)[0] for t in tagged]
        return _A_TO_Z.findall(text)[:n_answers]
    return _A_TO_G.findall(text)[:5]  # five_out_of_seven


def _validate_gold(gold: Sequence[str]) -> None:
    if not gold or any(not isinstance(g, str) or not g for g in gold):
        raise ValueError(f"gold answer must be a non-empty list of non-empty strings, got {gold!r}")


def max_points(gold: Sequence[str], full_score: float) -> float:
    """Points an example is worth: ``len(gold) * score`` (``count_score`` and the Physics branch of
    ``obj_score_eval``), where ``full_score`` is the example's ``score`` field."""
    _validate_gold(gold)
    return len(gold) * float(full_score)


def score_question(predicted: Sequence[str], gold: Sequence[str], question_type: str, full_score: float) -> float:
    """Points earned by ``predicted`` (``extract_answer``'s output) against ``gold``, per ``OBJ_score_evaluation.py``.

    ``full_score`` is the example's ``score`` field: the points of ONE (sub-)question; the maximum is
    ``max_points(gold, full_score)``.

    * Length differs from the gold's: 0 for the whole example (``check_length_equal`` fills with "Z").
    * multi_choice, per position: ``full_score`` when the letter string equals the gold string (order matters,
      as in the official ``==``); ``full_score / 2`` when every predicted letter occurs in the gold; else 0.
      (Official: 6 / 3 hard-coded, every Physics ``score`` is 6.) An empty string earns 0 here; the official
      loop would give it the partial credit, but the official extractor never produces one.
    * every other type, per position: ``full_score`` when equal to the gold letter, else 0 (``count_score``)."""
    _check_type(question_type)
    _validate_gold(gold)
    if len(predicted) != len(gold):
        predicted = [_NO_ANSWER] * len(gold)
    full = float(full_score)
    earned = 0.0
    for pred, ref in zip(predicted, gold):
        if pred == ref:
            earned += full
        elif question_type == MULTI_CHOICE and pred and all(letter in ref for letter in pred):
            earned += full / 2
    return earned


def normalised_score(predicted: Sequence[str], gold: Sequence[str], question_type: str) -> float:
    """``score_question / max_points``, in [0, 1]: the fraction of the example's points earned.

    To reproduce GAOKAO-Bench's rates, average these weighted by ``max_points(gold, score)`` (equivalently,
    within one data file, by ``len(gold)``), not with a plain mean; see the module docstring and ``aggregate``."""
    return score_question(predicted, gold, question_type, 1.0) / len(gold)


class Rate(TypedDict):
    earned: float
    possible: float
    scoring_rate: float


def _rate(earned: float, possible: float) -> Rate:
    return {"earned": earned, "possible": possible, "scoring_rate": earned / possible if possible else 0.0}


def aggregate(results: Iterable[tuple[str, float, float]]) -> dict[str, dict[str, Rate] | Rate]:
    """Sum ``(keyword, points earned, points possible)`` per example into the rates ``obj_score_eval`` reports:
    ``{"keywords": {keyword: Rate}, "subjects": {subject: Rate}, "overall": Rate}``, each rate being summed
    earned points over summed possible points (unrounded; the official script rounds to 3 decimals).

    Subjects follow ``SUBJECTS``; a keyword outside it raises ValueError."""
    per_keyword: dict[str, list[float]] = {}
    for keyword, earned, possible in results:
        if keyword not in SUBJECTS:
            raise ValueError(f"keyword {keyword!r} has no GAOKAO-Bench subject; known: {sorted(SUBJECTS)}")
        if possible <= 0 or earned < 0 or earned > possible:
            raise ValueError(f"{keyword}: earned {earned} of {possible} points is impossible")
        sums = per_keyword.setdefault(keyword, [0.0, 0.0])
        sums[0] += earned
        sums[1] += possible
    per_subject: dict[str, list[float]] = {}
    for keyword, (earned, possible) in per_keyword.items():
        sums = per_subject.setdefault(SUBJECTS[keyword], [0.0, 0.0])
        sums[0] += earned
        sums[1] += possible
    total_earned = sum(s[0] for s in per_subject.values())
    total_possible = sum(s[1] for s in per_subject.values())
    return {
        "keywords": {k: _rate(*s) for k, s in per_keyword.items()},
        "subjects": {k: _rate(*s) for k, s in per_subject.items()},
        "overall": _rate(total_earned, total_possible),
    }
