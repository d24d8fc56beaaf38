"""ACEBench's checker (harness/scoring/acebench.py) on real ACEBench zh items and their possible answers, each verdict
worked out by hand from ACEBench's rules (model_eval/checker.py, eval_main.py @ e6db74b7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.scoring.acebench import check_normal, check_special, normalise
from harness.scoring.metrics import Tally


def _item(data_dir: Path, file: str, item_id: str) -> tuple[dict[str, Any], Any]:
    base = data_dir / "acebench" / "data_zh"
    row = next(r for r in map(json.loads, (base / f"data_{file}.json").read_text(encoding="utf-8").splitlines())
               if r["id"] == item_id)
    gold = next(r for r in map(json.loads, (base / "possible_answer" / f"data_{file}.json").read_text(encoding="utf-8")
                                .splitlines()) if r["id"] == item_id)
    return row, gold["ground_truth"]


URL = "http://example.com/antique.jpg"


@pytest.mark.parametrize("answer, right, strict_right", [
    # the possible answer, written as calls: right
    (f"[antique_value_assessment(photo_url='{URL}', detailed_report=True)]", True, True),
    # spaces anywhere are removed before parsing, as ACEBench does (a value's own spaces too)
    (" [ antique_value_assessment( photo_url = 'http://example.com/ antique.jpg' ,detailed_report=True ) ]\n", True, True),
    # the required photo_url missing
    ("[antique_value_assessment(detailed_report=True)]", False, False),
    # a parameter the answer does not have (and the function neither)
    (f"[antique_value_assessment(photo_url='{URL}', detailed_report=True, language='zh')]", False, False),
    # a wrong string value: the expected URL is not contained in it
    ("[antique_value_assessment(photo_url='http://example.com/vase.jpg', detailed_report=True)]", False, False),
    # a wrong type: a string where a boolean is declared (and expected)
    (f"[antique_value_assessment(photo_url='{URL}', detailed_report='yes')]", False, False),
    # "true" as text reads as the boolean, as ACEBench's type check converts it
    (f"[antique_value_assessment(photo_url='{URL}', detailed_report='true')]", True, True),
    # ACEBench never compares a top-level boolean with the expected one: False passes; strict does not let it
    (f"[antique_value_assessment(photo_url='{URL}', detailed_report=False)]", True, False),
    # the optional detailed_report left out: ACEBench checks only required ones; strict wants every expected one
    (f"[antique_value_assessment(photo_url='{URL}')]", True, False),
    # the expected text contained in a longer value: ACEBench's string check is containment
    (f"[antique_value_assessment(photo_url='{URL}?x=1', detailed_report=True)]", True, True),
    # another function, prose, not a list
    ("[CapitalWeatherChecker(country='日本')]", False, False),
    (f"好的，[antique_value_assessment(photo_url='{URL}', detailed_report=True)]", False, False),
    (f"antique_value_assessment(photo_url='{URL}', detailed_report=True)", False, False),
    ("[]", False, False),
])
def test_atom_bool_0(data_dir: Path, answer: str, right: bool, strict_right: bool) -> None:
    row, gold = _item(data_dir, "normal_atom_bool", "normal_atom_bool_0")
    assert gold == {"antique_value_assessment": {"photo_url": URL, "detailed_report": True}}
    assert check_normal(answer, row["function"], gold)[0] is right
    assert check_normal(answer, row["function"], gold, strict=True)[0] is strict_right


def test_atom_number_46_numbers_are_not_compared(data_dir: Path) -> None:
    """GetHousingPriceStatistics(city='成都', month=7): ACEBench accepts month=8 (an int where an int is expected is
    never compared), rejects month='7' (a string where an integer is declared and expected)."""
    row, gold = _item(data_dir, "normal_atom_number", "normal_atom_number_46")
    assert gold == {"GetHousingPriceStatistics": {"city": "成都", "month": 7}}
    fns = row["function"]
    assert check_normal("[GetHousingPriceStatistics(city='成都', month=7)]", fns, gold) == (True, "")
    assert check_normal("[GetHousingPriceStatistics(city='成都', month=8)]", fns, gold)[0]
    assert not check_normal("[GetHousingPriceStatistics(city='成都', month=8)]", fns, gold, strict=True)[0]
    assert not check_normal("[GetHousingPriceStatistics(city='成都', month='7')]", fns, gold)[0]
    assert not check_normal("[GetHousingPriceStatistics(city='北京', month=7)]", fns, gold)[0]


def test_atom_object_short_0_object_leaves_compare_as_contained_text(data_dir: Path) -> None:
    """mental_state={'stress_levels': 5}: inside an object every leaf is compared as text containment, so 15
    passes ("5" in "15") and 6 does not; a missing or extra key fails."""
    row, gold = _item(data_dir, "normal_atom_object_short", "normal_atom_object_short_0")
    assert gold == {"Spiritual_Readiness_Assessor": {"mental_state": {"stress_levels": 5}}}
    fns = row["function"]
    ok = lambda text: check_normal(text, fns, gold)[0]  # noqa: E731
    assert ok("[Spiritual_Readiness_Assessor(mental_state={'stress_levels': 5})]")
    assert ok("[Spiritual_Readiness_Assessor(mental_state={'stress_levels': 15})]")
    assert not ok("[Spiritual_Readiness_Assessor(mental_state={'stress_levels': 6})]")
    assert not ok("[Spiritual_Readiness_Assessor(mental_state={})]")
    assert not ok("[Spiritual_Readiness_Assessor(mental_state={'stress_levels': 5, 'mood': 'calm'})]")
    assert not ok("[Spiritual_Readiness_Assessor(mental_state='stress 5')]")


def test_parallel_function_0_four_calls_of_one_function(data_dir: Path) -> None:
    """Four route_optimization_tool calls (keys _1.._4 in the possible answer): any order; each expected call needs
    a call of that name that matches it; a dropped call or signals moved between calls fail."""
    row, gold = _item(data_dir, "normal_single_turn_parallel_function", "normal_single_turn_parallel_function_0")
    assert list(gold) == [f"route_optimization_tool_{i}" for i in (1, 2, 3, 4)]
    calls = [f"route_optimization_tool(starting_point={v['starting_point']!r}, destination={v['destination']!r}, "
             f"traffic_signals={v['traffic_signals']!r})" for v in gold.values()]
    fns = row["function"]
    assert check_normal("[" + ", ".join(calls) + "]", fns, gold)[0]
    assert check_normal("[" + ", ".join(reversed(calls)) + "]", fns, gold)[0]
    assert not check_normal("[" + ", ".join(calls[:3]) + "]", fns, gold)[0]
    assert not check_normal("[" + ", ".join(calls[:3] + calls[:1]) + "]", fns, gold)[0]  # call 4 missing, call 1 twice
    swapped = [c.replace("'S1'", "'S9'") for c in calls]  # a signal id that is in no expected call
    assert not check_normal("[" + ", ".join(swapped) + "]", fns, gold)[0]


def test_multi_turn_row_is_checked_alone(data_dir: Path) -> None:
    row, gold = _item(data_dir, "normal_multi_turn_user_adjust", "normal_multi_turn_user_adjust_0_1")
    assert gold == {"Alert_System": {"entry_id": "log003", "suspicion_level": 8}}
    assert check_normal("[Alert_System(entry_id='log003', suspicion_level=8)]", row["function"], gold)[0]
    assert not check_normal("[Alert_System(entry_id='log002', suspicion_level=8)]", row["function"], gold)[0]


def test_a_dialogue_is_right_only_if_every_turn_is() -> None:
    """The all_of rule in the tally: dialogue d0 right in both turns, d1 right in one of two, plus a single-turn
    item that is right: the subset of dialogues scores 1/2 (not the 3/4 of its turns), the other 1/1; macro 75."""
    t = Tally(["subset"])
    for unit, value in (("d0", 1.0), ("d1", 1.0), ("d0", 1.0), ("d1", 0.0)):
        t.add({"subset": "multi_turn", "all_of": unit}, value)
    t.add({"subset": "atom"}, 1.0)
    out = t.result("macro")
    assert out["groups"]["subset"]["multi_turn"]["score"] == pytest.approx(50.0)
    assert out["groups"]["subset"]["multi_turn"]["n"] == 2
    assert out["score"] == pytest.approx(75.0)
    again = t.result("macro")  # reading the result twice gives the same numbers
    assert again["score"] == out["score"] and again["groups"]["subset"]["multi_turn"]["n"] == 2


@pytest.mark.parametrize("file, item, answer, right", [
    ("special_incomplete", "special_incomplete_0",
     '["Missing necessary parameters (schedule, participants) for the api (auctionEventPlanner)"]', True),
    ("special_incomplete", "special_incomplete_0",
     '["Missing necessary parameters (schedule) for the api (auctionEventPlanner)"]', False),  # participants not named
    ("special_incomplete", "special_incomplete_0", "请提供活动的时间安排和参与者信息。", False),
    ("special_error_param", "special_error_param_0",
     '["There is incorrect value (10点到16点) for the parameters (time_range) in the conversation history."]', True),
    ("special_error_param", "special_error_param_0",
     '["There is incorrect value for the parameters (time_range) in the conversation history."]', False),
    ("special_error_param", "special_error_param_0",
     "[BBQ_Weather_Forecast(latitude=35.6792, longitude=139.7316, time_range='10:00-16:00')]", False),
    ("special_irrelevant", "special_irrelevant_0",
     '["Due to the limitations of the function, I cannot solve this problem."]', True),
    ("special_irrelevant", "special_irrelevant_0", "抱歉，现有函数无法完成这个请求。", False),
])
def test_special_items(data_dir: Path, file: str, item: str, answer: str, right: bool) -> None:
    _, gold = _item(data_dir, file, item)
    assert check_special(answer, file, gold)[0] is right


def test_normalise_is_acebench_standardize_string() -> None:
    assert normalise("New-York_City, N.Y./*^'x'") == 'newyorkcityny"x"'


def test_where_acebench_would_stop_the_answer_is_wrong_with_its_reason() -> None:
    """ACEBench's checker raises (and its whole evaluation stops) on an objectArray parameter or a function without
    `parameters`; here only that answer is wrong, and it says why."""
    fn = {"name": "f", "description": "", "parameters": {"type": "object", "required": [], "properties": {
        "items": {"type": "objectArray", "items": {"type": "object"}}}}}
    right, why = check_normal("[f(items=[{'a': 1}])]", [fn], {"f": {"items": [{"a": 1}]}})
    assert not right and "objectArray" in why
    right, why = check_normal("[g(x=1)]", [{"name": "g", "description": "", "arguments": {}}], {"g": {"x": 1}})
    assert not right and "no parameter description" in why
    right, why = check_normal("[g(x=1)]", [], "not calls")
    assert not right and "possible answer" in why
