"""Tool calls read back from a model's answer, in the format its family writes them, as (name, arguments) pairs.

Formats (each parser takes the answer text; reasoning is already split off by harness/run/reasoning.py):

- `bracket`: ACEBench's (and BFCL's) prompt format, a Python-like list of calls, `[Api(k='v', n=3), Other()]`.
  Read with Python's `ast` parser, never evaluated: only literals, lists, dicts, tuples, names (read as their
  text), nested calls and constant arithmetic are understood, as ACEBench's decoder reads them.
- `qwen`: Qwen2.5/Qwen3 (and Hermes-style) `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` blocks.
- `deepseek`: DeepSeek-V3 / R1 `<｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME` followed by a ```json block, and
  DeepSeek-V3.1's `<｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{json}`; both end with `<｜tool▁call▁end｜>`.
- `glm`: GLM-4.5/4.6 `<tool_call>NAME<arg_key>k</arg_key><arg_value>v</arg_value>...</tool_call>`, and GLM-4's
  plain `NAME\\n{json}` answer.
- `openai`: the `tool_calls` list of an OpenAI-compatible chat reply (a server with a tool parser), see
  `from_openai`.

A text that is not in the format raises ToolCallFormatError (a wrong answer, never a crash of the run).
"""

from __future__ import annotations

import ast
import json
import operator
import re
from dataclasses import dataclass, field
from typing import Any, Callable

FORMATS = ("bracket", "qwen", "deepseek", "glm")


class ToolCallFormatError(ValueError):
    """The answer is not a list of tool calls in the expected format."""


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """ACEBench's shape of one call: {name: {param: value}}."""
        return {self.name: dict(self.arguments)}


# ---- bracket: [Api(k='v'), ...] -------------------------------------------------------------------------------

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}


def parse_bracket(text: str) -> list[ToolCall]:
    """`[Api(k='v'), Other()]` -> calls. The whole text must be one list (or tuple) of calls with keyword arguments
    (positional arguments are ignored, as ACEBench's decoder ignores them); `a.b.c(...)` is named "a.b.c"."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        raise ToolCallFormatError(f"not a Python-style list of calls: {type(e).__name__}") from None
    body = tree.body
    if not isinstance(body, (ast.List, ast.Tuple, ast.Set)):
        raise ToolCallFormatError("the answer is not a list of calls [Api(...), ...]")
    calls = []
    for elem in body.elts:
        if not isinstance(elem, ast.Call):
            raise ToolCallFormatError(f"list element is a {type(elem).__name__}, not a call")
        calls.append(ToolCall(_call_name(elem), {kw.arg: _value(kw.value) for kw in elem.keywords if kw.arg is not None}))
    return calls


def _call_name(node: ast.Call) -> str:
    parts = []
    f: Any = node.func
    while isinstance(f, ast.Attribute):
        parts.append(f.attr)
        f = f.value
    if isinstance(f, ast.Name):
        parts.append(f.id)
    return ".".join(reversed(parts))


def _value(node: ast.AST, depth: int = 0) -> Any:
    """A literal argument value. Names read as their text (`true` -> "true"), a nested call as {name: args};
    arithmetic on constants is computed without eval."""
    if depth > 100:
        raise ToolCallFormatError("argument nested too deeply")
    if isinstance(node, ast.Constant):
        return "..." if node.value is Ellipsis else node.value
    if isinstance(node, ast.UnaryOp):
        # ACEBench's decoder negates the operand of any unary operator (`+5` reads as -5); kept for equal scores
        if not isinstance(node.operand, ast.Constant) or not isinstance(node.operand.value, (int, float, complex)):
            raise ToolCallFormatError("unary operator on a non-number")
        return -node.operand.value
    if isinstance(node, ast.List):
        return [_value(v, depth + 1) for v in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_value(v, depth + 1) for v in node.elts)
    if isinstance(node, ast.Dict):
        keys = [k for k in node.keys if k is not None]  # a None key is a **mapping
        if len(keys) != len(node.keys):
            raise ToolCallFormatError("**mapping in an argument")
        return {_value(k, depth + 1): _value(v, depth + 1) for k, v in zip(keys, node.values)}
    if isinstance(node, ast.BinOp):
        return _arith(node, depth)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        return {_call_name(node): {kw.arg: _value(kw.value, depth + 1) for kw in node.keywords if kw.arg is not None}}
    if isinstance(node, ast.Subscript):
        return ast.unparse(node.value) + "[" + ast.unparse(node.slice) + "]"
    raise ToolCallFormatError(f"unsupported argument syntax: {type(node).__name__}")


def _arith(node: ast.BinOp, depth: int) -> Any:
    op = _BINOPS.get(type(node.op))
    left, right = _value(node.left, depth + 1), _value(node.right, depth + 1)
    if op is None or not all(isinstance(x, (int, float, str)) and not isinstance(x, bool) for x in (left, right)):
        raise ToolCallFormatError("unsupported expression in an argument")
    if isinstance(node.op, ast.Pow) and (isinstance(right, str) or abs(right) > 64 or (isinstance(left, int) and left.bit_length() * abs(right) > 4096)):
        raise ToolCallFormatError("power too large in an argument")
    if isinstance(node.op, ast.Mult) and any(isinstance(x, str) for x in (left, right)):
        text, n = (left, right) if isinstance(left, str) else (right, left)
        if not isinstance(n, int) or len(text) * n > 100_000:
            raise ToolCallFormatError("string repetition in an argument")
    try:
        return op(left, right)
    except (TypeError, ZeroDivisionError, OverflowError, ValueError) as e:
        raise ToolCallFormatError(f"expression in an argument fails: {type(e).__name__}") from None


# ---- JSON-carrying formats ------------------------------------------------------------------------------------

def _json_object(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise ToolCallFormatError(f"{where}: not valid JSON") from None
    if not isinstance(value, dict):
        raise ToolCallFormatError(f"{where}: JSON {type(value).__name__}, not an object")
    return value


def _arguments(value: Any, where: str) -> dict[str, Any]:
    """Arguments as an object; OpenAI-style servers send them as a JSON string."""
    if value is None:
        return {}
    if isinstance(value, str):
        return _json_object(value, where) if value.strip() else {}
    if not isinstance(value, dict):
        raise ToolCallFormatError(f"{where}: arguments are a {type(value).__name__}, not an object")
    return value


_QWEN = re.compile(r"<tool_call>(.*?)</tool_call>", re.S)


def parse_qwen(text: str) -> list[ToolCall]:
    """Every `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` block, in order (Qwen2.5/3, Hermes)."""
    blocks = _QWEN.findall(text)
    if not blocks:
        raise ToolCallFormatError("no <tool_call> block")
    calls = []
    for b in blocks:
        obj = _json_object(b.strip(), "<tool_call>")
        name = obj.get("name")
        if not isinstance(name, str):
            raise ToolCallFormatError("<tool_call> without a name")
        calls.append(ToolCall(name, _arguments(obj.get("arguments", obj.get("parameters")), f"<tool_call> {name}")))
    return calls


_DS_CALL = re.compile(r"<｜tool▁call▁begin｜>(.*?)<｜tool▁call▁end｜>", re.S)
_DS_V3 = re.compile(r"^\s*(\w+)<｜tool▁sep｜>(.+?)\n```(?:json)?\n(.*?)\n?```\s*$", re.S)  # type, name, json
_DS_V31 = re.compile(r"^\s*(.+?)<｜tool▁sep｜>(.*)$", re.S)  # name, json


def parse_deepseek(text: str) -> list[ToolCall]:
    """DeepSeek's tool-call tokens: V3/R1 `<｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\\n```json\\n{...}\\n```
    <｜tool▁call▁end｜>` (as its chat template writes a call), and V3.1's `<｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{...}
    <｜tool▁call▁end｜>`."""
    blocks = _DS_CALL.findall(text)
    if not blocks:
        raise ToolCallFormatError("no <｜tool▁call▁begin｜> block")
    calls = []
    for b in blocks:
        m = _DS_V3.match(b)
        if m:
            calls.append(ToolCall(m.group(2).strip(), _json_object(m.group(3), f"DeepSeek call {m.group(2).strip()}")))
            continue
        m = _DS_V31.match(b)
        if not m:
            raise ToolCallFormatError("DeepSeek call without <｜tool▁sep｜>")
        name = m.group(1).strip()
        calls.append(ToolCall(name, _arguments(m.group(2).strip(), f"DeepSeek call {name}")))
    return calls


_GLM_XML = re.compile(r"<tool_call>\s*([^<\n]+?)\s*(?:\n|(?=<arg_key>)|(?=</tool_call>))(.*?)</tool_call>", re.S)
_GLM_ARG = re.compile(r"<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)</arg_value>", re.S)
_GLM4 = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*\n\s*(\{.*\})\s*$", re.S)


def parse_glm(text: str) -> list[ToolCall]:
    """GLM-4.5/4.6: `<tool_call>NAME\\n<arg_key>k</arg_key>\\n<arg_value>v</arg_value>...</tool_call>` blocks (a
    value that reads as JSON is taken as JSON, else as text, as GLM's tool parser in vLLM does); GLM-4: an answer
    that is `NAME\\n{json arguments}`."""
    blocks = _GLM_XML.findall(text)
    if blocks:
        calls = []
        for name, body in blocks:
            args: dict[str, Any] = {}
            for k, v in _GLM_ARG.findall(body):
                try:
                    args[k.strip()] = json.loads(v)
                except ValueError:
                    args[k.strip()] = v
            calls.append(ToolCall(name.strip(), args))
        return calls
    m = _GLM4.match(text)
    if m:
        return [ToolCall(m.group(1), _json_object(m.group(2), f"GLM-4 call {m.group(1)}"))]
    raise ToolCallFormatError("no GLM tool call (<tool_call>NAME<arg_key>... or NAME\\n{json})")


def from_openai(tool_calls: list[Any]) -> list[ToolCall]:
    """An OpenAI-compatible reply's `message.tool_calls`: [{"type": "function", "function": {"name": ...,
    "arguments": "<JSON text>"}}, ...] (arguments as an object are accepted too)."""
    calls = []
    for i, tc in enumerate(tool_calls):
        fn = tc.get("function") if isinstance(tc, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise ToolCallFormatError(f"tool_calls[{i}] has no function name")
        calls.append(ToolCall(fn["name"], _arguments(fn.get("arguments"), f"tool_calls[{i}] {fn['name']}")))
    return calls


PARSERS: dict[str, Callable[[str], list[ToolCall]]] = {
    "bracket": parse_bracket, "qwen": parse_qwen, "deepseek": parse_deepseek, "glm": parse_glm,
}


def parse_tool_calls(text: str, fmt: str) -> list[ToolCall]:
    """The calls in an answer written in format `fmt` (one of FORMATS)."""
    try:
        parser = PARSERS[fmt]
    except KeyError:
        raise ValueError(f"unknown tool-call format {fmt!r} (known: {', '.join(FORMATS)})") from None
    return parser(text)


def openai_tools(functions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Function descriptions ({name, description, parameters}) in the OpenAI `tools` shape that chat templates
    (`tools=`) and OpenAI-compatible servers take."""
    out = []
    for f in functions:
        fn = {"name": f.get("name"), "description": f.get("description", "")}
        params = f.get("parameters", f.get("arguments"))
        if params is not None:
            fn["parameters"] = params
        out.append({"type": "function", "function": fn})
    return out
