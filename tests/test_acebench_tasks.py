"""The ACEBench zh task files: items, subsets, the rows left out (counted, never scored), the prompts as ACEBench builds
them (model_inference/prompt_zh.py: the system prompt with the time or profile and the function list printed as Python
prints a list; the user prompt), and the task-format checks of the new fields (one line naming the field)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.tasks.spec import load_task_spec
from harness.tasks.task import Task, discover_tasks


@pytest.fixture(scope="module")
def loaded(data_dir: Path) -> dict[str, tuple[Task, list]]:
    out = {}
    for name in ("acebench_normal_zh", "acebench_special_zh"):
        task = Task.load(discover_tasks()[name])
        out[name] = (task, task.samples(data_dir))
    return out


def test_items_subsets_and_left_out_rows(loaded: dict) -> None:
    normal, items = loaded["acebench_normal_zh"]
    assert len(items) == 817 and len({s.meta["subset"] for s in items}) == 12
    assert normal.spec.category == "agents"
    assert {k: len(v) for k, v in normal.not_scored.items()} == {
        "agent_needs_acebench_simulated_environment": 20,
        "agent_needs_acebench_simulated_environment_and_user_simulator": 30}
    turns = [s for s in items if s.meta["subset"] == "normal_multi_turn_user_adjust"]
    assert len(turns) == 116 and len({s.meta["all_of"] for s in turns}) < 116  # turns grouped into dialogues
    assert turns[0].meta["all_of"] == "normal_multi_turn_user_adjust_0"
    assert all("all_of" not in s.meta for s in items if "multi_turn" not in s.meta["subset"])
    special, items = loaded["acebench_special_zh"]
    assert len(items) == 150 and {s.meta["subset"] for s in items} == {
        "special_incomplete", "special_error_param", "special_irrelevant"}
    assert special.not_scored == {}
    irrelevant = next(s for s in items if s.meta["subset"] == "special_irrelevant")
    assert json.loads(irrelevant.answers[0]) == "Due to the limitations of the function, I cannot solve this problem."


def _row(data_dir: Path, file: str, k: int = 0) -> dict:
    return json.loads((data_dir / "acebench" / "data_zh" / f"data_{file}.json").read_text(encoding="utf-8").splitlines()[k])


def test_prompts_as_acebench_builds_them(loaded: dict, data_dir: Path) -> None:
    task, items = loaded["acebench_normal_zh"]
    first = next(s for s in items if s.sample_id == "normal_atom_bool/normal_atom_bool_0")
    p = task.prompt(first, {}, 0, "generate")
    row = _row(data_dir, "normal_atom_bool")
    assert p.prompt == "对话历史1..t:\n" + row["question"]
    assert p.system.startswith("你是一个AI助手，你的角色名为assistant，请根据给定的API说明和对话历史1..t")
    assert f"不要捏造任何不存在的参数名。\n\n{row['time']}\n\n角色说明：\n" in p.system
    assert p.system.endswith("tool: 提供工具调用的返回结果\n\nAPI说明：\n" + str(row["function"]))
    pref = next(s for s in items if s.meta["subset"] == "normal_preference")
    p = task.prompt(pref, {}, 0, "generate")
    row = _row(data_dir, "normal_preference")
    assert "为角色assistant生成在步骤t+1中应该调用的API请求" in p.system and "人物画像：\n" + row["profile"] + "\n\n角色说明" in p.system
    assert p.system.endswith("API说明：\n" + str(row["function"]))
    task, items = loaded["acebench_special_zh"]
    s = next(s for s in items if s.sample_id == "special_incomplete/special_incomplete_0")
    p = task.prompt(s, {}, 0, "generate")
    row = _row(data_dir, "special_incomplete")
    assert p.system.startswith("你是一个AI系统，你的角色为assistant") and '["Missing necessary parameters (key1，key2...) for the api (ApiName)"]' in p.system
    assert p.system.endswith(f"{row['time']}\n\n角色说明：\nuser: 用户\nassistant: 进行API请求调用的AI助手角色\n\nAPI说明：\n" + str(row["function"]))
    assert p.prompt == "对话历史1..t:\n" + row["question"]


BASE = """name: t
version: 1
category: agents
description: d
source: s
license: l
dataset: {format: jsonl, eval: x.jsonl}
fields: {question: q, target: a}
prompt: "{{ doc.question }}"
mode: generate
modes: [generate]
"""


@pytest.mark.parametrize("extra, needle", [
    ("answer_type: tool_call\nmetrics: [acebench]\n", "field 'tool_call': needed by answer_type tool_call"),
    ("tool_call: {functions: f}\nmetrics: [accuracy]\nanswer_type: numeric\n", "field 'tool_call': needed by answer_type tool_call, and only by it"),
    ("answer_type: tool_call\ntool_call: {functions: f}\n", "answer_type tool_call is scored by acebench"),
    ("answer_type: numeric\nmetrics: [acebench]\n", "acebench scores answer_type tool_call only"),
    ("answer_type: tool_call\ntool_call: {functions: f, format: xml}\nmetrics: [acebench]\n", "field 'tool_call.format'"),
    ("answer_type: numeric\nall_of: {field: id, pattern: 'd_\\d+'}\n", "field 'all_of.pattern': needs a group"),
    ("answer_type: numeric\nall_of: {field: id, pattern: '(d'}\n", "field 'all_of.pattern'"),
])
def test_task_format_checks(tmp_path: Path, extra: str, needle: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(BASE + extra, encoding="utf-8")
    with pytest.raises(HarnessError) as e:
        load_task_spec(path)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_a_missing_not_scored_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.jsonl").write_text('{"q": "1+1", "a": "2", "id": "0"}\n', encoding="utf-8")
    path = tmp_path / "t.yaml"
    path.write_text(BASE.replace("eval: x.jsonl}", "eval: x.jsonl, not_scored: [{path: gone.jsonl, reason: needs_x}]}")
                    + "answer_type: numeric\nmetrics: [accuracy]\n", encoding="utf-8")
    with pytest.raises(HarnessError, match="dataset.not_scored: .*gone.jsonl not found"):
        Task.load(path).plan(tmp_path / "data")
