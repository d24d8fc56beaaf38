"""FollowBench (zh)'s rule checks (code_zh/rule_based_evaluation.py @ 6278f4c1), worked by hand on real items:
which items a rule scores, and what each rule accepts at each level, quirks included."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from harness.scoring.followbench_rules import check_match, rule_mark, rule_name

FILES = ("content", "situation", "style", "format", "example", "mixed")


@pytest.fixture(scope="module")
def rows(data_dir: Path) -> dict[str, list[dict]]:
    return {f: json.loads((data_dir / "followbench_zh" / f"{f}_constraints.json").read_text(encoding="utf-8"))
            for f in FILES}


def _row(rows: dict[str, list[dict]], file: str, example_id: int, level: int) -> dict:
    (row,) = [r for r in rows[file] if r["example_id"] == example_id and r["level"] == level]
    return row


def test_which_items_rules_score(rows: dict[str, list[dict]]) -> None:
    """330 of the 790 scored items: all 200 example items, the rule sources of the other files, format chain 22."""
    got = Counter((f, rule_name(f, r)) for f in FILES for r in rows[f] if r["level"] > 0)
    assert sum(n for (f, name), n in got.items() if name is not None) == 330
    assert got[("example", "example")] == 200
    assert got[("content", "E2E")] == got[("content", "CONLL2003")] == got[("situation", "BBH_logical")] == 25
    assert got[("format", "format_22")] == 5 and got[("mixed", "text_editing")] == 10
    assert got[("style", None)] == 150  # style is judged throughout
    assert all(rule_name(f, r) is None for f in FILES for r in rows[f] if r["level"] == 0)  # seeds are not scored
    # the example file holds samsum and xsum items too: there the template match decides, not the summary rules
    assert rule_name("example", _row(rows, "example", 33, 1)) == "example"


def test_exact_answers(rows: dict[str, list[dict]]) -> None:
    e2e = _row(rows, "content", 14, 1)  # target 名字[The Phoenix]，类型[酒吧]
    assert rule_mark("E2E", e2e, "名字[The Phoenix]，类型[酒吧]") == 1
    assert rule_mark("E2E", e2e, "名字[The Phoenix]，类型[酒吧]\n") == 1  # surrounding whitespace is not the answer
    assert rule_mark("E2E", e2e, "结果：名字[The Phoenix]，类型[酒吧]") == 0
    edit = _row(rows, "mixed", 3, 5)
    assert rule_mark("text_editing", edit, "*小明喜欢吃酸酸的苹果。*") == 1
    assert rule_mark("text_editing", edit, "*小明喜欢吃酸酸的苹果*") == 0
    conll = _row(rows, "content", 19, 5)  # target "['波恩']"
    assert rule_mark("CONLL2003", conll, "波恩") == 1 and rule_mark("CONLL2003", conll, "德国") == 0


def test_last_answer_of_its_form_counts(rows: dict[str, list[dict]]) -> None:
    logical = _row(rows, "situation", 1, 1)  # (A)
    assert rule_mark("BBH_logical", logical, "(B)不对，所以答案是(A)") == 1
    assert rule_mark("BBH_logical", logical, "答案是(A)，不是(B)") == 0
    time = _row(rows, "situation", 6, 1)  # 12/29/1937
    assert rule_mark("BBH_time", time, "五天后是12/29/1937") == 1 and rule_mark("BBH_time", time, "1937年12月29日") == 0
    gsm = _row(rows, "situation", 8, 1)  # 14美元
    assert rule_mark("gsm_8k", gsm, "12美元一小时，她总共赚了14美元") == 1
    assert rule_mark("gsm_8k", gsm, "她总共赚了14 美元") == 0
    space = _row(rows, "situation", 7, 5)  # 3号公寓14楼, contained anywhere
    assert rule_mark("self_made_space", space, "他现在在3号公寓14楼。") == 1


def test_summary_rules_add_a_check_per_level(rows: dict[str, list[dict]]) -> None:
    xsum = [_row(rows, "mixed", 8, k) for k in range(1, 6)]
    answer = "洪水影响了边境地区。"  # one sentence, 10 characters, no 牛顿斯图尔特, no 在
    assert [rule_mark("xsum", r, answer) for r in xsum] == [1, 1, 1, 0, 0]
    cnn = [_row(rows, "mixed", 7, k) for k in range(1, 6)]
    assert [rule_mark("cnn_dailymail", r, "波特成年了。他是演员。他拍电影。") for r in cnn] == [1, 1, 1, 1, 0]
    assert rule_mark("cnn_dailymail", cnn[4], "波特成年了。他是演员。他拍了电影。") == 1  # 了 in sentence 3
    samsum = _row(rows, "mixed", 9, 5)
    assert rule_mark("samsum", samsum, "金的琐碎的家务。") == 1  # exactly one punctuation mark
    assert rule_mark("samsum", samsum, "金：琐碎的家务。") == 0
    arxiv = _row(rows, "mixed", 11, 3)
    assert rule_mark("arxiv", arxiv, "我们研究了模型编辑。") == 1 and rule_mark("arxiv", arxiv, "本文研究了模型编辑。") == 0


def test_gigaword_quirks_as_upstream(rows: dict[str, list[dict]]) -> None:
    """Level 5's instruction forbids 在, upstream's rule requires it; its digit check is str.isnumeric, so a
    Chinese numeral (二) fails "no Arabic numerals". Both are kept as upstream scores them."""
    giga = [_row(rows, "mixed", 10, k) for k in range(1, 6)]
    assert "不能出现“公交车”和“在”" in giga[4]["instruction"]
    assert rule_mark("gigaword", giga[4], "菲律宾客车在遇袭") == 1
    assert rule_mark("gigaword", giga[4], "菲律宾客车遭遇袭击") == 0
    assert [rule_mark("gigaword", r, "客车遇袭二人死亡") for r in giga] == [1, 1, 0, 0, 0]


def test_format_chain_22(rows: dict[str, list[dict]]) -> None:
    levels = [_row(rows, "format", 22, k) for k in range(1, 6)]
    three = "用软布擦拭桌面。\n\n避免阳光直射。\n\n定期上蜡保养。"
    assert [rule_mark("format_22", r, three) for r in levels] == [1, 1, 0, 0, 0]  # sentences under 20 characters
    long = "1. 用柔软干净的湿布顺着木纹方向轻轻擦拭桌面上的灰尘和污渍。"
    numbered = "\n\n".join([long, long.replace("1.", "2."), long.replace("1.", "3.")])
    assert [rule_mark("format_22", r, numbered) for r in levels] == [1, 1, 1, 1, 0]
    assert rule_mark("format_22", levels[4], numbered + "\n\n4. 这些是建议") == 0  # a sentence of 8 characters
    assert rule_mark("format_22", levels[1], "一。二。三。\n\nb。\n\nc。") == 0  # three sentences in a paragraph


def test_example_constraints_match_the_template(rows: dict[str, list[dict]]) -> None:
    row = _row(rows, "example", 1, 1)
    assert row["target"] == "{instruction}\n答案: {answer}"
    assert rule_mark("example", row, "答案: 瑞银员工的Body Shop扣减") == 1
    assert rule_mark("example", row, "答案：瑞银员工的Body Shop扣减") == 0  # a full-width colon is another template
    assert rule_mark("example", row, "答案: 第一行\n第二行") == 0  # {answer} is one line, as re's . is
    bot = _row(rows, "example", 21, 1)  # "{instruction}\n[机器人]\n{answer}"
    assert rule_mark("example", bot, "[机器人]\n1.") == 1 and rule_mark("example", bot, "1.") == 0
    assert check_match("({answer})", "(x)") and not check_match("({answer})", "x")  # brackets are literal
