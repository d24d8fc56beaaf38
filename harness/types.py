"""The small vocabulary every module shares: samples, requests to a backend, and what comes back.

Backends see only requests (strings in, numbers and strings out); they never see tasks. Tasks never see
backends. The runner is the only place where the two meet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["likelihood", "generate"]
FinishReason = Literal["stop", "eos", "length"]  # a stop string, the model's end token, the token budget


@dataclass(frozen=True)
class Sample:
    """One evaluation item, normalised from whatever shape its dataset row had."""

    task: str
    sample_id: str
    question: str
    choices: tuple[str, ...]  # option texts (empty for tasks without options)
    labels: tuple[str, ...]  # option labels shown to the model, e.g. ("A", "B", "C", "D")
    target: int  # index into choices; -1 for tasks without options
    meta: dict[str, Any] = field(default_factory=dict)  # subset, subject names, groups ...
    raw: dict[str, Any] = field(default_factory=dict)  # the dataset row as read
    answers: tuple[str, ...] = ()  # reference answers: the target label, numbers, spans, or several letters
    weight: float = 1.0  # how much the sample counts in its task's score (GAOKAO: its points)

    @property
    def is_multi_choice(self) -> bool:
        """An option question with several correct options (answers holds their labels, in label order)."""
        return self.target < 0 and bool(self.labels) and bool(self.answers)

    @property
    def target_label(self) -> str:
        """What the results file shows as the target: a label, a set of labels ("AC"), or the reference answers."""
        if self.target >= 0:
            return self.labels[self.target]
        if self.is_multi_choice:
            return "".join(self.answers)
        return " | ".join(self.answers)


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """Score each continuation after the context: log P(continuation | context)."""

    context: str
    continuations: tuple[str, ...]
    # False when the context already holds the special tokens (a rendered chat template does).
    add_special_tokens: bool = True


@dataclass(frozen=True)
class GenerateRequest:
    """Continue the prompt until a stop string, EOS or max_new_tokens."""

    prompt: str
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    temperature: float = 0.0  # 0 means greedy
    seed: int = 1234
    add_special_tokens: bool = True
    # The conversation as (role, content) turns, for backends that take messages (an OpenAI-compatible chat
    # endpoint applies the model's own chat template). Empty: `prompt` is raw text. When set, `prompt` holds
    # the same conversation rendered by the harness's chat template, for backends that take text.
    messages: tuple[tuple[str, str], ...] = ()
    top_p: float = 1.0  # nucleus sampling (1.0: off); used only when temperature > 0
    top_k: int = 0  # top-k sampling (0: off); used only when temperature > 0
    # chat-template variables for backends that apply the template themselves (an OpenAI-compatible server's
    # chat_template_kwargs), e.g. (("enable_thinking", False),); the harness's own rendering already used them
    template_kwargs: tuple[tuple[str, Any], ...] = ()
    # tools the model may call, as JSON text of an OpenAI-style `tools` list: the harness's chat template received
    # them (tools=) when it rendered `prompt`; an OpenAI-compatible server gets them with `messages`. "": none
    tools: str = ""


@dataclass
class Cost:
    """What a request cost the backend; seconds are its share of the batch it ran in."""

    prompt_tokens: int = 0  # tokens run through the model's forward pass for this request
    generated_tokens: int = 0
    seconds: float = 0.0
    ttft_s: float | None = None  # time to first token, where the engine reports it per request (vLLM)
    tpot_s: float | None = None  # mean time per output token after the first


@dataclass
class LoglikelihoodResult:
    logprobs: list[float]  # summed log-probability of each continuation
    num_tokens: list[int]  # tokens in each continuation
    is_greedy: list[bool]  # whether each continuation is the greedy one, token by token
    one_pass: bool  # True when all options were read from one forward pass over the context
    cost: Cost = field(default_factory=Cost)


@dataclass
class GenerateResult:
    text: str  # the generated text, cut at the first stop string
    finish_reason: FinishReason
    cost: Cost = field(default_factory=Cost)
    # reasoning the engine returned apart from the text (an OpenAI-compatible server's reasoning_content); None when
    # it is inside `text` (think tags) or there is none: harness/run/reasoning.py splits the two either way
    reasoning: str | None = None
    # tool calls a server returned apart from the text (an OpenAI-compatible reply's `tool_calls`, in that shape:
    # [{"type": "function", "function": {"name": ..., "arguments": "<JSON>"}}]); None: none, or they are in `text`
    tool_calls: list[dict[str, Any]] | None = None
