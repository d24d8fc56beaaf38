"""Checklist verdicts of the 精确指令遵循 tasks, worked by hand on real items.

CFBench (code/evalaute.py @ 0bcbf9b0): the judge's echo of each checkpoint + tab + 0/1, and CSR/ISR/PSR with the
主需/次需 rule. FollowBench (code_zh/gpt4_based_evaluation.py @ 6278f4c1): the last line's YES/NO list, HSR/SSR,
and CSL over a chain of levels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.scoring.chains import ChainTally
from harness.scoring.checklists import (
    cfbench_scores,
    cfbench_strict,
    followbench_scores,
    parse_cfbench,
    parse_followbench,
    parse_marks,
    round2,
)


@pytest.fixture(scope="module")
def cfbench(data_dir: Path) -> dict[int, dict]:
    rows = json.loads((data_dir / "cfbench" / "cfbench_data.json").read_text(encoding="utf-8"))
    return {r["idx"]: r for r in rows}


def _echo(row: dict, marks: list[int]) -> str:
    return "\n\n".join(f"{c[0]}\t{m}" for c, m in zip(row["criteria"], marks))


def _kinds(row: dict) -> list[str]:
    return [c[1] for c in row["criteria"]]


# ---- CFBench: reading the verdict ------------------------------------------------------------------------------

def test_exact_echo_is_read_as_upstream_reads_it(cfbench: dict[int, dict]) -> None:
    row = cfbench[0]  # 6 checkpoints: 主需 then five 次需
    text = _echo(row, [1, 0, 1, 1, 0, 1])
    checkpoints = [c[0] for c in row["criteria"]]
    assert cfbench_strict(text, checkpoints) == [1, 0, 1, 1, 0, 1]
    assert parse_cfbench(text, checkpoints) == ([1, 0, 1, 1, 0, 1], True)


def test_checkpoints_with_newlines_and_stray_spaces(cfbench: dict[int, dict]) -> None:
    """idx 23's third checkpoint holds newlines; idx 168's carry trailing spaces that a judge drops: the strict
    reader fails on the re-worded echo, the marks are still read in order from the line ends."""
    row = cfbench[23]
    checkpoints = [c[0] for c in row["criteria"]]
    assert any("\n" in c for c in checkpoints)
    assert parse_cfbench(_echo(row, [1] * len(checkpoints)), checkpoints) == ([1] * len(checkpoints), True)
    row = cfbench[168]
    checkpoints = [c[0] for c in row["criteria"]]
    marks = [1, 0, 1, 1, 1, 1, 0, 1]
    assert len(checkpoints) == 8 and checkpoints[3].endswith(" ")
    stripped = "\n\n".join(f"{c.strip()}\t{m}" for c, m in zip(checkpoints, marks))
    assert cfbench_strict(stripped, checkpoints) is None
    assert parse_cfbench(stripped, checkpoints) == (marks, False)


def test_loose_forms_read_in_order(cfbench: dict[int, dict]) -> None:
    checkpoints = [c[0] for c in cfbench[377]["criteria"]]  # three 次需
    numbered = "1. 新闻稿\t1\n2. 字数\t１\n3. 伦理\t0.0\n"  # numbered, full-width 1, 0.0, single newlines
    assert parse_cfbench(numbered, checkpoints) == ([1, 1, 0], False)
    assert parse_cfbench("```\n" + _echo(cfbench[377], [0, 1, 1]) + "\n```", checkpoints) == ([0, 1, 1], False)


def test_a_thinking_judges_draft_is_not_read(cfbench: dict[int, dict]) -> None:
    row = cfbench[377]
    draft = "<think>\n先逐条打分：\n" + _echo(row, [1, 1, 1]) + "\n再想想第三条。\n</think>\n\n"
    assert parse_marks("cfbench", draft + _echo(row, [1, 1, 0]), row) == ([1, 1, 0], True)
    assert parse_marks("followbench", "<think>['YES', 'YES']</think>\n分析……\n['YES', 'NO']", {"level": 2}) == ([1, 0], True)


@pytest.mark.parametrize("text", [
    "",  # nothing
    "全部满足",  # no marks
    "a\t1\n\nb\t0",  # two marks for three checkpoints
    "a\t1\n\nb\t0\n\nc\t1\n\nd\t1",  # four
    "a\t1\n\nb\t2\n\nc\t1",  # a 2 is not a mark: two marks found
    "a：1\n\nb：0\n\nc：1",  # no tab
])
def test_a_verdict_without_one_mark_per_checkpoint_is_unparsed(cfbench: dict[int, dict], text: str) -> None:
    assert parse_cfbench(text, [c[0] for c in cfbench[377]["criteria"]]) is None


# ---- CFBench: CSR / ISR / PSR ----------------------------------------------------------------------------------

def test_primary_and_secondary_mixed(cfbench: dict[int, dict]) -> None:
    """idx 0: one 主需, five 次需. PSR needs 0.5 + 0.5 * mean(次需) > 0.8, i.e. more than 60% of the 次需 met."""
    kinds = _kinds(cfbench[0])
    assert kinds == ["主需"] + ["次需"] * 5
    # 4 of 5 次需: 0.5 + 0.4 = 0.9 > 0.8; CSR 5/6 = 0.8333 -> 0.83
    assert cfbench_scores([1, 1, 1, 1, 1, 0], kinds) == {"csr": 0.83, "isr": 0.0, "psr": 1.0}
    # 3 of 5 次需: 0.5 + 0.3 = 0.8, not above it; CSR 4/6 -> 0.67
    assert cfbench_scores([1, 1, 1, 1, 0, 0], kinds) == {"csr": 0.67, "isr": 0.0, "psr": 0.0}
    # the 主需 missed: PSR 0 however many 次需 are met
    assert cfbench_scores([0, 1, 1, 1, 1, 1], kinds) == {"csr": 0.83, "isr": 0.0, "psr": 0.0}
    assert cfbench_scores([1] * 6, kinds) == {"csr": 1.0, "isr": 1.0, "psr": 1.0}


def test_two_primary_four_secondary(cfbench: dict[int, dict]) -> None:
    kinds = _kinds(cfbench[1])
    assert kinds == ["主需", "主需"] + ["次需"] * 4
    assert cfbench_scores([1, 1, 1, 1, 1, 0], kinds)["psr"] == 1.0  # 3/4 次需: 0.875
    assert cfbench_scores([1, 1, 1, 1, 0, 0], kinds)["psr"] == 0.0  # 2/4: 0.75
    assert cfbench_scores([1, 0, 1, 1, 1, 1], kinds)["psr"] == 0.0  # a 主需 missed


def test_all_secondary_and_all_primary(cfbench: dict[int, dict]) -> None:
    """All 次需 (idx 377): PSR = CSR > 0.8. All 主需 (idx 133): PSR = every one met."""
    assert _kinds(cfbench[377]) == ["次需"] * 3
    assert cfbench_scores([1, 1, 0], _kinds(cfbench[377])) == {"csr": 0.67, "isr": 0.0, "psr": 0.0}
    assert cfbench_scores([1, 1, 1], _kinds(cfbench[377])) == {"csr": 1.0, "isr": 1.0, "psr": 1.0}
    assert _kinds(cfbench[133]) == ["主需"] * 4
    assert cfbench_scores([1, 0, 1, 1], _kinds(cfbench[133])) == {"csr": 0.75, "isr": 0.0, "psr": 0.0}


def test_csr_is_rounded_half_to_even_as_numpy_does(cfbench: dict[int, dict]) -> None:
    """idx 5: eight checkpoints, 7 met: 0.875 -> 0.88 (numpy's round(x, 2): 87.5 rounds to the even 88)."""
    kinds = _kinds(cfbench[5])
    assert len(kinds) == 8
    assert cfbench_scores([1] * 7 + [0], kinds)["csr"] == 0.88
    assert round2(0.125) == 0.12 and round2(2 / 3) == 0.67


def test_unknown_checkpoint_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="neither"):
        cfbench_scores([1], ["必需"])


# ---- FollowBench ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,level,marks", [
    ("1) 添加的约束是……\n2) 满足。\n3) ['YES']", 1, [1]),
    ("……\n[\"NO\"]", 1, [0]),
    ("答案满足了约束：YES", 1, [1]),  # level 1: YES anywhere in the last line
    ("分析……\n['YES', 'NO', 'YES']", 3, [1, 0, 1]),
    ("分析……\n[YES, YES, NO]", 3, [1, 1, 0]),  # bare words are quoted first
    ("分析……\n[“YES”, “PARTIAL”, “YES”]", 3, [1, 0, 1]),  # curly quotes made straight; PARTIAL is not met
    ("```python\n['YES', 'YES', 'YES', 'YES', 'NO', 'YES']\n```", 5, [1, 1, 1, 1, 0]),  # extra elements ignored
    ("最后一行：['YES', 'MAYBE']  ", 2, [1, 0]),
])
def test_followbench_verdicts(text: str, level: int, marks: list[int]) -> None:
    assert parse_followbench(text, level) == marks


@pytest.mark.parametrize("text,level", [
    ("['YES', 'NO']\n以上是我的判断。", 2),  # the list is not on the last line
    ("['YES']", 2),  # too few elements
    ("['YES', 'OK']", 2),  # an element that is neither
    ("['YES', __import__('os').system('echo hacked')]", 2),  # not a literal: never evaluated
    ("[YES, NOT SURE]", 2),  # bare words that do not form a literal
    ("无法判断", 1),
])
def test_unreadable_followbench_verdicts(text: str, level: int, capfd: pytest.CaptureFixture[str]) -> None:
    assert parse_followbench(text, level) is None
    assert "hacked" not in capfd.readouterr().out


def test_hsr_and_ssr() -> None:
    assert followbench_scores([1, 0, 1]) == {"hsr": 0.0, "ssr": pytest.approx(2 / 3)}
    assert followbench_scores([1, 1]) == {"hsr": 1.0, "ssr": 1.0}
    assert followbench_scores([0]) == {"hsr": 0.0, "ssr": 0.0}  # a rule's one mark counts for both


# ---- CSL ----------------------------------------------------------------------------------------------------------

def _feed(tally: ChainTally, group: str, chain: int, hsr: list[float | None]) -> None:
    for level, v in enumerate(hsr, start=1):
        tally.add({"subset": group, "example_id": chain, "level": level}, {} if v is None else {"hsr": v})


def test_csl_counts_consecutive_levels_from_level_1() -> None:
    """content: chains 1 1 0 1 1 (CSL 2) and 1 1 1 1 1 (5) -> 3.5; style: 0 1 1 1 1 (0) -> 0; csl = (3.5 + 0) / 2.
    A chain with level 3 missing and one with an unread verdict are left out and counted."""
    t = ChainTally("example_id", "level", "subset", 5, "hsr")
    _feed(t, "content", 1, [1, 1, 0, 1, 1])
    _feed(t, "content", 2, [1, 1, 1, 1, 1])
    _feed(t, "style", 1, [0, 1, 1, 1, 1])  # the same example_id in another file is another chain
    _feed(t, "style", 2, [1, None, 1, 1, 1])  # unread at level 2
    for level in (1, 2, 4, 5):  # level 3 not drawn
        t.add({"subset": "style", "example_id": 3, "level": level}, {"hsr": 1.0})
    r = t.result()
    assert r["csl_by"] == {"content": {"csl": 3.5, "chains": 2}, "style": {"csl": 0.0, "chains": 1}}
    assert r["csl"] == pytest.approx(1.75)
    assert (r["csl_chains"], r["csl_chains_incomplete"], r["csl_chains_unread"]) == (3, 1, 1)


def test_csl_without_whole_chains_is_none() -> None:
    t = ChainTally("example_id", "level", "subset", 5, "hsr")
    t.add({"subset": "content", "example_id": 1, "level": 1}, {"hsr": 1.0})
    assert t.result()["csl"] is None and t.result()["csl_chains_incomplete"] == 1
