"""ACEBench's scoring (ACEBench/ACEBench @ e6db74b7, model_eval/checker.py and eval_main.py), reproduced rule for rule
so that a score here equals the one ACEBench's own evaluator gives the same answers.

normal_*: the answer is parsed as `[Api(k=v), ...]` after all whitespace is removed (eval_main.py does this, so a
value's inner spaces are dropped too); it is right when, for one of the possible answers, the calls match by name
and count, and every expected call is matched by a call of that name whose parameters pass `_check_call`:
every required parameter present, no parameter outside the function's properties or the expected answer, the
type right, and the value right for strings (the expected text contained in the answer's, after both are
normalised), lists (equal after normalising strings) and objects (same keys; each leaf's expected value contained
in the answer's, as text). ACEBench's checker does not compare top-level numbers or booleans with the expected
value: a call with `detailed_report=False` where True is expected passes, and so does any float where a float is
expected; an optional parameter of the expected answer may be left out. Those quirks are kept (the point is
ACEBench's number); `strict` (the metric acebench_strict) also compares top-level scalars and wants every parameter
of the expected answer, for a stricter secondary figure.

special_*: string checks on the raw answer (incomplete: "Missing necessary parameters", the API's name and each
missing parameter; error_param: "There is incorrect value" and each wrong value; irrelevant: "the limitations of
the function").

Where ACEBench's checker would raise (a function description without `parameters`, an `objectArray` parameter),
its whole evaluation stops; here that one answer is wrong and the reason says why.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any, Sequence

from harness.scoring.tool_calls import ToolCallFormatError, from_openai, parse_bracket, parse_tool_calls


class _Never:
    """ACEBench maps type "enum" to Python's `enumerate`, a type no argument value has."""


_TYPES: dict[str, type] = {
    "string": str, "integer": int, "float": float, "boolean": bool, "array": list, "tuple": list, "dict": dict,
    "any": str, "list": list, "object": dict, "objectArray": list, "list(string)": list, "list(enum)": list,
    "int": int, "enum": _Never, "number": int,
}
_NESTED = ("array", "tuple", "list(string)", "list(enum)", "object", "objectArray")
_NORM = re.compile(r"[ ,./\-_*^]")
_SUFFIX = re.compile(r"_\d+$")


class Wrong(Exception):
    """One reason an answer is wrong."""


def normalise(text: str) -> str:
    """ACEBench's standardize_string: drop spaces and , . / - _ * ^, lower-case, ' -> "."""
    return _NORM.sub("", text).lower().replace("'", '"')


def decode_answer(text: str) -> list[dict[str, dict[str, Any]]]:
    """An answer as ACEBench decodes it: every whitespace character removed, then `[Api(k=v), ...]` parsed."""
    return [c.as_dict() for c in parse_bracket("".join(text.split()))]


def check_normal(text: str, functions: list[dict[str, Any]], ground_truth: Any, strict: bool = False) -> tuple[bool, str]:
    """(right, why) for a normal_* item: the answer against each possible answer in turn."""
    try:
        calls = decode_answer(text)
    except ToolCallFormatError as e:
        return False, f"wrong_output_format: {e}"
    return check_calls(calls, functions, ground_truth, strict)


def check_calls(calls: list[dict[str, dict[str, Any]]], functions: list[dict[str, Any]], ground_truth: Any,
                strict: bool = False) -> tuple[bool, str]:
    """Decoded calls ({name: args} each) against the possible answers (one dict, or a list of alternatives)."""
    first = ""
    for alternative in ground_truth if isinstance(ground_truth, list) else [ground_truth]:
        try:
            _check_alternative(calls, functions, alternative, strict)
            return True, ""
        except Wrong as e:
            first = first or str(e)
    return False, first


def _check_alternative(calls: list[dict[str, dict[str, Any]]], functions: list[dict[str, Any]],
                       expected: Any, strict: bool) -> None:
    if not isinstance(expected, dict) or not all(isinstance(v, dict) for v in expected.values()):
        raise Wrong("the possible answer is not {api: {parameter: value}}")
    if len(calls) != len(expected):
        raise Wrong("wrong number of calls")
    raw_names = list(expected)
    wanted = [(_SUFFIX.sub("", k), v) for k, v in expected.items()]  # route_tool_1, route_tool_2 -> route_tool
    made = Counter(name for c in calls for name in c)
    need = Counter(name for name, _ in wanted)
    for name in made:
        if name not in need:
            raise Wrong(f"function_mismatch: {name} is not expected")
    for name in need:
        if name not in made:
            raise Wrong(f"function_mismatch: {name} is not called")
        if made[name] != need[name]:
            raise Wrong(f"function_mismatch: {name} called {made[name]} times, expected {need[name]}")
    for raw, (name, args) in zip(raw_names, wanted):
        desc = _description(functions, raw)
        reasons = []
        for call in calls:
            if next(iter(call)) != name:
                continue
            try:
                _check_call(desc, call, {name: args}, strict)
                break
            except Wrong as e:
                reasons.append(str(e))
        else:
            raise Wrong(reasons[0] if reasons else f"no call of {name}")


def _description(functions: Any, raw_name: str) -> dict[str, Any] | None:
    """ACEBench's find_description: the first function whose name is contained in the expected call's key."""
    if not isinstance(functions, list):
        return functions
    for f in functions:
        if isinstance(f, dict) and isinstance(f.get("name"), str) and f["name"] in raw_name:
            return f
    return None


def _check_call(desc: dict[str, Any] | None, call: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]],
                strict: bool) -> None:
    if desc is None or not isinstance(desc.get("parameters"), dict):
        raise Wrong("the expected function has no parameter description (ACEBench's checker stops here)")
    params = desc["parameters"]
    want = next(iter(expected.values()))
    got = next(iter(call.values()))
    if got == {} and params == {}:
        return
    if got == {} or params == {}:
        raise Wrong("wrong_param: no arguments")
    props = params.get("properties")
    if want == props:
        return
    if want == {}:
        raise Wrong("wrong_param: no arguments expected")
    name = desc["name"]
    if name not in call:
        raise Wrong(f"wrong_function_name: expected {name}")
    if not isinstance(props, dict) or "required" not in params:
        raise Wrong("the function description has no properties/required (ACEBench's checker stops here)")
    got = call[name]
    for p in params["required"]:
        if p not in got:
            raise Wrong(f"lack_args: {p}")
    if strict:
        for p in want:
            if p not in got:
                raise Wrong(f"lack_args (strict): {p} is in the expected answer")
    for p, value in got.items():
        if p not in props or p not in want:
            raise Wrong(f"addition_args: {p}")
        _check_param(p, value, want[p], props[p], strict)


def _check_param(param: str, value: Any, gold: Any, details: Any, strict: bool) -> None:
    kind = details.get("type") if isinstance(details, dict) else None
    if kind not in _TYPES or kind == "objectArray":  # objectArray: ACEBench's check of it calls dict_checker wrongly
        raise Wrong(f"parameter {param}: type {kind!r} unknown to ACEBench's checker (it stops here)")
    expected = _TYPES[kind]
    nested = None
    if kind in _NESTED:
        items = details.get("items")
        inner = items.get("type") if isinstance(items, dict) else None
        if inner is None:
            inner = "string" if "string" in kind else "enum" if "enum" in kind else "dict"
        if inner not in _TYPES:
            raise Wrong(f"parameter {param}: item type {inner!r} unknown to ACEBench's checker (it stops here)")
        nested = _TYPES[inner]
    if kind == "tuple" and type(value) is tuple:
        value = list(value)
    if kind == "float" and type(value) is int:
        value = float(value)
    valid, variable = _type_ok(value, gold, expected, nested)
    if not valid:
        raise Wrong(f"type_error: {param}")
    if variable:
        if strict and not _scalar_equal(value, gold):
            raise Wrong(f"value_error (strict): {param}")
        return
    if expected is dict:
        _dict_check(param, value, gold)
    elif expected is list and nested is dict:
        _list_of_dicts_check(param, value, gold)
    elif expected is str:
        if normalise(gold) not in normalise(value):
            raise Wrong(f"value_error:string {param}")
    elif expected is list:
        norm = lambda xs: [normalise(x) if type(x) is str else x for x in xs]  # noqa: E731
        if norm(list(value)) != norm(gold):
            raise Wrong(f"value_error:list {param}")
    elif strict and not _scalar_equal(value, gold):
        raise Wrong(f"value_error (strict): {param}")


def _scalar_equal(value: Any, gold: Any) -> bool:
    """strict mode: booleans equal ("true" reads as True), numbers equal (1 == 1.0), anything else equal as
    normalised text (a year given as "2023" where 2023 is expected)."""
    conv = {"true": True, "false": False}
    v = conv.get(value, value) if isinstance(value, str) else value
    g = conv.get(gold, gold) if isinstance(gold, str) else gold
    if isinstance(v, bool) or isinstance(g, bool):
        return v is g
    if isinstance(v, (int, float)) and isinstance(g, (int, float)):
        return v == g
    return normalise(str(v)) == normalise(str(g))


def _type_ok(value: Any, gold: Any, expected: type[Any], nested: type[Any] | None) -> tuple[bool, bool]:
    """ACEBench's type_checker: (valid, variable). `variable` (the expected value's own type differs from the
    declared one) means the value is not compared any further."""
    gold_type = None if _is_empty_string(gold) else type(gold)
    variable = gold_type is not None and gold_type is not expected
    if _is_str(value, "true"):
        value = True
    elif _is_str(value, "false"):
        value = False
    failed_nested = False
    if type(value) is expected:
        if nested is None:
            return True, variable
        try:
            golds = list(gold)
        except TypeError:
            raise Wrong("the expected value of a list parameter is not a list (ACEBench's checker stops here)") from None
        for g in golds:
            ok = True
            if type(g) is list:
                for item in value:
                    if not _type_ok(item, g, nested, None)[0]:
                        ok = False
                        break
            if ok:
                return True, variable
        failed_nested = True
    if gold_type is not None and (type(value) is gold_type or _loose_eq(gold, value)):
        return not failed_nested, True
    return False, False


def _is_empty_string(x: Any) -> bool:
    return isinstance(x, str) and x == ""


def _is_str(x: Any, s: str) -> bool:
    return isinstance(x, str) and x == s


def _loose_eq(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return False


def _dict_check(param: str, value: Any, gold: Any) -> None:
    if not isinstance(value, dict):
        raise Wrong(f"value_error: {param} is not an object")
    if not isinstance(gold, dict):
        raise Wrong(f"the expected value of {param} is not an object (ACEBench's checker stops here)")
    if len(value) != len(gold):
        raise Wrong(f"value_error: {param} has {len(value)} keys, expected {len(gold)}")
    for k, v in value.items():
        if _is_str(v, "true"):
            v = True
        elif _is_str(v, "false"):
            v = False
        if k not in gold:
            raise Wrong(f"value_error: {param}.{k} is not expected")
        want = gold[k]
        if isinstance(want, dict):
            _dict_check(param, v, want)
            continue
        got = normalise(v) if type(v) is str else v
        want_n = normalise(want) if type(want) is str else want
        if str(want_n) not in str(got):
            raise Wrong(f"value_error: {param}.{k}")


def _list_of_dicts_check(param: str, value: list[Any], gold: Any) -> None:
    if not isinstance(gold, list) or len(value) != len(gold):
        raise Wrong(f"value_error: {param} has {len(value)} items, expected {len(gold) if isinstance(gold, list) else '?'}")
    for v, g in zip(value, gold):
        _dict_check(param, v, g)


def check_special(text: str, subset: str, ground_truth: Any) -> tuple[bool, str]:
    """special_* items: does the answer point out the problem the way the system prompt asks? The checks are
    ACEBench's: plain substring tests on the answer as generated."""
    if "incomplete" in subset:
        if not isinstance(ground_truth, dict):
            return False, "possible answer is not {api: [missing parameters]}"
        for api, missing in ground_truth.items():
            if "Missing necessary parameters" not in text:
                return False, "error_detection: no 'Missing necessary parameters'"
            if api not in text:
                return False, f"error_correction: API {api} not named"
            for p in missing:
                if str(p) not in text:
                    return False, f"error_correction: missing parameter {p} not named"
        return True, ""
    if "error" in subset:
        if not isinstance(ground_truth, dict):
            return False, "possible answer is not {parameter: [wrong values]}"
        for _, values in ground_truth.items():
            if "There is incorrect value" not in text:
                return False, "error_detection: no 'There is incorrect value'"
            for v in values:
                if str(v) not in text:
                    return False, f"error_correction: wrong value {v} not named"
        return True, ""
    if "irrelevant" in subset:
        if "the limitations of the function" not in text:
            return False, "error_detection: no 'the limitations of the function'"
        return True, ""
    raise ValueError(f"special subset {subset!r} is none of incomplete, error_param, irrelevant")


def score_item(sample: Any, result: Any, metrics: Sequence[str], spec: Any) -> Any:
    """One generated answer of an ACEBench item scored with every metric of its task (`acebench`: ACEBench's
    checker; `acebench_strict`: the same with top-level values compared). A subset whose name starts with
    `special` is checked as ACEBench's special cases, every other one as normal calls. The prediction is the calls
    read (JSON), or the answer's text for special items; `details.why` says why an answer is wrong."""
    from harness.scoring.metrics import Scored

    gold = json.loads(sample.answers[0])
    subset = str(sample.meta.get("subset", ""))
    text = result.text
    if subset.startswith("special"):
        right, why = check_special(text, subset, gold)
        values = {m: float(right) for m in metrics}
        return Scored(prediction=text.strip() or None, metrics=values, correct=right, output=text,
                      details={"why": why} if why else None)
    functions = sample.raw.get(spec.functions) if spec is not None else None
    if not isinstance(functions, list):
        raise ValueError(f"row field {getattr(spec, 'functions', None)!r} holds no list of function descriptions")
    try:
        calls = _read_calls(text, getattr(result, "tool_calls", None), spec.format)
    except ToolCallFormatError as e:
        why = f"wrong_output_format: {e}"
        return Scored(prediction=None, metrics={m: 0.0 for m in metrics}, correct=False, output=text,
                      details={"why": why})
    values, why = {}, ""
    for m in metrics:
        right, reason = check_calls(calls, functions, gold, strict=m == "acebench_strict")
        values[m] = float(right)
        why = why or reason
    return Scored(prediction=json.dumps(calls, ensure_ascii=False, default=repr), metrics=values,
                  correct=values[metrics[0]] >= 1.0, output=text, details={"why": why} if why else None)


def _read_calls(text: str, server_calls: list[Any] | None, fmt: str) -> list[dict[str, dict[str, Any]]]:
    """The answer's calls: those a server returned apart (its tool parser read them), else the text read in the
    task's format; the bracket format as ACEBench reads it (whitespace removed first)."""
    if server_calls:
        return [c.as_dict() for c in from_openai(server_calls)]
    if fmt == "bracket":
        return decode_answer(text)
    return [c.as_dict() for c in parse_tool_calls(text, fmt)]
