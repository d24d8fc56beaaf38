"""ACEBench zh end to end: `harness eval` of acebench_normal_zh and acebench_special_zh on a slice of the real files,
answered by tiny Qwen3 models whose greedy answer is fixed text (tests/scripted_model.py), so every verdict and every
score is known by hand; the scores are recomputed from the samples file with the rules written out here (a file's
accuracy; a multi_turn dialogue right only if every turn is; the task score the mean of the files)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

NORMAL = tuple(f"normal_{n}" for n in (
    "atom_bool", "atom_enum", "atom_number", "atom_list", "atom_object_deep", "atom_object_short",
    "single_turn_single_function", "single_turn_parallel_function", "multi_turn_user_adjust", "multi_turn_user_switch",
    "similar_api", "preference"))
SPECIAL = ("special_incomplete", "special_error_param", "special_irrelevant")


def _slice(src: Path, dst: Path) -> Path:
    """The first two rows of every normal and special file (and their possible answers), dialogues 0 and 1 of
    multi_turn_user_adjust (5 rows), and the agent files whole (they are only counted)."""
    base, out = src / "acebench" / "data_zh", dst / "acebench" / "data_zh"
    (out / "possible_answer").mkdir(parents=True)
    files = [*NORMAL, *SPECIAL, "agent_multi_step", "agent_multi_turn"]
    for name in files:
        for sub in ("", "possible_answer/"):
            lines = (base / f"{sub}data_{name}.json").read_text(encoding="utf-8").splitlines()
            if name == "normal_multi_turn_user_adjust":
                lines = [l for l in lines if re.search(r'"id": "normal_multi_turn_user_adjust_[01]_\d+"', l)]
            elif not name.startswith("agent"):
                lines = lines[:2]
            (out / f"{sub}data_{name}.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dst


@pytest.fixture(scope="module")
def acebench_slice(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _slice(data_dir, tmp_path_factory.mktemp("acebench-data"))


@pytest.fixture(scope="module")
def long_qwen3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen3 with the real tokenizer and room for ACEBench's long prompts (function lists of several
    thousand tokens), so no item is left out for its length."""
    from conftest import shared_tokenizer

    from harness.models.tiny import build_tiny_model

    return build_tiny_model("qwen3", tmp_path_factory.mktemp("long-qwen3") / "qwen3", tokenizer_dir=shared_tokenizer("qwen3"),
                            max_position_embeddings=32768)


def _eval(model: Path, tasks: str, data: Path, out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from harness.cli import main
    from harness.results.files import read_samples

    assert main(["eval", "--model", str(model), "--tasks", tasks, "--data-dir", str(data), "--thinking", "off",
                 "--chat-template", "on",
                 "--max-new-tokens", "32", "--output-dir", str(out), "--no-progress"]) == 0
    from harness.results.schema import validate_results, validate_sample

    (results_file,) = list(out.rglob("*.json"))
    results = json.loads(results_file.read_text(encoding="utf-8"))
    samples = read_samples(results_file.parent / results["samples_file"])
    validate_results(results)  # the typed results schema holds the new fields (context.excluded, tool calls)
    for s in samples:
        validate_sample(s)
    return results, samples


def _by_hand(samples: list[dict[str, Any]], task: str, subsets: tuple[str, ...], metric: str = "acebench") -> float:
    """The task score from the samples: per file the share of right items, where a multi_turn dialogue (ids
    ..._<dialogue>_<turn>) is one item, right when all its turns are; then the mean over the files."""
    scores = []
    for subset in subsets:
        mine = [s for s in samples if s["task"] == task and s["sample_id"].split("/")[0] == subset]
        units: dict[str, list[bool]] = {}
        for s in mine:
            m = re.match(r"^.*/(normal_multi_turn_\w+?_\d+)_\d+$", s["sample_id"])
            units.setdefault(m.group(1) if m else s["sample_id"], []).append(s["metrics"][metric] == 1.0)
        scores.append(sum(all(v) for v in units.values()) / len(units))
    return 100 * sum(scores) / len(scores)


@pytest.mark.slow
def test_acebench_scripted(long_qwen3: Path, acebench_slice: Path, tmp_path: Path) -> None:
    from scripted_model import build_scripted_model

    # normal_atom_bool_1's possible answer, written as a call: right there and nowhere else in the slice
    says_japan = build_scripted_model(long_qwen3, tmp_path / "japan", "[CapitalWeatherChecker(country='日本')]")
    results, samples = _eval(says_japan, "acebench_normal_zh,acebench_special_zh", acebench_slice, tmp_path / "r1")
    normal, special = results["tasks"]["acebench_normal_zh"], results["tasks"]["acebench_special_zh"]
    assert normal["category"] == special["category"] == "agents"
    assert normal["n_samples"] == 11 * 2 + 5 and special["n_samples"] == 6
    right = [s["sample_id"] for s in samples if s["correct"]]
    assert right == ["normal_atom_bool/normal_atom_bool_1"]
    assert all(s["output"] == "[CapitalWeatherChecker(country='日本')]" for s in samples)
    # ACEBench's system prompt as the system message of Qwen3's chat template, its user prompt as the user turn
    assert all(s["prompt"].startswith("<|im_start|>system\n你是一个AI") for s in samples)
    assert all("<|im_start|>user\n对话历史1..t:\n" in s["prompt"] for s in samples)
    one = next(s for s in samples if s["sample_id"] == "normal_atom_bool/normal_atom_bool_1")
    assert json.loads(one["prediction"]) == [{"CapitalWeatherChecker": {"country": "日本"}}]
    assert json.loads(one["target"]) == {"CapitalWeatherChecker": {"country": "日本"}}
    assert normal["score"] == pytest.approx(100 * (1 / 2) / 12)  # one file at 1/2, eleven at 0
    assert normal["score"] == pytest.approx(_by_hand(samples, "acebench_normal_zh", NORMAL))
    assert normal["metrics"]["acebench_strict"] == pytest.approx(_by_hand(samples, "acebench_normal_zh", NORMAL, "acebench_strict"))
    assert normal["aggregate"]["groups"]["subset"]["normal_multi_turn_user_adjust"]["n"] == 2  # dialogues, not turns
    assert special["score"] == 0.0
    excluded = normal["context"]["excluded"]
    assert excluded["agent_needs_acebench_simulated_environment"]["count"] == 20
    assert excluded["agent_needs_acebench_simulated_environment_and_user_simulator"]["count"] == 30
    assert excluded["agent_needs_acebench_simulated_environment"]["ids"][0] == "agent_multi_step_0"

    # normal_multi_turn_user_adjust_1_1's answer: that turn is right, its dialogue's other two turns are not, so the
    # dialogue (and the file) scores 0 where counting turns would give 1 of 5
    says_device = build_scripted_model(long_qwen3, tmp_path / "device", "[Device_Status_Tool(device_id='12345')]")
    results, samples = _eval(says_device, "acebench_normal_zh", acebench_slice, tmp_path / "r2")
    assert [s["sample_id"] for s in samples if s["correct"]] == ["normal_multi_turn_user_adjust/normal_multi_turn_user_adjust_1_1"]
    assert results["tasks"]["acebench_normal_zh"]["score"] == 0.0 == _by_hand(samples, "acebench_normal_zh", NORMAL)

    # ACEBench's refusal for requests beyond the functions: right for the two irrelevant items only
    says_limits = build_scripted_model(long_qwen3, tmp_path / "limits", "[the limitations of the function]")
    results, samples = _eval(says_limits, "acebench_special_zh", acebench_slice, tmp_path / "r3")
    assert sorted(s["sample_id"] for s in samples if s["correct"]) == [
        "special_irrelevant/special_irrelevant_0", "special_irrelevant/special_irrelevant_1"]
    assert results["tasks"]["acebench_special_zh"]["score"] == pytest.approx(100 / 3)
    assert results["tasks"]["acebench_special_zh"]["score"] == pytest.approx(_by_hand(samples, "acebench_special_zh", SPECIAL))


@pytest.mark.slow
def test_tools_reach_the_chat_template_in_a_run(long_qwen3: Path, acebench_slice: Path, tmp_path: Path) -> None:
    """tool_call.tools: template on the transformers backend: each item's functions go to Qwen3's chat template as
    tools=, so the prompt the model saw (the samples line) lists them in <tools>, after the task's system message, and
    the user turn does not; the answer is read in Qwen's <tool_call> format (this random model writes none: unread)."""
    task = tmp_path / "acebench_tools.yaml"
    task.write_text(
        "name: acebench_tools\nversion: 1\ncategory: agents\ndescription: tools through the chat template\n"
        "source: test\nlicense: MIT\n"
        "dataset:\n  format: jsonl\n  eval: acebench/data_zh/data_{subset}.json\n"
        '  join: {path: "acebench/data_zh/possible_answer/data_{subset}.json", key: id, fields: [ground_truth]}\n'
        "subsets: {normal_atom_bool: {}}\nfields: {id: id, question: question, target: ground_truth}\n"
        "answer_type: tool_call\ntool_call: {functions: function, tools: template, format: qwen}\n"
        "system: 请调用合适的工具。\nprompt: '{{ doc.question }}'\nmode: generate\nmodes: [generate]\n"
        "generation: {max_new_tokens: 4, stop: []}\nmetrics: [acebench]\ngroup_by: [subset]\naggregate: macro\n",
        encoding="utf-8")
    from harness.cli import main
    from harness.results.files import read_samples

    out = tmp_path / "out"
    assert main(["eval", "--model", str(long_qwen3), "--tasks", str(task), "--data-dir", str(acebench_slice),
                 "--thinking", "off", "--chat-template", "on", "--output-dir", str(out), "--no-progress"]) == 0
    (results_file,) = list(out.rglob("*.json"))
    results = json.loads(results_file.read_text(encoding="utf-8"))
    samples = read_samples(results_file.parent / results["samples_file"])
    rows = [json.loads(x) for x in (acebench_slice / "acebench" / "data_zh" / "data_normal_atom_bool.json")
            .read_text(encoding="utf-8").splitlines()]
    assert len(samples) == 2
    for s in samples:
        row = next(r for r in rows if s["sample_id"].endswith("/" + r["id"]))
        prompt = s["prompt"]
        assert prompt.index("请调用合适的工具。") < prompt.index("<tools>") < prompt.index(row["question"].strip())
        for f in row["function"]:
            assert f'"name": "{f["name"]}"' in prompt  # every function of the row, as a tool
        assert s["prediction"] is None and s["metrics"]["acebench"] == 0.0
    assert results["tasks"]["acebench_tools"]["metrics"]["unextracted"] == 2
