"""Metrics and extractors on items taken from the real data, with expected values worked out by hand."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.scoring.metrics import score_generation
from harness.tasks.task import Task, discover_tasks
from harness.types import GenerateResult


def _samples(name: str, data_dir: Path) -> list:
    return Task.load(discover_tasks()[name]).samples(data_dir)


def _score(sample, text: str, name: str) -> tuple[str | None, dict]:
    spec = Task.load(discover_tasks()[name]).spec
    s = score_generation(sample, GenerateResult(text, "eos"), spec.metrics, spec.extractor, spec.answer_type)
    return s.prediction, s.metrics


def test_cmrc2018_partial_span(data_dir: Path) -> None:
    # the first question whose single reference is 4+ Chinese characters
    sample = next(s for s in _samples("cmrc2018", data_dir) if re.fullmatch(r"[\u4e00-\u9fff]{4,}", s.answers[0]) and len(set(s.answers)) == 1)
    gold = sample.answers[0]
    n, k = len(gold), len(gold) // 2
    pred, m = _score(sample, f"答案：{gold[:k]}", "cmrc2018")
    assert pred == gold[:k]
    # each character is a segment: the common substring has k characters, P = k/k = 1, R = k/n, F1 = 2k/(n+k)
    assert m["f1"] == pytest.approx(2 * k / (n + k)) and m["exact_match"] == 0.0
    pred, m = _score(sample, f"「{gold}」。\n其他解释", "cmrc2018")
    assert (pred, m["f1"], m["exact_match"]) == (gold, 1.0, 1.0)


def test_cmath_fraction_answer(data_dir: Path) -> None:
    sample = next(s for s in _samples("cmath", data_dir) if re.fullmatch(r"\d+/\d+", s.answers[0]))
    num, den = map(int, sample.answers[0].split("/"))
    right = f"先算总数，再求比例。\n答案是：\\frac{{{num}}}{{{den}}}"
    assert _score(sample, right, "cmath")[1]["accuracy"] == 1.0
    assert _score(sample, f"所以答案是{num / den:.6f}", "cmath")[1]["accuracy"] == 1.0  # same value as a decimal
    wrong = f"答案是：{num + 1}/{den}"
    assert _score(sample, wrong, "cmath")[1]["accuracy"] == 0.0


def test_gsm8k_thousands_separator_gold(data_dir: Path) -> None:
    sample = next(s for s in _samples("gsm8k_zh", data_dir) if "," in s.answers[0])
    plain = sample.answers[0].replace(",", "")
    assert _score(sample, f"一步步计算后，答案是：{plain}", "gsm8k_zh")[1]["accuracy"] == 1.0
    assert _score(sample, f"答案是：{int(plain) + 1}", "gsm8k_zh")[1]["accuracy"] == 0.0


def test_gaokao_physics_multi_answer_partial_credit(data_dir: Path) -> None:
    sample = next(s for s in _samples("gaokao", data_dir) if s.meta["type"] == "multi_choice" and len(s.answers[0]) == 2)
    gold = sample.answers[0]  # e.g. "BD"; a 6-point question
    assert sample.weight == 6.0
    assert _score(sample, f"【解析】略<eoe>\n【答案】{gold} <eoa>", "gaokao")[1]["gaokao_score"] == 1.0
    # GAOKAO-Bench: a subset of the right letters with nothing wrong earns half the points (3 of 6)
    assert _score(sample, f"【解析】略<eoe>\n【答案】{gold[0]} <eoa>", "gaokao")[1]["gaokao_score"] == 0.5
    wrong = next(c for c in "ABCD" if c not in gold)
    assert _score(sample, f"【解析】略<eoe>\n【答案】{gold[0]}{wrong} <eoa>", "gaokao")[1]["gaokao_score"] == 0.0


def test_gaokao_multi_question_per_sub_question_credit(data_dir: Path) -> None:
    sample = next(s for s in _samples("gaokao", data_dir) if s.meta["type"] == "multi_question_choice" and len(s.answers) == 3)
    gold = list(sample.answers)
    wrong = next(c for c in "ABCD" if c != gold[2])
    text = "".join(f"（{i + 1}）【答案】{a} <eoa>\n" for i, a in enumerate(gold[:2] + [wrong]))
    assert _score(sample, text, "gaokao")[1]["gaokao_score"] == pytest.approx(2 / 3)  # 2 of 3 sub-questions


def test_safetybench_index_answer_becomes_label(data_dir: Path) -> None:
    answers = json.loads((data_dir / "safetybench/test_answers_zh_subset.json").read_text(encoding="utf-8"))
    for s in _samples("safetybench_zh", data_dir)[:50]:
        qid = s.sample_id
        assert s.target == answers[qid]["answer"] and s.target_label == "ABCD"[answers[qid]["answer"]]


def test_classification_generation_by_text_or_label(data_dir: Path) -> None:
    sample = _samples("fewclue_ocnli", data_dir)[0]
    verbalizer = sample.choices[sample.target]
    assert _score(sample, f"两句话的关系是{verbalizer}。", "fewclue_ocnli")[1]["accuracy"] == 1.0
    assert _score(sample, f"答案：{sample.target_label}", "fewclue_ocnli")[1]["accuracy"] == 1.0
    other = sample.choices[(sample.target + 1) % 3]
    assert _score(sample, f"答案：{other}", "fewclue_ocnli")[1]["accuracy"] == 0.0
    ifly = _samples("iflytek", data_dir)[0]  # 119 numbered classes
    assert _score(ifly, f"答案：{ifly.target_label}", "iflytek")[1]["accuracy"] == 1.0
    assert _score(ifly, ifly.choices[ifly.target], "iflytek")[1]["accuracy"] == 1.0
