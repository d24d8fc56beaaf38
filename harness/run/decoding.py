"""How each task's answers are generated in a run: budget, sampling, samples per item, stop strings.

Precedence, per setting: a flag (--max-new-tokens, --temperature, --top-p, --top-k, --samples), else the model
card's recommendation for the mode the run is in (the preset's `decoding.thinking` / `decoding.non_thinking`), else
the task's own `generation` block (a preset's `generation.max_new_tokens` raising the task's budget to its floor).
With thinking on, the task's stop strings are applied to the answer after the reasoning, not during generation
("\\n\\n" would otherwise end the thinking), and the budget is at least DEFAULT_THINKING_BUDGET unless set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from harness.errors import HarnessError
from harness.models.presets import effective_max_new_tokens

DEFAULT_THINKING_BUDGET = 32768  # Qwen3's and DeepSeek-R1's cards recommend 32k output tokens


@dataclass(frozen=True)
class GenSettings:
    max_new_tokens: int
    temperature: float
    top_p: float
    top_k: int
    samples: int  # generations per item: avg@N (and pass@k for execution and numeric tasks)
    stop: tuple[str, ...]  # sent to the engine
    answer_stop: tuple[str, ...]  # cut from the answer after the reasoning (thinking runs)

    def report(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop"], d["answer_stop"] = list(self.stop), list(self.answer_stop)
        return d


@dataclass(frozen=True)
class DecodingFlags:
    max_new_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    samples: int | None = None


def settings_for(task_gen: Any, preset: Any, thinking: bool, flags: DecodingFlags, task: str,
                 metrics: tuple[str, ...] = ()) -> GenSettings:
    """`task_gen`: the task's GenerationSpec; `preset`: a models.Preset or None."""
    card = (preset.decoding.get("thinking" if thinking else "non_thinking") if preset is not None else None)

    def pick(flag: Any, card_value: Any, default: Any) -> Any:
        if flag is not None:
            return flag
        return card_value if card_value is not None else default

    budget = effective_max_new_tokens(task_gen.max_new_tokens, preset, flags.max_new_tokens)  # flag, or task vs floor
    card_budget = card.max_new_tokens if card is not None else None
    if flags.max_new_tokens is None:
        budget = max(budget, card_budget or 0, DEFAULT_THINKING_BUDGET if thinking and not card_budget else 0)
    temperature = pick(flags.temperature, card.temperature if card else None, task_gen.temperature)
    top_p = pick(flags.top_p, card.top_p if card else None, 1.0)
    top_k = pick(flags.top_k, card.top_k if card else None, 0)
    samples = flags.samples if flags.samples is not None else task_gen.samples
    if samples > 1 and temperature == 0:
        raise HarnessError(f"--samples {samples}: task {task} would generate the same greedy answer {samples} times; "
                           "give --temperature > 0 (a reasoning preset's model card sets one in thinking mode)")
    for m in metrics:
        if m.startswith("pass@") and int(m[5:]) > samples:
            raise HarnessError(f"--samples {samples}: task {task} reports {m}, which needs at least {m[5:]} samples per item")
    stop = tuple(task_gen.stop)
    return GenSettings(budget, float(temperature), float(top_p), int(top_k), samples,
                       () if thinking else stop, stop if thinking else ())
