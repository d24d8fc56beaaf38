"""Numeric answer extraction and comparison for math word problems: each case is a realistic model output and
the literal a careful human grader would read as its final answer (None when there is none); the gold parser
runs over every row of the real CMATH, MGSM-zh and GSM8K-zh files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.scoring.numeric import extract_number, gold_number, numbers_match, parse_number

EXTRACT = [
    # --- bare answers, units, separators
    ("18", "18"),
    ("１８", "18"),
    ("她每天在农贸市场赚18美元。", "18"),
    ("答案：１，２３４元", "1,234"),
    ("He made a profit of $70,000.", "70,000"),
    ("The answer is 1,450,000 dollars.", "1,450,000"),
    ("这堆稻谷重约2.5吨。", "2.5"),
    ("一共需要 3.5小时", "3.5"),
    ("So she has 12 dollars left.", "12"),
    ("答案是18.", "18"),
    ("三个数分别是3,4,5", "5"),
    ("答案是 1,2345", "1"),
    ("两个数分别是 12,34", "34"),
    # --- step-by-step solutions: the conclusion, not the restated question or intermediate steps
    ("珍妮特的鸭子每天下16颗蛋，她吃3颗，用4颗做松饼。\n1. 剩下的蛋：16 - 3 - 4 = 9 颗\n"
     "2. 每颗卖2美元：9 × 2 = 18 美元\n所以她每天赚18美元。", "18"),
    ("首先，第二次拍了 77 - 9 = 68 下。\n\n因此答案是 68。", "68"),
    ("步骤如下：\n- 一年级有84人\n- 二年级比一年级多8人\n- 84 + 8 = 92\n\n**答案：92人**", "92"),
    ("解：设鱼的价格为x元，\n30 - x = 6\nx = 24\n答：这条鱼24元。", "24"),
    ("### 解题步骤\n\n1. 计算总数：$10 \\times 2 = 20$\n2. 加上第一个篮子：$10 + 20 = 30$\n\n"
     "### 最终答案\n\n**30**", "30"),
    ("答案是18。\n\n验证：18 ÷ 2 = 9，16 - 3 - 4 = 9，正确。", "18"),
    ("初步估计答案是20，但是重新计算：170 + 23 - 20 - 13 = 160。所以最终答案是160。", "160"),
    ("答案：16-3-4=9，9×2=18", "18"),
    ("答案：\n首先 16 - 3 = 13\n然后 13 - 4 = 9\n最后 9 × 2 = 18", "18"),
    ("答案：每天赚 9×2=18 美元", "18"),
    ("所以剩下的蛋是9个。\n她每天赚 9 × 2 = 18 美元。", "18"),
    ("因此，小明一共有 3+5=8 个苹果。", "8"),
    ("所以，总数是 18 个，即 9 × 2。", "18"),
    ("所以每颗蛋是2美元。\n因此，她每天赚的是 18 美元，即 9 × 2。", "18"),
    ("Janet has 16 - 3 - 4 = 9 eggs left. She sells them for 9 * 2 = $18.\nThe answer is 18.", "18"),
    ("Step 1: 80,000 + 50,000 = 130,000\nStep 2: 80,000 * 2.5 = 200,000\n#### 70000", "70000"),
    ("Let's compute: 20 * 0.25 = 5 and 4 * 0.5 = 2, so the total is 5 + 2 = 7.\n\nFinal Answer: 7", "7"),
    # --- LaTeX and boxed
    ("最后结果为 $\\boxed{24}$。", "24"),
    ("所以 \\[ \\boxed{\\frac{3}{4}} \\]", "\\frac{3}{4}"),
    ("$$\\frac{1}{2} + \\frac{1}{4} = \\dfrac{3}{4}$$\n答案：$\\dfrac{3}{4}$", "\\frac{3}{4}"),
    ("\\boxed{12} 是初步结果，修正后为 \\boxed{9 \\times 2 = 18}", "18"),
    ("The final answer is $\\boxed{1{,}234}$", "1,234"),
    ("面积为 \\boxed{28.26 \\text{ 平方米}}", "28.26"),
    ("答案为 $1\\frac{1}{2}$ 小时", "1\\frac{1}{2}"),
    # --- fractions, percentages, Chinese forms
    ("剩下的占全部的 3/4。", "3/4"),
    ("答案是1又1/2", "1又1/2"),
    ("答案：4分之3", "4分之3"),
    ("所以超产了百分之12。", "百分之12"),
    ("36400 - 3900 = 32500，3900 ÷ 32500 = 0.12 = 12%\n答：超产12%。", "12%"),
    ("育新小学的图书比红卫小学多 25\\%。", "25%"),
    ("下午的出勤率是 48 ÷ 50 × 100% = 96％", "96%"),
    # --- negative numbers vs ranges, dates, list markers
    ("温度从5度降到了-3度，所以答案是 -3。", "-3"),
    ("答案：−2", "-2"),
    ("x = -\\frac{1}{2}", "-\\frac{1}{2}"),
    ("每组3-4人，最多可以分成 7 组。", "7"),
    ("The trip was on 2023-10-05", "05"),
    ("速度是 120/4 = 30 千米/时", "30"),
    ("期末时温差是 12-15", "15"),
    # --- no number at all
    ("抱歉，我无法回答这个问题。", None),
    ("", None),
    ("1. 先求出总数\n2. 再求出平均数", None),
    ("答案是十八。", None),
]


@pytest.mark.parametrize(("text", "expected"), EXTRACT)
def test_extract_number(text: str, expected: str | None) -> None:
    assert extract_number(text) == expected


def test_extract_table_is_large_and_every_answer_parses() -> None:
    assert len(EXTRACT) >= 40
    for _, expected in EXTRACT:
        if expected is not None:
            assert parse_number(expected) is not None, expected


PARSE = [
    ("18", 18.0), ("-2", -2.0), ("１，２３４.５", 1234.5), ("1,234.5", 1234.5), ("３", 3.0), ("0.5", 0.5),
    ("3/4", 0.75), ("\\frac{3}{4}", 0.75), ("\\dfrac{3}{4}", 0.75), ("-\\frac{1}{2}", -0.5),
    ("1\\frac{1}{2}", 1.5), ("1又1/2", 1.5), ("4分之3", 0.75), ("百分之25", 0.25), ("25%", 0.25),
    ("12.5\\%", 0.125), (" 7 ", 7.0), ("−4", -4.0),
    ("0.5元", None), ("18.", None), ("1,2", None), ("1,23", None), ("3,4,5", None),
    ("1/0", None), ("abc", None), ("", None),
    ("$18$", None), ("3-4", None), ("十八", None), ("2023/10/05", None),
]


@pytest.mark.parametrize(("text", "expected"), PARSE)
def test_parse_number(text: str, expected: float | None) -> None:
    assert parse_number(text) == expected


MATCH = [
    ("18", "18", True), ("18", "19", False), ("3", "3.0", True), ("3.00", "3", True),
    ("0.5", "1/2", True), ("\\frac{1}{2}", "0.5", True), ("2/6", "1/3", True), ("1/3", "0.333", False),
    ("25%", "0.25", True), ("0.25", "25%", True), ("96%", "0.96", True), ("8.73%", "0.0873", True),
    # a percentage also stands for the number before its sign (issue 12: GSM8K-zh's "百分之几" golds are bare)
    ("25", "25%", True), ("12%", "12", True), ("12%", "0.12", True), ("0.12", "12", False),
    ("1,234", "1234", True), ("1234", "1,234", True), ("114200", "114,200", True),
    ("1,450,000", "1450000", True),
    ("-5", "5", False), ("-5", "-5", True), ("1又1/2", "3/2", True),
    ("70000.00001", "70000", False), ("2.857", "2.86", False), ("0", "0", True), ("1e-7", "0", False),
    (None, "18", False), ("18元", "18", False), ("", "18", False),
]


@pytest.mark.parametrize(("pred", "gold", "expected"), MATCH)
def test_numbers_match(pred: str | None, gold: str, expected: bool) -> None:
    assert numbers_match(pred, gold) is expected


def test_tolerance_is_configurable() -> None:
    assert not numbers_match("0.33", "1/3")
    assert numbers_match("0.33", "1/3", rel_tol=0.02)


GOLD = [
    ("18", "18"), ("2,125", "2,125"), ("1/8", "1/8"), ("25%", "25%"), (" 0.0873\n", "0.0873"),
    ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nShe sold 48+24 = <<48+24=72>>72 clips.\n#### 72", "72"),
    ("#### 1,450,000", "1,450,000"), ("先算 16-3-4=9，再算 9×2=18，所以是18美元", "18"), ("无", None),
]


@pytest.mark.parametrize(("text", "expected"), GOLD)
def test_gold_number(text: str, expected: str | None) -> None:
    assert gold_number(text) == expected


def _check_golds(name: str, golds: list[str], expected_rows: int) -> None:
    bad = [g for g in golds if gold_number(g) is None or parse_number(gold_number(g) or "") is None]
    print(f"{name}: {len(golds) - len(bad)}/{len(golds)} gold answers parsed")
    assert len(golds) == expected_rows
    assert not bad, f"{name}: unparsed gold {bad[:10]}"
    # A bare gold must round-trip exactly: gold_number never trims or reinterprets it.
    assert all(gold_number(g) == g.strip() for g in golds)


def test_gold_cmath(data_dir: Path) -> None:
    rows = [json.loads(line) for line in (data_dir / "cmath" / "cmath_dev.jsonl").read_text("utf-8").splitlines()
            if line.strip()]
    golds = [r["golden"] for r in rows]
    _check_golds("cmath_dev", golds, 600)
    values = {g: parse_number(g) for g in golds}
    assert values["25%"] == 0.25 and values["2/6"] == pytest.approx(1 / 3) and values["2813.18"] == 2813.18


def test_gold_mgsm(data_dir: Path) -> None:
    lines = (data_dir / "mgsm" / "mgsm_zh.tsv").read_text("utf-8").splitlines()
    golds = [line.split("\t")[-1] for line in lines if line.strip()]
    _check_golds("mgsm_zh", golds, 250)
    assert parse_number("114,200") == 114200 and "114,200" in golds


def test_gold_gsm8k_zh(data_dir: Path) -> None:
    lines = (data_dir / "gsm8k_zh" / "gsm8k_Cn.txt").read_text("utf-8").splitlines()
    golds = [line.split("[SEP]")[-1] for line in lines if line.strip()]
    assert all(line.count("[SEP]") == 1 for line in lines if line.strip())
    _check_golds("gsm8k_Cn", golds, 1319)
    assert parse_number("1,450,000") == 1450000 and "1,450,000" in golds


@pytest.mark.parametrize("pred,gold,ok", [("1450001", "1,450,000", False), ("1,450,000", "1450000", True),
                                          ("100001", "100000", False), ("18.0", "18", True)])
def test_whole_number_gold_needs_exact_value(pred: str, gold: str, ok: bool) -> None:
    assert numbers_match(pred, gold) is ok
