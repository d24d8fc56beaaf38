"""GAOKAO-Bench objective questions: extraction and scoring against the official rules
(OpenLMLab ``bench_function.py::extract_choice_answer`` and ``OBJ_score_evaluation.py``), hand-worked, plus a
round trip over the real data proving extractor, scorer and data agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.scoring.gaokao import (
    FIVE_OUT_OF_SEVEN,
    MULTI_CHOICE,
    MULTI_QUESTION_CHOICE,
    QUESTION_TYPES,
    SINGLE_CHOICE,
    SUBJECTS,
    aggregate,
    extract_answer,
    format_prompt,
    load_prompts,
    max_points,
    normalised_score,
    score_question,
)

SC, MC, MQC, F7 = SINGLE_CHOICE, MULTI_CHOICE, MULTI_QUESTION_CHOICE, FIVE_OUT_OF_SEVEN
REASONING = "【解析】 由题意可知，该说法与史实相符，其余说法均不符合题意。 <eoe>\n"

# (model output, question type, n_answers = len(gold), letters the official extractor reads)
EXTRACTION_CASES = [
    # --- single_choice: the LAST A-D anywhere in the output
    (REASONING + "【答案】 A <eoa>", SC, 1, ["A"]),
    ("【答案】: C <eoa>", SC, 1, ["C"]),  # the prompt's own example form
    (REASONING + "【答案】B", SC, 1, ["B"]),  # no <eoa>
    ("【答案】：D。", SC, 1, ["D"]),
    ("答案是C", SC, 1, ["C"]),  # no 【答案】 at all
    ("【答案】 A <eoa>\nB选项的说法也有一定道理。", SC, 1, ["B"]),  # text after <eoa> still counts
    ("【答案】 C <eoa> 参见DNA复制", SC, 1, ["A"]),  # ... even inside a word
    ("【答案】Ｂ <eoa>", SC, 1, []),  # full-width letters are never read
    ("选项A错误。【答案】Ｃ <eoa>", SC, 1, ["A"]),  # ... so an earlier ASCII letter wins
    ("【答案】 b <eoa>", SC, 1, []),  # lowercase is never read
    ("【答案】 E <eoa>", SC, 1, []),  # only A-D
    ("无法确定。", SC, 1, []),
    # --- multi_choice: one string of A-D, from 【答案】 (whitespace removed) to the end
    (REASONING + "【答案】 BD <eoa>", MC, 1, ["BD"]),
    (REASONING + "【答案】：B D <eoa>", MC, 1, ["BD"]),
    (REASONING + "【答案】：BD", MC, 1, ["BD"]),
    (REASONING + "【答案】 AC", MC, 1, ["AC"]),  # no <eoa>
    (REASONING + "【答案】 A <eoa>", MC, 1, ["A"]),
    (REASONING + "【答案】 DB <eoa>", MC, 1, ["DB"]),  # written order is kept
    (REASONING + "【答案】 BD <eoa>\n其中C项错误", MC, 1, ["BDC"]),  # everything after 【答案】
    (REASONING + "【答案】：ＢＤ <eoa>", MC, 1, []),  # full-width
    (REASONING + "【答案】 bd <eoa>", MC, 1, []),  # lowercase; the tail is not consulted when 【答案】 was found
    ("所以正确的选项是 A 和 D", MC, 1, ["AD"]),  # no 【答案】: last 10 non-space chars "以正确的选项是A和D"
    ("选项A与C均正确，B和D错误，所以选 A C", MC, 1, ["DAC"]),  # last 10 non-space chars: "和D错误，所以选AC"
    # 【答案】 at position 0 is not found (official test is `index > 0`): only the last 10 chars count
    ("【答案】 AC <eoa> 其他选项均不正确，题中B项说法与事实不符", MC, 1, ["B"]),
    ("【答案】AB <eoa>", MC, 1, ["AB"]),  # "答案】AB<eoa>" is still within the last 10
    # --- multi_question_choice: n tagged answers, else the first n capitals A-Z of the whole output
    ("（1）【答案】 A <eoa>\n（2）【答案】 B <eoa>\n（3）【答案】 D <eoa>", MQC, 3, ["A", "B", "D"]),
    ("（1）" + REASONING + "【答案】：C <eoa>\n（2）【答案】:A<eoa>\n（3）【答案】 B", MQC, 3, ["C", "A", "B"]),
    ("Passage one.\n（1）【答案】：C <eoa>\n（2）【答案】 :  A <eoa>", MQC, 2, ["C", "A"]),  # colons tolerated
    (REASONING + "【答案】 B <eoa>", MQC, 1, ["B"]),  # Chinese_Lang_and_Usage, one sub-question
    ("（1）【答案】 E <eoa>\n（2）【答案】 F <eoa>", MQC, 2, ["E", "F"]),  # any capital A-Z
    ("【答案】 A B C D <eoa>", MQC, 4, ["A", "B", "C", "D"]),  # one tag, four letters: fallback reads them
    ("The passage says so.\n【答案】 A B C D <eoa>", MQC, 4, ["T", "A", "B", "C"]),  # ... and any capital
    ("（1）【答案】 A <eoa>\n（2）【答案】 C <eoa>", MQC, 3, ["A", "C"]),  # too few: fewer letters
    ("（1）【答案】Ａ <eoa>\n（2）【答案】 C <eoa>\n（3）【答案】 D <eoa>", MQC, 3, ["C", "D"]),  # full-width
    ("（1）【答案】 A\n（2）【答案】 B\n（3）【答案】 C\n（4）【答案】 D", MQC, 3, ["A", "B", "C"]),  # too many
    ("都不确定", MQC, 2, []),
    # --- five_out_of_seven: the first five A-G of the whole output
    ("【答案】 A B C D E <eoa>", F7, 5, ["A", "B", "C", "D", "E"]),
    ("【答案】 FGABD <eoa>", F7, 5, ["F", "G", "A", "B", "D"]),
    ("【答案】：G，E，A，C，B", F7, 5, ["G", "E", "A", "C", "B"]),
    ("【答案】 A B H C D E <eoa>", F7, 5, ["A", "B", "C", "D", "E"]),  # H-Z skipped
    ("第1空选F，第2空选A。\n【答案】 F A C D G <eoa>", F7, 5, ["F", "A", "F", "A", "C"]),  # reasoning counts
    ("【答案】 A B C", F7, 5, ["A", "B", "C"]),
]


@pytest.mark.parametrize(("text", "qtype", "n", "expected"), EXTRACTION_CASES)
def test_extract_answer(text: str, qtype: str, n: int, expected: list[str]) -> None:
    assert extract_answer(text, qtype, n) == expected


def test_extract_rejects_unknown_type_and_bad_length() -> None:
    with pytest.raises(ValueError, match="question type"):
        extract_answer("【答案】 A <eoa>", "cloze", 1)
    with pytest.raises(ValueError, match="n_answers"):
        extract_answer("【答案】 A <eoa>", MQC, 0)


# (predicted, gold, question type, the example's `score` field, points earned per OBJ_score_evaluation.py)
SCORING_CASES = [
    # single_choice: count_score, `score` points when equal
    (["A"], ["A"], SC, 5, 5.0),
    (["B"], ["A"], SC, 5, 0.0),
    ([], ["A"], SC, 4, 0.0),  # nothing extracted: check_length_equal -> ["Z"]
    # multi_choice (Physics, score 6): 6 exact, 3 when every chosen letter is in the gold, else 0
    (["BD"], ["BD"], MC, 6, 6.0),
    (["B"], ["BD"], MC, 6, 3.0),
    (["D"], ["BD"], MC, 6, 3.0),
    (["AC"], ["ABC"], MC, 6, 3.0),
    (["BC"], ["BD"], MC, 6, 0.0),  # C is wrong
    (["BCD"], ["BD"], MC, 6, 0.0),  # superset: C is wrong
    (["ABCD"], ["ACD"], MC, 6, 0.0),
    (["DB"], ["BD"], MC, 6, 3.0),  # official `==` on strings: other order is only partial
    (["BB"], ["BD"], MC, 6, 3.0),
    (["A"], ["A"], MC, 6, 6.0),
    (["B"], ["A"], MC, 6, 0.0),
    ([], ["AC"], MC, 6, 0.0),
    ([""], ["AC"], MC, 6, 0.0),  # never produced by the extractor; no credit
    (["B", "D"], ["BD"], MC, 6, 0.0),  # wrong shape: length 2 vs 1
    # multi_question_choice: `score` per correct sub-question
    (["A", "B", "C", "D"], ["A", "B", "D", "D"], MQC, 2, 6.0),
    (["A", "B", "D"], ["A", "B", "D"], MQC, 4, 12.0),
    (["D", "D", "D"], ["A", "B", "D"], MQC, 3, 3.0),
    (["A", "B"], ["A", "B", "D"], MQC, 4, 0.0),  # length mismatch zeroes the whole example
    (["A", "B", "D", "A"], ["A", "B", "D"], MQC, 4, 0.0),
    (list("ABCDABCDABCDABCDABCD"), list("ABCDABCDABCDABCDDCBA"), MQC, 1.5, 16 * 1.5),  # Fill_in_Blanks
    # five_out_of_seven: `score` per blank
    (["A", "B", "C", "D", "E"], ["A", "B", "C", "E", "D"], F7, 2, 6.0),
    (["F", "G", "A", "B", "D"], ["F", "G", "A", "B", "D"], F7, 2, 10.0),
    (["A", "B", "C", "D"], ["A", "B", "C", "D", "E"], F7, 2, 0.0),
]


@pytest.mark.parametrize(("pred", "gold", "qtype", "full", "expected"), SCORING_CASES)
def test_score_question(pred: list[str], gold: list[str], qtype: str, full: float, expected: float) -> None:
    assert score_question(pred, gold, qtype, full) == pytest.approx(expected)
    assert normalised_score(pred, gold, qtype) == pytest.approx(expected / max_points(gold, full))


def test_max_points_and_normalised_values() -> None:
    assert max_points(["A", "B", "C"], 4) == 12.0
    assert max_points(["BD"], 6) == 6.0
    assert max_points(list("ABCDABCDABCDABCDABCD"), 1.5) == 30.0
    assert normalised_score(["B"], ["BD"], MC) == 0.5
    assert normalised_score(["A", "B", "C", "A"], ["A", "B", "C", "D"], MQC) == 0.75
    assert normalised_score(["A", "B"], ["A", "B", "C"], MQC) == 0.0


def test_score_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="question type"):
        score_question(["A"], ["A"], "subjective", 5)
    with pytest.raises(ValueError, match="gold"):
        score_question(["A"], [], SC, 5)
    with pytest.raises(ValueError, match="gold"):
        score_question([""], [""], MC, 6)


def test_aggregate_sums_points_not_rates() -> None:
    # English: a 20-blank Fill_in_Blanks example (1.5 each) with 10 right, and two single MCQs (1 each), 1 right.
    # Points: (15 + 1) / (30 + 2) = 0.5; a plain mean of example rates would be (0.5 + 1 + 0) / 3 = 0.5 too,
    # so add Geography: 3 sub-questions (4 each) all right, and 2 sub-questions all wrong.
    results = [
        ("2010-2022_English_Fill_in_Blanks", 15.0, 30.0),
        ("2010-2013_English_MCQs", 1.0, 1.0),
        ("2010-2013_English_MCQs", 0.0, 1.0),
        ("2010-2022_Geography_MCQs", 12.0, 12.0),
        ("2010-2022_Geography_MCQs", 0.0, 8.0),
    ]
    agg = aggregate(results)
    assert agg["keywords"]["2010-2022_English_Fill_in_Blanks"]["scoring_rate"] == 0.5
    assert agg["keywords"]["2010-2013_English_MCQs"]["scoring_rate"] == 0.5
    assert agg["subjects"]["English"] == {"earned": 16.0, "possible": 32.0, "scoring_rate": 0.5}
    assert agg["subjects"]["Geography"]["scoring_rate"] == pytest.approx(0.6)  # not (1 + 0) / 2
    assert agg["overall"] == {"earned": 28.0, "possible": 52.0, "scoring_rate": pytest.approx(28 / 52)}
    assert set(agg["subjects"]) == {"English", "Geography"}
    with pytest.raises(ValueError, match="subject"):
        aggregate([("2023_Math_MCQs", 1.0, 5.0)])
    with pytest.raises(ValueError, match="impossible"):
        aggregate([("2010-2022_Math_I_MCQs", 6.0, 5.0)])


def test_format_prompt() -> None:
    assert format_prompt("题目如下：", "  1. 下列说法正确的是\nA. x\n\n") == "题目如下：1. 下列说法正确的是\nA. x\n"


def test_load_prompts_rejects_unknown_type(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"examples": [{"type": "cloze", "keyword": "k", "prefix_prompt": "p"}]}))
    with pytest.raises(ValueError, match="unknown question type"):
        load_prompts(path)


# ----------------------------------------------------------------------------------------- the real data

# keyword -> (question type, examples, sub-questions per example -> count, `score` values)
EXPECTED_FILES = {
    "2010-2013_English_MCQs": (SC, 105, {1: 105}, {1}),
    "2010-2022_Biology_MCQs": (SC, 150, {1: 150}, {6}),
    "2010-2022_Chemistry_MCQs": (SC, 124, {1: 124}, {6}),
    "2010-2022_Chinese_Lang_and_Usage_MCQs": (MQC, 56, {1: 44, 3: 12}, {3}),
    "2010-2022_Chinese_Modern_Lit": (MQC, 29, {3: 29}, {3}),
    "2010-2022_English_Fill_in_Blanks": (MQC, 30, {20: 30}, {1.5}),
    "2010-2022_English_Reading_Comp": (MQC, 124, {3: 29, 4: 92, 5: 3}, {2}),
    "2010-2022_Geography_MCQs": (MQC, 34, {2: 7, 3: 27}, {4}),
    "2010-2022_History_MCQs": (SC, 287, {1: 287}, {4}),
    "2010-2022_Math_II_MCQs": (SC, 218, {1: 218}, {5}),
    "2010-2022_Math_I_MCQs": (SC, 214, {1: 214}, {5}),
    "2010-2022_Physics_MCQs": (MC, 64, {1: 64}, {6}),
    "2010-2022_Political_Science_MCQs": (SC, 320, {1: 320}, {4}),
    "2012-2022_English_Cloze_Test": (F7, 26, {5: 26}, {2}),
}


@pytest.fixture(scope="module")
def gaokao_dir(data_dir: Path) -> Path:
    path = data_dir / "gaokao"
    assert (path / "Obj_Prompt.json").is_file(), f"GAOKAO-Bench data missing under {path}"
    return path


def _load(gaokao_dir: Path, keyword: str) -> list[dict]:
    with (gaokao_dir / "Objective_Questions" / f"{keyword}.json").open(encoding="utf-8") as f:
        data = json.load(f)
    assert data["keywords"] == keyword
    return data["example"]


def test_prompt_file_matches_question_types(gaokao_dir: Path) -> None:
    prompts = load_prompts(gaokao_dir / "Obj_Prompt.json")
    assert {k: v["type"] for k, v in prompts.items()} == QUESTION_TYPES
    assert set(QUESTION_TYPES) == set(SUBJECTS)
    files = {p.stem for p in (gaokao_dir / "Objective_Questions").glob("*.json")}
    assert files == set(QUESTION_TYPES)
    for keyword, prompt in prompts.items():
        assert "【答案】" in prompt["prefix_prompt"] and "<eoa>" in prompt["prefix_prompt"], keyword


@pytest.mark.parametrize("keyword", sorted(EXPECTED_FILES))
def test_data_shape(gaokao_dir: Path, keyword: str) -> None:
    qtype, count, lengths, scores = EXPECTED_FILES[keyword]
    examples = _load(gaokao_dir, keyword)
    assert QUESTION_TYPES[keyword] == qtype
    assert len(examples) == count
    seen: dict[int, int] = {}
    for ex in examples:
        seen[len(ex["answer"])] = seen.get(len(ex["answer"]), 0) + 1
    assert seen == lengths
    assert {ex["score"] for ex in examples} == scores
    for ex in examples:
        if qtype == MC:  # one string of distinct letters in alphabetical order, e.g. ["BD"]
            (answer,) = ex["answer"]
            assert answer == "".join(sorted(set(answer))) and set(answer) <= set("ABCD"), ex["index"]
        else:
            allowed = set("ABCDEFG") if qtype == F7 else set("ABCD")
            assert all(len(a) == 1 and a in allowed for a in ex["answer"]), ex["index"]


def _official_output(gold: list[str], qtype: str) -> str:
    """The gold answer written the way the official prefix_prompt asks for it."""
    if qtype == MQC:
        return "\n".join(f"（{i}）{REASONING}【答案】 {a} <eoa>" for i, a in enumerate(gold, 1))
    if qtype == F7:
        return f"【答案】 {' '.join(gold)} <eoa>"
    return f"{REASONING}【答案】 {gold[0]} <eoa>"


@pytest.mark.parametrize("keyword", sorted(EXPECTED_FILES))
def test_gold_round_trip_scores_full_marks(gaokao_dir: Path, keyword: str) -> None:
    qtype = QUESTION_TYPES[keyword]
    examples = _load(gaokao_dir, keyword)
    earned = possible = 0.0
    for ex in examples:
        gold = ex["answer"]
        predicted = extract_answer(_official_output(gold, qtype), qtype, len(gold))
        assert predicted == gold, (keyword, ex["index"])
        points = score_question(predicted, gold, qtype, ex["score"])
        assert points == max_points(gold, ex["score"]) > 0, (keyword, ex["index"])
        assert normalised_score(predicted, gold, qtype) == 1.0
        earned += points
        possible += max_points(gold, ex["score"])
    agg = aggregate([(keyword, earned, possible)])
    assert agg["keywords"][keyword]["scoring_rate"] == 1.0


@pytest.mark.parametrize("keyword", sorted(EXPECTED_FILES))
def test_wrong_answers_score_below_full(gaokao_dir: Path, keyword: str) -> None:
    """The converse of the round trip: shifting every gold letter must lose points on every example."""
    qtype = QUESTION_TYPES[keyword]
    shift = {c: "ABCDEFGA"["ABCDEFG".index(c) + 1] if qtype == F7 else "ABCDA"["ABCD".index(c) + 1]
             for c in "ABCDEFG"[: 7 if qtype == F7 else 4]}
    for ex in _load(gaokao_dir, keyword):
        gold = ex["answer"]
        wrong = ["".join(shift[c] for c in a) for a in gold]
        predicted = extract_answer(_official_output(wrong, qtype), qtype, len(gold))
        assert score_question(predicted, gold, qtype, ex["score"]) < max_points(gold, ex["score"]), ex["index"]
