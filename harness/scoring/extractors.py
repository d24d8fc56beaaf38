"""Answer extractors: how the answer is read out of a generated reply, by the task's `extraction` name. Each takes
the reply and the sample and returns the answer as a string, or None when none can be read. The scorers behind
them live in their own modules, imported when first used (some need optional libraries)."""

from __future__ import annotations

from typing import Callable

from harness.registry import Registry
from harness.types import Sample

Extractor = Callable[[str, Sample], "str | None"]
EXTRACTORS: Registry[Extractor] = Registry("extraction")


@EXTRACTORS.register("choice")
def choice(text: str, sample: Sample) -> str | None:
    """One option label, read the way harness/scoring/extraction.py documents."""
    from harness.scoring.extraction import extract_choice

    return extract_choice(text, sample.labels, sample.choices)


@EXTRACTORS.register("choice_set")
def choice_set(text: str, sample: Sample) -> str | None:
    """A set of option labels, sorted ("AC"): multi-answer items."""
    from harness.scoring.extraction import extract_choice_set

    return extract_choice_set(text, sample.labels, sample.choices)


@EXTRACTORS.register("numeric")
def numeric(text: str, sample: Sample) -> str | None:
    """The final number of the reply (harness/scoring/numeric.py)."""
    from harness.scoring.numeric import extract_number

    return extract_number(text)


@EXTRACTORS.register("span")
def span(text: str, sample: Sample) -> str | None:
    """A text span, cleaned as CMRC2018's scorer expects."""
    from harness.scoring.cmrc import clean_span_prediction

    return clean_span_prediction(text) or None


@EXTRACTORS.register("gaokao")
def gaokao(text: str, sample: Sample) -> str | None:
    """GAOKAO-Bench's answer letters: one entry per sub-question ("BD" is one multi-answer entry), kept apart by
    commas."""
    from harness.scoring.gaokao import extract_answer

    letters = extract_answer(text, str(sample.meta.get("type", "single_choice")), len(sample.answers))
    return ",".join(letters) if letters else None


@EXTRACTORS.register("boxed")
def boxed(text: str, sample: Sample) -> str | None:
    """The last complete \\boxed{}, else an explicit final-answer line (harness/scoring/math_equiv.py)."""
    from harness.scoring.math_equiv import extract_answer

    return extract_answer(text)


@EXTRACTORS.register("answer_letter")
def answer_letter(text: str, sample: Sample) -> str | None:
    """"Answer: X" or one letter, nothing else (HalluQA MC)."""
    from harness.scoring.extraction import extract_answer_letter

    return extract_answer_letter(text)


@EXTRACTORS.register("first_letter")
def first_letter(text: str, sample: Sample) -> str | None:
    """The reply's first character, if it is a label (UHGEval's selective evaluator)."""
    from harness.scoring.extraction import extract_first_letter

    return extract_first_letter(text, sample.labels)
