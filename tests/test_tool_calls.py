"""Tool calls read back from answers in each family's format (harness/scoring/tool_calls.py), with the formats taken
from the real chat templates where the template writes them (Qwen3, DeepSeek-V3), and tools passed to a real chat
template (Qwen3 renders them; DeepSeek-V3's template has no place for them and says so)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.scoring.tool_calls import (
    ToolCall,
    ToolCallFormatError,
    from_openai,
    openai_tools,
    parse_bracket,
    parse_deepseek,
    parse_glm,
    parse_qwen,
    parse_tool_calls,
)

WEATHER = ToolCall("get_weather", {"city": "北京", "days": 3})
ALERT = ToolCall("Alert_System", {"entry_id": "log003", "suspicion_level": 8})


# ---- bracket: ACEBench's [Api(k=v)] ---------------------------------------------------------------------------

def test_bracket_calls_with_every_literal_kind() -> None:
    text = ("[route_tool(start={'lat': 30.64242, 'lon': 104.04311}, signals=[{'id': 'S1', 'wait': 30}], avoid=True, "
            "note=None), Alert_System(entry_id='log003', suspicion_level=8)]")
    calls = parse_bracket(text)
    assert calls == [ToolCall("route_tool", {"start": {"lat": 30.64242, "lon": 104.04311},
                                             "signals": [{"id": "S1", "wait": 30}], "avoid": True, "note": None}), ALERT]
    assert calls[1].as_dict() == {"Alert_System": {"entry_id": "log003", "suspicion_level": 8}}


def test_bracket_reads_names_tuples_negatives_and_dotted_calls_as_acebench_does() -> None:
    assert parse_bracket("[a.b.c(x=true, y=(1, 2), z=-3.5, w=2*3)]") == [
        ToolCall("a.b.c", {"x": "true", "y": (1, 2), "z": -3.5, "w": 6})]
    assert parse_bracket("[Api()]") == [ToolCall("Api", {})]
    assert parse_bracket("[]") == []
    # ACEBench negates the operand of any unary operator: +5 reads as -5 (kept, so scores equal ACEBench's)
    assert parse_bracket("[f(n=+5)]") == [ToolCall("f", {"n": -5})]
    assert parse_bracket("A(k=1),B()") == [ToolCall("A", {"k": 1}), ToolCall("B", {})]  # a tuple of calls: a list


@pytest.mark.parametrize("text", [
    "Api(k=1)",  # not a list
    "好的：[Api(k=1)]",  # prose around it
    "[Api(k=1), 'text']",  # an element that is not a call
    "[Api(k=lambda: 1)]",
    "[Api(k=2**10**10)]",  # would take forever to compute: refused, never evaluated
    "[Api(k='a' * 100000000)]",
    "[Api(k=f'{x}')]",
    "[Api(k=1)",
])
def test_bracket_refuses_what_is_not_a_literal_list_of_calls(text: str) -> None:
    with pytest.raises(ToolCallFormatError):
        parse_bracket(text)


def test_bracket_never_runs_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = f"[Api(k=__import__('pathlib').Path({str(marker)!r}).touch())]"
    calls = parse_bracket(text)
    assert not marker.exists()
    assert calls[0].name == "Api" and calls[0].arguments == {"k": {"touch": {}}}


# ---- the families' native formats ------------------------------------------------------------------------------

def test_qwen_tool_call_blocks() -> None:
    text = ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "北京", "days": 3}}\n</tool_call>\n'
            '<tool_call>\n{"name": "Alert_System", "arguments": "{\\"entry_id\\": \\"log003\\", \\"suspicion_level\\": 8}"}\n</tool_call>')
    assert parse_qwen(text) == [WEATHER, ALERT]
    with pytest.raises(ToolCallFormatError):
        parse_qwen("北京明天晴。")
    with pytest.raises(ToolCallFormatError):
        parse_qwen("<tool_call>\n{name: get_weather}\n</tool_call>")


def test_deepseek_v3_and_v31_call_tokens() -> None:
    v3 = ("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
          '{"city": "北京", "days": 3}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>Alert_System\n'
          '```json\n{"entry_id": "log003", "suspicion_level": 8}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>')
    assert parse_deepseek(v3) == [WEATHER, ALERT]
    v31 = ('<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "北京", "days": 3}'
           '<｜tool▁call▁end｜><｜tool▁calls▁end｜>')
    assert parse_deepseek(v31) == [WEATHER]
    with pytest.raises(ToolCallFormatError):
        parse_deepseek('{"city": "北京"}')


def test_glm_formats() -> None:
    glm45 = ("<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>北京</arg_value>\n"
             "<arg_key>days</arg_key>\n<arg_value>3</arg_value>\n</tool_call>")
    assert parse_glm(glm45) == [WEATHER]  # a value that reads as JSON is JSON (3), else text (北京)
    assert parse_glm('get_weather\n{"city": "北京", "days": 3}') == [WEATHER]  # GLM-4
    with pytest.raises(ToolCallFormatError):
        parse_glm("北京明天晴。")


def test_openai_tool_calls() -> None:
    reply = [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "北京", "days": 3}'}},
             {"type": "function", "function": {"name": "Alert_System", "arguments": {"entry_id": "log003", "suspicion_level": 8}}}]
    assert from_openai(reply) == [WEATHER, ALERT]
    assert from_openai([{"type": "function", "function": {"name": "ping", "arguments": ""}}]) == [ToolCall("ping", {})]
    with pytest.raises(ToolCallFormatError):
        from_openai([{"type": "function", "function": {"name": "f", "arguments": "{not json"}}])
    with pytest.raises(ValueError):
        parse_tool_calls("x", "yaml")


def _assistant_part(rendered: str, marker: str) -> str:
    return rendered[rendered.rindex(marker) + len(marker):]


def test_calls_as_the_real_qwen3_and_deepseek_v3_templates_write_them(real_tokenizers: dict[str, Path]) -> None:
    """The chat templates write an assistant's tool calls; what they write parses back to the same calls."""
    from harness.models.chat import load_tokenizer

    calls = [WEATHER, ALERT]
    qwen = load_tokenizer(str(real_tokenizers["qwen3"]), None, False)
    msgs = [{"role": "user", "content": "北京天气？"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls]}]
    text = qwen.apply_chat_template(msgs, tokenize=False)
    assert parse_qwen(_assistant_part(text, "<|im_start|>assistant\n")) == calls
    ds = load_tokenizer(str(real_tokenizers["deepseek_v3"]), None, False)
    msgs[1] = {"role": "assistant", "content": None, "tool_calls": [
        {"type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments, ensure_ascii=False)}}
        for c in calls]}
    text = ds.apply_chat_template(msgs, tokenize=False)
    assert "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather" in text
    assert parse_deepseek(text) == calls


ACEBENCH_FUNCTION = {"name": "antique_value_assessment", "description": "提供一个在线服务来评估古董的大致价值和历史时期。",
                     "parameters": {"type": "object", "properties": {
                         "photo_url": {"type": "string", "description": "古董照片的URL，用于在线评估。"},
                         "detailed_report": {"type": "boolean", "description": "是否需要详细的评估报告。"}},
                         "required": ["photo_url"]}}


def test_qwen3_template_receives_tools(real_tokenizers: dict[str, Path]) -> None:
    """tools= reaches Qwen3's chat template: the rendered prompt lists the tool's schema in <tools>, and without
    tools it does not."""
    from harness.models.chat import ChatFormatter, load_tokenizer

    chat = ChatFormatter(load_tokenizer(str(real_tokenizers["qwen3"]), None, False), None, "qwen3")
    tools = json.dumps(openai_tools([ACEBENCH_FUNCTION]), ensure_ascii=False)
    turns = [("system", "你是一个AI助手。"), ("user", "帮我评估这件古董：http://example.com/antique.jpg")]
    with_tools = chat(turns, tools=tools)
    assert "<tools>" in with_tools and '"name": "antique_value_assessment"' in with_tools
    assert '"required": ["photo_url"]' in with_tools and "<tool_call>" in with_tools
    assert with_tools.index("你是一个AI助手。") < with_tools.index("<tools>")  # the system prompt comes first
    plain = chat(turns)
    assert "<tools>" not in plain and "antique_value_assessment" not in plain


def test_a_template_without_tools_says_so(real_tokenizers: dict[str, Path]) -> None:
    """DeepSeek-V3's shipped template never prints `tools`: passing them would silently drop them, so it is refused."""
    from harness.models.chat import ChatFormatter, load_tokenizer

    chat = ChatFormatter(load_tokenizer(str(real_tokenizers["deepseek_v3"]), None, False), None, "deepseek-v3")
    with pytest.raises(HarnessError, match="does not show tools"):
        chat([("user", "hi")], tools=json.dumps(openai_tools([ACEBENCH_FUNCTION])))
