"""Answer extraction from free-text model outputs: each case is a real-looking response and the label a
careful human grader would read from it (None when a grader could not tell)."""

from __future__ import annotations

import pytest

from harness.scoring.extraction import extract_choice

ABCD = ("A", "B", "C", "D")

CASES = [
    # --- explicit answer phrases (Chinese)
    ("答案：B", "B"),
    ("答案是B", "B"),
    ("答案为C。", "C"),
    ("正确答案是：D", "D"),
    ("根据题意分析，答案应该是A。", "A"),
    ("答案选B", "B"),
    ("硫酸是强酸，故选D", "D"),
    ("综上所述，所以选C。", "C"),
    ("因此答案是 B", "B"),
    ("我会选择B，因为它最符合题意。", "B"),
    ("选项B正确，其余选项都与史实不符。", "B"),
    ("B选项正确。", "B"),
    ("经过分析，B是正确的。", "B"),
    ("正确的选项是C", "C"),
    ("本题答案为B项。", "B"),
    ("答案：选项A", "A"),
    # --- explicit answer phrases (English)
    ("The answer is B.", "B"),
    ("Answer: C", "C"),
    ("After eliminating the others, the correct answer is (D).", "D"),
    ("Option B is correct because the enzyme is denatured at high temperature.", "B"),
    ("I would choose C.", "C"),
    ("The final answer is $\\boxed{A}$", "A"),
    # --- the last explicit statement wins (reason, then conclude)
    ("A看似正确，但仔细分析题干中的限定条件，A忽略了时间因素。所以答案是C", "C"),
    ("初步判断答案是A。\n\n但是再想一想，A只在低温下成立，题目说的是常温。\n\n因此，正确答案是B。", "B"),
    ("At first glance the answer is A, but A ignores friction. Therefore the answer is D.", "D"),
    # --- normalisation: full-width, markdown, LaTeX, brackets
    ("答案：Ｂ", "B"),
    ("答案是（Ｃ）", "C"),
    ("**答案：B**", "B"),
    ("**B**", "B"),
    ("__D__", "D"),
    ("答案：【A】", "A"),
    ("答案是[C]", "C"),
    ("$\\boxed{\\text{D}}$", "D"),
    ("### 解析\n秦朝统一了度量衡。\n### 答案\n**C**", "C"),
    # --- response starts with the label
    ("B", "B"),
    ("C.", "C"),
    ("A、", "A"),
    ("D：白细胞的主要功能是防御。", "D"),
    ("B. 光合作用\n\n解析：植物通过光合作用把光能转化为化学能。", "B"),
    ("(A) 1949年", "A"),
    # --- exactly one standalone label
    ("我认为是D，因为其他说法都与题干矛盾。", "D"),
    ("A项错误，B项错误，C项错误，应当是D", "D"),
    ("不是A，而是C。", "C"),
    # --- standalone letters only; negations
    ("A和B都不对，答案是C", "C"),
    ("不选A，选B", "B"),
    ("A是错误的", None),
    ("Because DNA is double-stranded, ABCD cannot all be right.", None),
    ("A cell membrane is made of lipids and proteins.", None),
    ("DNA和RNA都是核酸。", None),
    # --- no answer / ambiguous -> None (never a random guess)
    ("", None),
    ("这道题我不确定，需要更多信息。", None),
    ("I'm sorry, I cannot answer this question.", None),
    ("答案：AB", None),
    ("答案是A和C", None),
    ("A和B都有可能。", None),
    ("A. 北京\nB. 上海\nC. 广州\nD. 深圳", None),
    ("选项A：苹果\n选项B：香蕉", None),  # an echo of the option list is not an answer
    ("A选项是错误的吗？我们来看B。", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_extract_choice_table(text: str, expected: str | None) -> None:
    assert extract_choice(text, ABCD) == expected


def test_table_is_large_and_mixed() -> None:
    assert len(CASES) >= 40
    assert any(expected is None for _, expected in CASES)
    assert {expected for _, expected in CASES} >= set(ABCD)


# --- five (or more) options: labels come from the caller, nothing is hard-coded to A-D
ABCDE = ("A", "B", "C", "D", "E")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("答案：E", "E"),
        ("E. 以上都不对", "E"),
        ("The answer is E.", "E"),
        ("故选E", "E"),
        ("答案：F", None),  # F is not a label here
    ],
)
def test_five_options(text: str, expected: str | None) -> None:
    assert extract_choice(text, ABCDE) == expected


def test_label_outside_given_labels_is_not_returned() -> None:
    assert extract_choice("答案：E", ABCD) is None


def test_numeric_labels() -> None:
    labels = ("1", "2", "3", "4")
    assert extract_choice("答案是3", labels) == "3"
    assert extract_choice("答案是34", labels) is None  # "34" is not a standalone label nor a single answer
    assert extract_choice("答案是 2020 年", labels) is None


# --- option text instead of a label
CAPITALS = ("上海", "北京", "广州", "深圳")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("北京", "B"),
        ("北京。", "B"),
        ("中国的首都是北京。", "B"),
        ("  广州！ ", "C"),
        ("上海和北京都是直辖市。", None),  # two options mentioned: ambiguous
        ("我不知道。", None),
    ],
)
def test_option_text(text: str, expected: str | None) -> None:
    assert extract_choice(text, ABCD, CAPITALS) == expected


def test_option_text_needs_options() -> None:
    assert extract_choice("中国的首都是北京。", ABCD) is None


def test_option_text_prefers_the_longer_contained_option() -> None:
    options = ("光合作用", "呼吸作用", "光合作用和呼吸作用", "蒸腾作用")
    assert extract_choice("这个过程是光合作用和呼吸作用。", ABCD, options) == "C"


def test_option_text_is_case_and_punctuation_insensitive() -> None:
    options = ("Paris", "London", "Berlin", "Madrid")
    assert extract_choice("paris.", ABCD, options) == "A"
    assert extract_choice("The capital of France is Paris!", ABCD, options) == "A"


def test_option_text_keeps_dashes() -> None:
    assert extract_choice("-1", ABCD, ("1", "-1", "0", "2")) == "B"


def test_label_beats_option_text() -> None:
    # The model names B explicitly while also mentioning another option's text in its reasoning.
    assert extract_choice("上海不是首都，答案是B", ABCD, CAPITALS) == "B"
