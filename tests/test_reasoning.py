"""Reasoning kept apart from the answer everywhere: think blocks (closed, unclosed, pre-filled, interleaved) and a
server's reasoning_content never reach answer extraction, judges or the sandbox; an unclosed block is unanswered;
thinking is switched the way each model expects and refused for likelihood scoring."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_openai_backend import FakeServer

from harness.cli import main
from harness.errors import HarnessError
from harness.models.presets import ThinkingSpec
from harness.run.reasoning import Split, ThinkingPlan, ThinkTally, plan_thinking, split_reasoning
from harness.scoring.consensus import consensus

PREFILLED = ThinkingPlan(True, "always", "preset", prefilled=True)


@pytest.mark.parametrize("text,separate,plan,expected", [
    ("<think>\n答案是A？不对。\n</think>\n\n答案：C", None, None, Split("答案是A？不对。", "答案：C", True)),
    ("<think>\n答案是A？我再想", None, None, Split("答案是A？我再想", "", False)),
    ("答案是A吧\n</think>\n\n答案：C", None, PREFILLED, Split("答案是A吧", "答案：C", True)),
    ("答案是A吧，还是B", None, PREFILLED, Split("答案是A吧，还是B", "", False)),
    ("答案：C", "答案是A？", PREFILLED, Split("答案是A？", "答案：C", True)),
    ("<think>A</think>先算<think>B</think>答案：C", None, None, Split("A\n\nB", "先算答案：C", True)),
    ("    return a + b\n", None, None, Split("", "    return a + b\n", True)),  # untouched: indentation kept
    ("答案：C", None, ThinkingPlan(False), Split("", "答案：C", True)),
])
def test_split(text: str, separate: str | None, plan: ThinkingPlan | None, expected: Split) -> None:
    assert split_reasoning(text, separate, plan) == expected


class _Preset:
    def __init__(self, **spec: Any) -> None:
        self.thinking = ThinkingSpec(**spec)


QWEN3 = _Preset(mode="hybrid", default="on", toggle="template_flag", flag="enable_thinking")
R1 = _Preset(mode="always", default="on", prefilled=True)
GLM = _Preset(mode="hybrid", default="on", toggle="prompt_switch", switch_off=" /nothink")
NEVER = _Preset(mode="never", default="off")


def _render(kw: dict[str, Any]) -> str:
    return "<|im_start|>assistant\n" + ("<think>\n\n</think>\n\n" if kw.get("enable_thinking") is False else "")


def test_plans_follow_presets_and_flags() -> None:
    assert plan_thinking("auto", "q", QWEN3, _render, "x").template_kwargs == {"enable_thinking": True}
    off = plan_thinking("off", "q", QWEN3, _render, "x")
    assert not off.enabled and off.template_kwargs == {"enable_thinking": False}
    assert plan_thinking("auto", "r1", R1, _render, "x").prefilled
    glm = plan_thinking("off", "glm", GLM, _render, "x")
    assert glm.switch == " /nothink" and glm.user_turn("问题") == "问题 /nothink"
    assert not plan_thinking("auto", "k2", NEVER, _render, "x").enabled


@pytest.mark.parametrize("flag,preset,message", [
    ("on", NEVER, "--thinking on: m does not think"),
    ("off", R1, "--thinking off: m always thinks"),
    ("sometimes", QWEN3, "--thinking: 'sometimes' must be auto, on or off"),
])
def test_impossible_requests_are_one_line(flag: str, preset: Any, message: str) -> None:
    with pytest.raises(HarnessError, match=message):
        plan_thinking(flag, "m", preset, _render, "x")


def test_templates_are_detected_without_a_preset() -> None:
    hybrid = plan_thinking("auto", "m", None, _render, "{% if enable_thinking is defined %}")
    assert hybrid.enabled and hybrid.mode == "hybrid" and hybrid.source == "chat_template"
    always = plan_thinking("auto", "m", None, lambda kw: "<｜Assistant｜><think>\n", "{{ '<think>' }}")
    assert always.enabled and always.prefilled and always.mode == "always"
    assert not plan_thinking("auto", "m", None, lambda kw: "assistant\n", "plain").enabled


def test_tally_counts_tokens_and_unfinished() -> None:
    t = ThinkTally()
    t.add(Split("r", "a", True), 10, 100, 1.0, 1.0)
    t.add(Split("r", "", False), 0, 200, 2.0, 0.0)
    r = t.report()
    assert r["unfinished_reasoning"] == 1 and r["generated_tokens"] == 300
    assert r["reasoning_tokens"]["total"] == 290 and r["answer_tokens"]["total"] == 10
    assert r["reasoning_tokens"]["p90"] == 200 and r["tokens_per_correct"] == 300.0
    t.add(Split("", "", True), 0, 24, 1.0, 0.0)  # tokens that decode to nothing (special tokens) are not thinking
    assert t.report()["reasoning_tokens"]["total"] == 290 and t.report()["answer_tokens"]["total"] == 34


# ---- end to end through a scripted OpenAI-compatible server -----------------------------------------------------
DECOY_CODE = "import sys\nsys.exit(0)"


def _reply(body: dict[str, Any]) -> dict[str, Any]:
    """Reasoning full of decoys; the answer after it is the real one (wrong for code, so a leak would pass)."""
    prompt = json.dumps(body, ensure_ascii=False)
    if "def " in prompt:  # HumanEval-zh: reasoning holds code that exits 0 (a pass if it reached the sandbox)
        return {"text": f"<think>```python\n{DECOY_CODE}\n```</think>\n```python\n    return None\n```",
                "finish_reason": "stop", "stop_reason": None}
    if len(body.get("messages", [])) == 3:  # MT-Bench turn 2
        return {"text": "第二轮回答。", "reasoning_content": "第二轮的推理：答案是：9", "finish_reason": "stop",
                "stop_reason": None}
    return {"text": "<think>答案是：7？不对，再算一遍。</think>\n\n答案是：3", "finish_reason": "stop", "stop_reason": None}


@pytest.fixture
def servers():
    model, judge = FakeServer(), FakeServer(models=(("judge", "fake-engine"),))
    model.reply = _reply
    judge.reply = lambda body: {"text": "Rating: [[5]]", "finish_reason": "stop", "stop_reason": None}
    yield model, judge
    model.close()
    judge.close()


def _run(args: list[str], out: Path) -> tuple[dict, list[dict]]:
    assert main(["eval", *args, "--output-dir", str(out), "--no-progress", "--no-cache"]) == 0
    (path,) = out.rglob("*.json")
    results = json.loads(path.read_text(encoding="utf-8"))
    lines = (path.parent / results["samples_file"]).read_text(encoding="utf-8").splitlines()
    return results, [json.loads(x) for x in lines]


def test_reasoning_never_reaches_extraction_judge_or_sandbox(servers, data_dir: Path, tmp_path: Path) -> None:
    model, judge = servers
    results, samples = _run(["--backend", "openai", "--base-url", model.url, "--model", "tiny", "--tasks",
                             "cmath,humaneval_zh,mtbench_zh", "--limit", "2", "--data-dir", str(data_dir),
                             "--judge-backend", "openai", "--judge-base-url", judge.url, "--judge-model", "judge"], tmp_path)
    for s in samples:
        if s["task"] == "cmath":
            assert s["prediction"] == "3" and s["output"] == "答案是：3" and "7" in s["reasoning"]
        if s["task"] == "humaneval_zh":
            assert s["prediction"] == "failed" and DECOY_CODE in s["reasoning"]
    for body in judge.posts("/v1/chat/completions"):  # the judge saw answers only
        text = json.dumps(body, ensure_ascii=False)
        assert "答案是：9" not in text and "答案是：7" not in text
    turn2 = [b for b in model.posts("/v1/chat/completions") if len(b["messages"]) == 3]
    assert turn2 and all(b["messages"][1]["content"] == "答案是：3" for b in turn2)  # history without reasoning
    assert results["tasks"]["cmath"]["thinking"]["with_reasoning"] == 2


def test_an_unclosed_block_is_unanswered(servers, data_dir: Path, tmp_path: Path) -> None:
    model, _ = servers
    model.reply = lambda body: {"text": "<think>答案是：7，我仍在思考", "finish_reason": "length", "stop_reason": None}
    results, samples = _run(["--backend", "openai", "--base-url", model.url, "--model", "tiny", "--tasks", "cmath",
                             "--limit", "3", "--data-dir", str(data_dir)], tmp_path)
    assert all(s["prediction"] is None and s["output"] == "" and s["reasoning_finished"] is False for s in samples)
    t = results["tasks"]["cmath"]
    assert t["thinking"]["unfinished_reasoning"] == 3 and t["metrics"]["unextracted"] == 3 and t["score"] == 0


def test_thinking_switch_reaches_the_server(servers, data_dir: Path, tmp_path: Path) -> None:
    model, _ = servers
    results, _ = _run(["--backend", "openai", "--base-url", model.url, "--model", "tiny", "--tasks", "cmath",
                       "--limit", "1", "--data-dir", str(data_dir), "--thinking", "off"], tmp_path)
    (body,) = model.posts("/v1/chat/completions")
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert results["model"]["thinking"]["enabled"] is False


# ---- end to end on a tiny Qwen3 with the real tokenizer and chat template -------------------------------------
@pytest.mark.slow
def test_qwen3_thinking_samples_and_accounting(tiny_qwen3: Path, data_dir: Path, tmp_path: Path) -> None:
    """--thinking on --samples 2: prompts are the template's own with enable_thinking, likelihood tasks move to
    generate mode with a note, and avg@2, its spread and the token accounting recompute from the samples file."""
    from transformers import AutoTokenizer

    results, samples = _run(["--model", str(tiny_qwen3), "--chat-template", "on", "--thinking", "on", "--samples", "2",
                             "--temperature", "0.7", "--top-p", "0.95", "--top-k", "20", "--tasks", "ceval,gsm8k_zh",
                             "--limit", "4", "--max-new-tokens", "24", "--data-dir", str(data_dir)], tmp_path)
    tok = AutoTokenizer.from_pretrained(tiny_qwen3)
    assert results["model"]["thinking"]["template_kwargs"] == {"enable_thinking": True}
    assert any("ceval: thinking is on" in n for n in results["notes"])
    for s in samples:
        question = s["prompt"].split("<|im_start|>user\n", 1)[1].split("<|im_end|>")[0]
        own = tok.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                      add_generation_prompt=True, enable_thinking=True)
        assert s["prompt"] == own and s["mode"] == "generate" and len(s["correct_each"]) == 2
    for name, t in results["tasks"].items():
        mine = [s for s in samples if s["task"] == name]
        per_draw = [100 * sum(s["correct_each"][j] for s in mine) / len(mine) for j in range(2)]
        across = t["metrics"]["across_samples"]
        assert across["per_sample"] == pytest.approx(per_draw)
        assert t["metrics"]["avg@2"] == pytest.approx(sum(per_draw) / 2)
        assert across["pass@2"] == pytest.approx(100 * sum(any(s["correct_each"]) for s in mine) / len(mine))
        # cons@2: the majority answer of each item, its value recomputed from the line's predictions
        kind = "numeric" if name == "gsm8k_zh" else "choice"
        chosen = [consensus(s["predictions"], [float(c) for c in s["correct_each"]], kind) for s in mine]
        assert [s["consensus"] for s in mine] == [{"prediction": c[0], "votes": c[1]} for c in chosen]
        assert across["cons@2"] == pytest.approx(100 * sum(c[2] for c in chosen) / len(mine))
        assert t["score"] == pytest.approx(100 * sum(s["metrics"]["accuracy"] for s in mine) / len(mine))
        th = t["thinking"]
        assert th["generations"] == 8 and th["generated_tokens"] == sum(s["generated_tokens"] for s in mine)
        assert th["reasoning_tokens"]["total"] + th["answer_tokens"]["total"] == th["generated_tokens"]
        assert all(s["reasoning_tokens"] + s["answer_tokens"] <= s["generated_tokens"] for s in mine)
        assert sum(sum(s["reasoning_tokens_each"]) for s in mine) == th["reasoning_tokens"]["total"]
        assert t["decoding"] == {**t["decoding"], "temperature": 0.7, "top_p": 0.95, "top_k": 20, "samples": 2,
                                 "stop": [], "seeds": [1234, 1235]}


def test_a_judge_sees_reasoning_only_when_told(servers, data_dir: Path, tmp_path: Path) -> None:
    model, judge = servers
    _run(["--backend", "openai", "--base-url", model.url, "--model", "tiny", "--tasks", "mtbench_zh", "--limit", "1",
          "--data-dir", str(data_dir), "--judge-backend", "openai", "--judge-base-url", judge.url, "--judge-model",
          "judge", "--judge-sees-reasoning"], tmp_path)
    bodies = [json.dumps(b, ensure_ascii=False) for b in judge.posts("/v1/chat/completions")]
    assert bodies and all("答案是：7？不对" in b for b in bodies)  # turn 1's reasoning, shown in its think block
    assert any("第二轮的推理" in b for b in bodies)  # turn 2's, from reasoning_content
