"""Mathematical answer equivalence (harness/scoring/math_equiv.py, math-verify underneath) on the real reference answers of
OlymMATH (zh) and Math24o, each verdict checked by hand; and the reading of the answer out of a solution.

Every case names a real item; its reference is read from the upstream file here (json, or the .xlsx's XML with the
standard library), and the table also spells it out, so a changed file fails loudly instead of moving the cases.
"""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from harness.scoring.math_equiv import MAX_ANSWER_CHARS, equivalent, extract_answer, final_answer_line, last_boxed

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def olymmath_answers(data_dir: Path) -> dict[str, str]:
    out = {}
    for level in ("EASY", "HARD"):
        for line in (data_dir / f"olymmath/OlymMATH-ZH-{level}.jsonl").read_text(encoding="utf-8").split("\n"):
            if line.strip():
                row = json.loads(line)
                out[row["unique_id"]] = row["answer"]
    return out


def math24o_rows(data_dir: Path) -> list[list[object]]:
    """The sheet's rows as cell values, read from the workbook's XML (not through openpyxl or the harness)."""
    with zipfile.ZipFile(data_dir / "math24o/math24o.xlsx") as z:
        shared = ["".join(t.text or "" for t in si.iter(f"{{{NS['m']}}}t"))
                  for si in ET.fromstring(z.read("xl/sharedStrings.xml")).findall("m:si", NS)]
        sheet = ET.fromstring(z.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in sheet.iter(f"{{{NS['m']}}}row"):
        values: list[object] = []
        for c in row.findall("m:c", NS):
            v = c.find("m:v", NS)
            if v is None:
                values.append(None)
            elif c.get("t") == "s":
                values.append(shared[int(v.text or 0)])
            else:
                text = v.text or ""
                values.append(float(text) if any(ch in text for ch in ".eE") else int(text))
        if any(x is not None for x in values):
            rows.append(values)
    return rows


def math24o_answers(data_dir: Path) -> dict[str, str]:
    rows = math24o_rows(data_dir)
    assert rows[0] == ["id", "questions", "ref_answers"]
    return {str(r[0]): str(r[2]) for r in rows[1:]}


# (item, its reference as the file has it, the model's answer, equivalent?, why) - each verdict checked by hand
OLYMMATH_CASES = [
    # radicals and sums in another order
    ("OlymMATH-EASY-1-ZH", r"4\sqrt{15}-14", r"-14+4\sqrt{15}", True, "same sum, reordered"),
    ("OlymMATH-EASY-1-ZH", r"4\sqrt{15}-14", r"4\sqrt{15}+14", False, "sign of 14 differs"),
    ("OlymMATH-EASY-1-ZH", r"4\sqrt{15}-14", "1.491933", True, "4*3.8729833-14 = 1.4919334: equal to 6 decimals"),
    ("OlymMATH-EASY-1-ZH", r"4\sqrt{15}-14", "1.4919", False, "rounded to 4 decimals: not equal"),
    ("OlymMATH-HARD-66-ZH", r"2(\sqrt{6}+\sqrt{2})", r"2\sqrt{6}+2\sqrt{2}", True, "expanded"),
    ("OlymMATH-HARD-18-ZH", r"-\frac{4\sqrt{3}}{3}", r"-\frac{4}{\sqrt{3}}", True, "denominator not rationalised"),
    ("OlymMATH-EASY-93-ZH", r"\sqrt[4]{\frac{64}{27}}", r"\frac{2\sqrt[4]{12}}{3}", True, "(64/27)^(1/4) = 192^(1/4)/3 = 2*12^(1/4)/3"),
    ("OlymMATH-EASY-67-ZH", r"\sqrt{1+\frac{\sqrt{6}}{3}}", r"\sqrt{\frac{3+\sqrt{6}}{3}}", True, "same radicand"),
    # fractions and decimals
    ("OlymMATH-EASY-3-ZH", r"\frac{18}{5}", "3.6", True, "18/5 = 3.6"),
    ("OlymMATH-EASY-3-ZH", r"\frac{18}{5}", r"\dfrac{18}{5}", True, "\\dfrac is \\frac"),
    ("OlymMATH-EASY-3-ZH", r"\frac{18}{5}", "18/5", True, "plain slash"),
    ("OlymMATH-EASY-3-ZH", r"\frac{18}{5}", r"\frac{5}{18}", False, "inverted"),
    ("OlymMATH-HARD-82-ZH", "0.84", r"\frac{21}{25}", True, "21/25 = 0.84"),
    ("OlymMATH-HARD-82-ZH", "0.84", r"84\%", True, "a percentage is its value"),
    # a quirk inherited from math-verify (upstream scores with it too): values are rounded to 6 decimals first
    ("OlymMATH-EASY-14-ZH", r"\frac{1}{1112111}", "0.0000009", True, "both round to 0.000001 (math-verify's float_rounding=6)"),
    # powers: the file writes 2^2023 without braces, which math-verify reads as 2**2023 as the problem means
    ("OlymMATH-HARD-23-ZH", "2^2023", "2^{2023}", True, "braced exponent"),
    ("OlymMATH-HARD-23-ZH", "2^2023", "4046", False, "2*2023 is not 2^2023"),
    ("OlymMATH-HARD-78-ZH", r"11^8 (5^{11} - 4^{11})", r"11^8\cdot5^{11}-11^8\cdot4^{11}", True, "distributed"),
    # intervals keep their ends
    ("OlymMATH-EASY-8-ZH", r"\left[ -\frac{1}{8}, \frac{1}{8} \right]", "[-0.125,0.125]", True, "decimal ends"),
    ("OlymMATH-EASY-8-ZH", r"\left[ -\frac{1}{8}, \frac{1}{8} \right]", r"(-\frac18,\frac18)", False, "open, not closed"),
    ("OlymMATH-HARD-24-ZH", r"\left[2, \frac{4}{3}\sqrt{3}\right)", r"[2,\frac{4\sqrt{3}}{3})", True, "same half-open interval"),
    ("OlymMATH-HARD-24-ZH", r"\left[2, \frac{4}{3}\sqrt{3}\right)", r"[2,\frac{4\sqrt{3}}{3}]", False, "right end closed"),
    ("OlymMATH-HARD-64-ZH", r"\left[\frac{\sqrt{2}-1}{2},+\infty \right)", r"[\frac{\sqrt2-1}{2},\infty)", True, "+infinity"),
    ("OlymMATH-HARD-69-ZH", "(-1, 1)", "(-1,1)", True, "same open interval"),
    ("OlymMATH-HARD-69-ZH", "(-1, 1)", "[-1,1]", False, "closed, not open"),
    # sets against intervals: "[7, 47]" is a range of values, the set {7, 47} two of them
    ("OlymMATH-EASY-40-ZH", "[7, 47]", r"\{7, 47\}", False, "a two-element set is not the interval"),
    # a quirk inherited from math-verify: "(-1, 1)" also reads as a pair, which the set {-1, 1} matches
    ("OlymMATH-HARD-69-ZH", "(-1, 1)", r"\{-1,1\}", True, "math-verify: interval-or-pair (-1, 1) vs the set"),
    # inverse trigonometric functions
    ("OlymMATH-EASY-5-ZH", r"\pi -\arccos \frac{1}{8}", r"\arccos(-\frac{1}{8})", True, "pi - arccos x = arccos(-x)"),
    ("OlymMATH-HARD-73-ZH", r"\arccos \frac{7}{18}", r"\cos^{-1}\frac{7}{18}", True, "cos^-1 is arccos"),
    # units: degrees and Chinese unit words are dropped, not converted
    ("OlymMATH-EASY-85-ZH", r"115^{\circ}", "115", True, "degree sign dropped"),
    ("OlymMATH-EASY-85-ZH", r"115^{\circ}", "115°", True, "unicode degree sign"),
    ("OlymMATH-EASY-85-ZH", r"115^{\circ}", "115度", True, "Chinese 度"),
    ("OlymMATH-EASY-85-ZH", r"115^{\circ}", r"\frac{23\pi}{36}", False, "radians are not converted"),
    ("OlymMATH-EASY-0-ZH", "948", "x=948", True, "an assignment: its right-hand side"),
    ("OlymMATH-EASY-0-ZH", "948", "949", False, "off by one"),
]

MATH24O_CASES = [
    ("MC2401", "10", "10", True, "the integer"),
    ("MC2401", "10", "10.0", True, "as a decimal"),
    ("MC2401", "10", r"10\text{个}", True, "Chinese unit word in \\text"),
    ("MC2401", "10", "10个", True, "bare Chinese unit word"),
    ("MC2401", "10", "$10$", True, "dollar-wrapped (upstream's float() would fail here)"),
    ("MC2401", "10", "11", False, "wrong count"),
    ("MC2403", "0.25", r"\frac{1}{4}", True, "a fraction for the decimal (upstream: wrong, not a plain number)"),
    ("MC2403", "0.25", "0.2", False, "wrong value"),
    ("MC2412", "0.5", r"\frac{1}{2}", True, "a fraction for the decimal"),
    ("MC2409", "1799", "1,799", True, "thousands separator"),
    ("MC2409", "1799", r"1\,799", False, "math-verify does not read a thin-space separator"),
    ("MC2413", "2", "(2)", True, "the statement's number in parentheses"),
    ("MC2413", "2", "②", False, "a circled numeral is not a number to math-verify"),
    ("MC2415", "12108", "12108", True, "the integer"),
    ("MC2411", "6400", "6400", True, "the integer"),
]


def test_the_cases_are_the_files_answers(data_dir: Path) -> None:
    olym, m24 = olymmath_answers(data_dir), math24o_answers(data_dir)
    for item, gold, *_ in OLYMMATH_CASES:
        assert olym[item] == gold, item
    for item, gold, *_ in MATH24O_CASES:
        assert m24[item] == gold, item


@pytest.mark.parametrize("item,gold,prediction,expected,why", OLYMMATH_CASES + MATH24O_CASES,
                         ids=[f"{c[0]}:{c[2]}" for c in OLYMMATH_CASES + MATH24O_CASES])
def test_equivalence(item: str, gold: str, prediction: str, expected: bool, why: str) -> None:
    assert equivalent(prediction, gold) is expected, why


def test_every_reference_equals_itself_and_not_its_neighbour(data_dir: Path) -> None:
    """Each of the 221 references parses and matches itself; no reference matches a different-valued one (so
    none parses to nothing, which would match nothing, or to something that matches everything)."""
    answers = list(olymmath_answers(data_dir).values()) + list(math24o_answers(data_dir).values())
    assert len(answers) == 221
    for a in answers:
        assert equivalent(a, a), a
    for a, b in [(r"4\sqrt{15}-14", "3"), ("948", "3"), (r"\frac{18}{5}", r"\frac{1}{2}"), ("[7, 47]", "(-1, 1)")]:
        assert not equivalent(a, b)


# (the model's answer text, what extraction reads, then checked against item)
SOLUTIONS = [
    # nesting: \frac{\sqrt{}}{} inside the box, and three levels (\sqrt{1+\frac{\sqrt{6}}{3}})
    ("所以 $\\odot D$ 的半径为 $\\boxed{4\\sqrt{15}-14}$。", "4\\sqrt{15}-14", "OlymMATH-EASY-1-ZH", True),
    ("最小值为\n\\[\n\\boxed{\\sqrt{1+\\frac{\\sqrt{6}}{3}}}\n\\]", "\\sqrt{1+\\frac{\\sqrt{6}}{3}}", "OlymMATH-EASY-67-ZH", True),
    ("体积为 \\(\\boxed{\\dfrac{18}{5}}\\)．", "\\dfrac{18}{5}", "OlymMATH-EASY-3-ZH", True),
    # the last box wins (a first guess revised), Chinese text after it
    ("初步得到 \\boxed{947}，检查后修正：答案为 \\boxed{948} 个。", "948", "OlymMATH-EASY-0-ZH", True),
    # a box that never closes (cut at the budget) is passed over for the last one that does
    ("因此 $\\boxed{3}$。再验证一次：\\boxed{\\sqrt{9", "3", "OlymMATH-EASY-2-ZH", True),
    # an unmatched "{" before the box does not hide it (upstream's brace stack would not empty, and its regex
    # fallback reads only two levels of braces inside a box: this one has three)
    ("由 {a_n 的定义可知最小值为 $\\boxed{\\sqrt{1+\\frac{\\sqrt{6}}{3}}}$", "\\sqrt{1+\\frac{\\sqrt{6}}{3}}",
     "OlymMATH-EASY-67-ZH", True),
    # escaped braces of a set inside the box do not end it
    ("值域为 $\\boxed{\\left[ -\\frac{1}{8}, \\frac{1}{8} \\right]}$，且 $\\{x\\}$ 不影响", "\\left[ -\\frac{1}{8}, \\frac{1}{8} \\right]",
     "OlymMATH-EASY-8-ZH", True),
    ("所以 $\\boxed{\\{7, 47\\}}$", "\\{7, 47\\}", "OlymMATH-EASY-40-ZH", False),
    # an interval written with \left( ... \right] in the box
    ("取值范围是 $\\boxed{\\left(-1,1\\right]}$", "\\left(-1,1\\right]", "OlymMATH-HARD-69-ZH", False),
    # degrees in the box
    ("故 $\\angle C=\\boxed{115^\\circ}$", "115^\\circ", "OlymMATH-EASY-85-ZH", True),
    # no box: an explicit final-answer line is read (upstream would score these wrong)
    ("经计算，\n最终答案：$\\frac{18}{5}$。", "\\frac{18}{5}", "OlymMATH-EASY-3-ZH", True),
    ("**答案**：\n\n$$2^{2023}$$", "2^{2023}", "OlymMATH-HARD-23-ZH", True),
    ("所以这样的函数共有 10 个。\n答案是 10", "10", "MC2401", True),
    # Math24o: a decimal, and a fraction the prompt forbids (counted: math-verify sees the same value)
    ("所以最大值为 $\\boxed{0.25}$", "0.25", "MC2403", True),
    ("所以最大值为 $\\boxed{\\frac{1}{4}}$", "\\frac{1}{4}", "MC2403", True),
    ("所以个位数为 \\boxed{7}", "7", "MC2417", False),
]


@pytest.mark.parametrize("text,answer,item,expected", SOLUTIONS, ids=[s[2] + ":" + s[1] for s in SOLUTIONS])
def test_solutions_read_and_checked(text: str, answer: str, item: str, expected: bool, data_dir: Path) -> None:
    gold = {**olymmath_answers(data_dir), **math24o_answers(data_dir)}[item]
    assert extract_answer(text) == answer
    assert equivalent(extract_answer(text), gold) is expected


def test_boxed_reading_edges() -> None:
    assert last_boxed("no box here") is None
    assert last_boxed("\\boxed{}") == "" and extract_answer("\\boxed{}") is None  # an empty box is no answer
    assert last_boxed("\\boxed{\\boxed{5}}") == "\\boxed{5}"  # nested boxes: the outer one (math-verify unwraps it)
    assert equivalent(last_boxed("\\boxed{\\boxed{5}}"), "5")
    assert last_boxed("\\\\boxed{5}") is None  # an escaped backslash, then the word: no box
    assert last_boxed("\\boxed{2} 与 \\boxed{\\frac{1}{2}") == "2"
    assert extract_answer("推理中没有给出结论") is None
    assert final_answer_line("答案是否唯一？需要检验。") is None  # 答案是否 asks, it does not answer
    assert final_answer_line("Final answer: **$7$**.") == "7"
    assert final_answer_line("答案：") is None


def test_hostile_outputs_are_read_in_linear_time() -> None:
    """A runaway generation of unclosed boxes or braces is one pass, not one pass per box."""
    import time

    started = time.monotonic()
    assert last_boxed("\\boxed{" * 100_000 + "3") is None
    assert last_boxed("\\boxed{1}" + "{" * 300_000) == "1"
    assert extract_answer("答案：" * 50_000) is None
    assert extract_answer("答案：" + "$" * 200_000) is None
    assert time.monotonic() - started < 5


def test_nothing_and_runaway_answers_are_never_equal() -> None:
    assert not equivalent(None, "3")
    assert not equivalent("", "3") and not equivalent("$ $", "3")
    assert not equivalent("3" + " " * MAX_ANSWER_CHARS, "3")  # over the bound: not parsed at all


def test_equivalence_outside_the_main_thread() -> None:
    """math-verify's time limits use SIGALRM, which only the main thread has: elsewhere they are left off and the
    verdicts stay the same (an error here would score every item of a threaded run 0)."""
    out: dict[str, bool] = {}

    def work() -> None:
        out["same"] = equivalent(r"\frac{2\sqrt[4]{12}}{3}", r"\sqrt[4]{\frac{64}{27}}")
        out["other"] = equivalent("[2,3]", r"\left[2, \frac{4}{3}\sqrt{3}\right)")

    t = threading.Thread(target=work)
    t.start()
    t.join(60)
    assert out == {"same": True, "other": False}
