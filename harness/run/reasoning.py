"""Reasoning models: whether a run thinks, how the model is told, and the reasoning kept apart from the answer.

A thinking model writes `<think>...</think>` and then its answer. Everything that scores (answer extraction,
judges, the sandbox, verifiers) must see the answer only: the first letter or number inside the reasoning is not
the answer. An output whose thinking never closed (the budget ran out) has no answer at all and counts as
unanswered (`unfinished_reasoning`), never mined for a letter. The reasoning is kept in the samples file beside
the answer, with its token count, so what thinking costs can be measured.

How thinking is switched comes from the model's preset (harness/models/presets.py ThinkingSpec) or, for a model without
one, from its chat template: a template that reads `enable_thinking` is a hybrid (Qwen3 style, on by default); a
template whose generation prompt opens `<think>` always thinks (DeepSeek-R1 style, pre-filled).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from harness.errors import HarnessError

MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class ThinkingPlan:
    """What a run does about thinking, recorded in the results (`model.thinking`)."""

    enabled: bool
    mode: str = "never"  # hybrid | always | never: what the model can do
    source: str = "none"  # preset | chat_template | none: where that was learnt
    start: str = "<think>"
    end: str = "</think>"
    prefilled: bool = False  # the prompt already opened the think block: outputs start inside it
    template_kwargs: dict[str, Any] = field(default_factory=dict)  # chat-template variables (enable_thinking)
    switch: str | None = None  # text appended to each user turn (/no_think)

    def report(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "mode": self.mode, "source": self.source, "tags": [self.start, self.end],
                "prefilled": self.prefilled, "template_kwargs": self.template_kwargs, "switch": self.switch}

    def user_turn(self, text: str) -> str:
        return f"{text}{self.switch}" if self.switch else text


def plan_thinking(flag: str, model: str, preset: Any, render: Callable[[dict[str, Any]], str] | None,
                  template: str | None, server: bool = False) -> ThinkingPlan:
    """`flag` is --thinking; `preset` a models.Preset or None; `render(template_kwargs)` renders a one-turn
    conversation with the generation prompt (None: no chat template applied here); `template` the chat template
    source; `server`: an OpenAI-compatible server applies the template (switched through chat_template_kwargs)."""
    if flag not in MODES:
        raise HarnessError(f"--thinking: '{flag}' must be auto, on or off")
    spec = getattr(preset, "thinking", None)
    if spec is None and server and render is None:
        # a served model without a preset: its template is out of sight. Outputs are split all the same (think tags,
        # reasoning_content); --thinking on/off is passed as Qwen3-style enable_thinking, which servers accept
        if flag == "auto":
            return ThinkingPlan(False, "unknown", "server")
        return ThinkingPlan(flag == "on", "hybrid", "server (enable_thinking assumed)",
                            template_kwargs={"enable_thinking": flag == "on"})
    if spec is not None:
        mode, default, source = spec.mode, spec.default, "preset"
        start, end, prefilled = spec.start, spec.end, spec.prefilled
        toggle, var, on_text, off_text = spec.toggle, spec.flag, spec.switch_on, spec.switch_off
    elif render is not None and template and "enable_thinking" in template:
        mode, default, source, start, end, prefilled = "hybrid", "on", "chat_template", "<think>", "</think>", False
        toggle, var, on_text, off_text = "template_flag", "enable_thinking", None, None
    elif render is not None and render({}).rstrip().endswith("<think>"):
        mode, default, source, start, end, prefilled = "always", "on", "chat_template", "<think>", "</think>", True
        toggle, var, on_text, off_text = "none", None, None, None
    else:
        mode, default, source, start, end, prefilled = "never", "off", "none", "<think>", "</think>", False
        toggle, var, on_text, off_text = "none", None, None, None
    want = default if flag == "auto" else flag
    where = "its preset" if source == "preset" else "its chat template" if source == "chat_template" else "nothing says it can think"
    if want == "on" and mode == "never":
        raise HarnessError(f"--thinking on: {model} does not think ({where}); use --thinking auto or off")
    if want == "off" and mode == "always":
        raise HarnessError(f"--thinking off: {model} always thinks ({where}); use --thinking auto or on")
    enabled = want == "on"
    if toggle == "template_flag" and render is None and not server:
        raise HarnessError(f"--thinking {flag}: {model} is switched by its chat template ({var}); it needs "
                           "--chat-template on (or auto for a chat model)")
    kwargs = {var: enabled} if toggle == "template_flag" and var else {}
    switch = (on_text if enabled else off_text) if toggle == "prompt_switch" else None
    if render is not None and mode != "never" and not prefilled:  # a template that opens the block itself
        prefilled = render(kwargs).rstrip().endswith(start)
    # a hybrid template pre-fills the block only when thinking is on (DeepSeek-V3.1 ends the prompt with </think>
    # when it is off): with thinking off nothing is pre-filled
    return ThinkingPlan(enabled, mode, source, start, end, prefilled and enabled, kwargs, switch)


@dataclass(frozen=True)
class Split:
    reasoning: str
    answer: str
    finished: bool  # False: the thinking never closed (no answer)


def split_reasoning(text: str, separate: str | None, plan: ThinkingPlan | None) -> Split:
    """Reasoning and answer of one output. `separate`: reasoning an engine returned apart (reasoning_content).

    Every think block is removed from the answer (interleaved thinking, MiniMax-M2, may write several); a block
    opened and never closed, or a pre-filled block whose end tag never came, leaves no answer. Text without any
    tag is returned untouched (a code completion keeps its indentation)."""
    start = plan.start if plan else "<think>"
    end = plan.end if plan else "</think>"
    parts: list[str] = [separate.strip()] if separate and separate.strip() else []
    rest = text
    if plan is not None and plan.prefilled and separate is None:  # the output starts inside the block
        head, sep, tail = rest.partition(end)
        if not sep:
            return Split(_join(parts + [head]), "", False)
        parts.append(head.removeprefix(start))
        rest = tail
    elif start not in rest and end not in rest:
        return Split(_join(parts), rest, True)
    answer: list[str] = []
    while rest:
        i, j = rest.find(start), rest.find(end)
        if i < 0 and j < 0:
            answer.append(rest)
            break
        if j >= 0 and (i < 0 or j < i):  # an end tag whose start the engine dropped (a special token)
            parts.append(rest[:j])
            rest = rest[j + len(end):]
            continue
        answer.append(rest[:i])
        k = rest.find(end, i + len(start))
        if k < 0:  # opened, never closed: the budget ran out while thinking
            return Split(_join(parts + [rest[i + len(start):]]), "", False)
        parts.append(rest[i + len(start):k])
        rest = rest[k + len(end):]
    return Split(_join(parts), "".join(answer).strip("\n").rstrip(), True)


def _join(parts: list[str]) -> str:
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


class ThinkTally:
    """What thinking cost one task, fed a generation at a time (flat memory: token counts as a histogram)."""

    def __init__(self) -> None:
        self.generations = 0
        self.unfinished = 0
        self.with_reasoning = 0
        self.reasoning: dict[int, int] = {}
        self.answer: dict[int, int] = {}
        self.generated = 0
        self.seconds = 0.0
        self.correct = 0.0  # sum of the primary metric over generations
        self.counted = True  # False once a generation's tokens could not be counted (no local tokenizer)

    def add(self, split: Split, answer_tokens: int | None, generated: int, seconds: float,
            value: float) -> tuple[int, int] | None:
        """Count one generation; returns the (reasoning, answer) tokens it was counted with (None: not countable)."""
        self.generations += 1
        self.unfinished += not split.finished
        self.with_reasoning += bool(split.reasoning)
        self.generated += generated
        self.seconds += seconds
        self.correct += value
        if answer_tokens is None:
            self.counted = False
            return None
        # the answer's tokens are counted; the rest of the generation (the reasoning with its tags) is reasoning,
        # but only where there was reasoning: text that decodes to nothing is not thinking
        if split.reasoning or not split.finished:
            answer_tokens = min(answer_tokens, generated) if generated else answer_tokens
        else:  # all of it is answer (re-encoding the text may count differently from what was generated)
            answer_tokens = generated or answer_tokens
        reasoning_tokens = max(0, generated - answer_tokens)
        for table, n in ((self.answer, answer_tokens), (self.reasoning, reasoning_tokens)):
            table[n] = table.get(n, 0) + 1
        return reasoning_tokens, answer_tokens

    def report(self) -> dict[str, Any]:
        n = self.generations
        out: dict[str, Any] = {
            "generations": n, "unfinished_reasoning": self.unfinished, "with_reasoning": self.with_reasoning,
            "generated_tokens": self.generated, "seconds": round(self.seconds, 3),
            "seconds_per_item": self.seconds / n if n else None,
            "generated_tokens_per_s": self.generated / self.seconds if self.seconds > 0 else None,
            # generated tokens per correct answer (the primary metric summed over generations): what one right
            # answer costs; None when nothing was right
            "tokens_per_correct": self.generated / self.correct if self.correct > 0 else None,
        }
        if self.counted and n:
            out["reasoning_tokens"] = _stats(self.reasoning)
            out["answer_tokens"] = _stats(self.answer)
            total = out["reasoning_tokens"]["total"] + out["answer_tokens"]["total"]
            out["reasoning_share"] = out["reasoning_tokens"]["total"] / total if total else None
        return out


def _stats(hist: dict[int, int]) -> dict[str, Any]:
    n = sum(hist.values())
    total = sum(k * c for k, c in hist.items())
    seen, p90 = 0, 0
    for k in sorted(hist):
        seen += hist[k]
        if seen * 10 >= 9 * n:  # nearest rank
            p90 = k
            break
    return {"total": total, "mean": total / n if n else None, "p90": p90, "max": max(hist) if hist else None}
