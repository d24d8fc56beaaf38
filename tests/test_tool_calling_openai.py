"""Tool calling through an OpenAI-compatible server (the fake server of test_openai_backend.py): tools go in the
request with the messages, the reply's `tool_calls` come back apart from the text (whole, or streamed in pieces), and a
task that hands its functions to the model as tools (tool_call.tools: template) is scored on those calls end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_openai_backend import FakeServer, backend

from harness.scoring.tool_calls import ToolCall, from_openai
from harness.types import GenerateRequest

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "天气",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


def _chat_reply(calls: list[dict[str, Any]], content: str | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    message = {"role": "assistant", "content": content, "tool_calls": calls}
    return 200, {"id": "x", "object": "chat.completion", "model": "tiny",
                 "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
                 "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}}, {}


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


def test_tools_are_sent_and_tool_calls_read(server: FakeServer) -> None:
    server.forced.append(_chat_reply([{"id": "c1", "type": "function", "function": {
        "name": "get_weather", "arguments": '{"city": "北京"}'}}]))
    req = GenerateRequest(prompt="", messages=(("user", "北京天气？"),), tools=json.dumps(TOOLS, ensure_ascii=False))
    (_, res), = list(backend(server, stream=False).generate([req]))
    (body,) = server.posts("/v1/chat/completions")
    assert body["tools"] == TOOLS
    assert res.text == "" and from_openai(res.tool_calls or []) == [ToolCall("get_weather", {"city": "北京"})]


def test_streamed_tool_calls_are_joined(server: FakeServer) -> None:
    def event(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    server.raw_stream = [
        event({"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
        event({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "北'}}]}),
        event({"tool_calls": [{"index": 0, "function": {"arguments": '京", "days": 3}'}}]}),
        event({"tool_calls": [{"index": 1, "id": "c2", "type": "function", "function": {
            "name": "Alert_System", "arguments": '{"entry_id": "log003", "suspicion_level": 8}'}}]}, "tool_calls"),
        {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 20, "total_tokens": 29}},
        b"data: [DONE]\n\n",
    ]
    req = GenerateRequest(prompt="", messages=(("user", "北京天气？"),), tools=json.dumps(TOOLS))
    (_, res), = list(backend(server, stream=True).generate([req]))
    assert from_openai(res.tool_calls or []) == [ToolCall("get_weather", {"city": "北京", "days": 3}),
                                                 ToolCall("Alert_System", {"entry_id": "log003", "suspicion_level": 8})]
    assert res.cost.generated_tokens == 20 and res.cost.ttft_s is not None


def test_a_request_without_tools_sends_none(server: FakeServer) -> None:
    list(backend(server, stream=False).generate([GenerateRequest(prompt="", messages=(("user", "你好"),))]))
    assert "tools" not in server.posts("/v1/chat/completions")[0]


def test_native_tools_task_end_to_end(server: FakeServer, data_dir: Path, tmp_path: Path) -> None:
    """ACEBench's normal_atom_bool items with the functions handed to the server as tools (not in the prompt) and
    the calls read from the reply's tool_calls: the server answers every item with CapitalWeatherChecker(country=
    日本), right for normal_atom_bool_1 only, so the first two items score 1 of 2."""
    from harness.cli import main
    from harness.results.files import read_samples

    data = tmp_path / "data" / "acebench" / "data_zh"
    (data / "possible_answer").mkdir(parents=True)
    for sub in ("", "possible_answer/"):
        src = (data_dir / "acebench" / "data_zh" / f"{sub}data_normal_atom_bool.json").read_text(encoding="utf-8")
        (data / f"{sub}data_normal_atom_bool.json").write_text("\n".join(src.splitlines()[:2]) + "\n", encoding="utf-8")
    task = tmp_path / "tasks" / "acebench_native.yaml"
    task.parent.mkdir()
    task.write_text(
        "name: acebench_native\nversion: 1\ncategory: agents\ndescription: ACEBench atom_bool with native tools\n"
        "source: test\nlicense: MIT\n"
        "dataset:\n  format: jsonl\n  eval: acebench/data_zh/data_{subset}.json\n"
        '  join: {path: "acebench/data_zh/possible_answer/data_{subset}.json", key: id, fields: [ground_truth]}\n'
        "subsets: {normal_atom_bool: {}}\nfields: {id: id, question: question, target: ground_truth}\n"
        "answer_type: tool_call\ntool_call: {functions: function, tools: template, format: qwen}\n"
        "system: 请调用合适的工具。\nprompt: '{{ doc.question }}'\nmode: generate\nmodes: [generate]\n"
        "generation: {max_new_tokens: 64, stop: []}\nmetrics: [acebench]\ngroup_by: [subset]\naggregate: macro\n",
        encoding="utf-8")
    server.raw_stream = [  # every request is answered with this stream
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": "c1", "type": "function", "function": {"name": "CapitalWeatherChecker",
                                                                      "arguments": '{"country": "日本"}'}}]},
                      "finish_reason": "tool_calls"}]},
        b"data: [DONE]\n\n",
    ]
    out = tmp_path / "out"
    assert main(["eval", "--backend", "openai", "--base-url", server.url, "--model", "tiny", "--tasks", str(task),
                 "--data-dir", str(tmp_path / "data"), "--output-dir", str(out), "--no-progress"]) == 0
    (results_file,) = out.rglob("*.json")
    results = json.loads(results_file.read_text(encoding="utf-8"))
    samples = read_samples(results_file.parent / results["samples_file"])
    assert {s["sample_id"]: s["correct"] for s in samples} == {  # samples are written as they complete
        "normal_atom_bool/normal_atom_bool_0": False, "normal_atom_bool/normal_atom_bool_1": True}
    assert results["tasks"]["acebench_native"]["score"] == pytest.approx(50.0)
    rows = [json.loads(x) for x in src_lines(data_dir)]
    for body in server.posts("/v1/chat/completions"):
        assert body["messages"][0] == {"role": "system", "content": "请调用合适的工具。"}
        names = [t["function"]["name"] for t in body["tools"]]
        assert names in ([f["name"] for f in r["function"]] for r in rows)  # the item's own functions, as tools
        assert "antique_value_assessment" not in body["messages"][1]["content"]  # not in the prompt


def src_lines(data_dir: Path) -> list[str]:
    return (data_dir / "acebench" / "data_zh" / "data_normal_atom_bool.json").read_text(encoding="utf-8").splitlines()[:2]
