"""Chat formatting, done by the harness (not the engine) so every backend receives byte-identical prompts."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from harness.errors import HarnessError


class ChatFormatter:
    """Wraps a prompt (or a conversation) in the model's chat template, ready for the assistant's answer."""

    def __init__(self, tokenizer: Any, override: str | None = None, model_name: str = "") -> None:
        self.tokenizer = tokenizer
        self.kwargs: dict[str, Any] = {}  # chat-template variables of the run (Qwen3's enable_thinking)
        self.template = override or getattr(tokenizer, "chat_template", None)
        if not self.template:
            raise HarnessError(
                f"--chat-template on: model {model_name} has no chat template in its tokenizer; "
                "use --chat-template off, or add chat_template to its preset"
            )
        self.hash = hashlib.sha256(self.template.encode("utf-8")).hexdigest()[:16]
        self.model_name = model_name
        self._tools_shown = False  # the template was seen to print tools once

    def __call__(self, messages: str | list[tuple[str, str]], tools: str = "", **kwargs: Any) -> str:
        """One user turn (a string), or a whole conversation as (role, content) pairs, ready for the answer.
        `tools`: JSON text of an OpenAI-style tools list, handed to the template as `tools=` (Qwen, GLM-4.5 and
        DeepSeek-V3.1 templates show them in the prompt). `kwargs` are chat-template variables for this call
        (default: the run's, `self.kwargs`)."""
        turns = [("user", messages)] if isinstance(messages, str) else messages
        text = self._apply(turns, json.loads(tools) if tools else None, kwargs or self.kwargs)
        if tools and not self._tools_shown:
            # a template that never prints `tools` (DeepSeek-V3's) would drop them without a word
            if text == self._apply(turns, None, kwargs or self.kwargs):
                raise HarnessError(f"the chat template of {self.model_name or 'the model'} does not show tools passed "
                                   "to it (tools=); use a task that puts the tools in its prompt, or a preset "
                                   "chat_template that renders them")
            self._tools_shown = True
        return text

    def _apply(self, turns: list[tuple[str, str]], tools: list[Any] | None, kwargs: dict[str, Any]) -> str:
        extra = {"tools": tools} if tools else {}
        text = self.tokenizer.apply_chat_template(
            [{"role": r, "content": c} for r, c in turns],
            chat_template=self.template,
            tokenize=False,
            add_generation_prompt=True,
            **extra,
            **kwargs,
        )
        return text if isinstance(text, str) else text[0]


# Digits, Chinese, spaces, punctuation and a line break: where tokenizer pipelines differ.
_PROBE = "2024年第3季度营收12345678元，同比增长 40%。\nHello world! 答案：A"


def load_tokenizer(source: str, revision: str | None, trust_remote_code: bool) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(source, revision=revision, trust_remote_code=trust_remote_code)
    return faithful_tokenizer(tok, source, revision)


def faithful_tokenizer(tok: Any, source: str, revision: str | None = None) -> Any:
    """The tokenizer as its tokenizer.json defines it. transformers 5 rebuilds some tokenizer classes instead of
    reading the shipped pipeline (a folder saying LlamaTokenizerFast, as DeepSeek-V3's does, loses its own
    pre-tokenizer: Chinese text and spaces vanish from the ids, huggingface/transformers#45488). Every score of such
    a model would be silently wrong, so a probe text is encoded both ways and, when they differ, the tokenizer is
    loaded as a plain PreTrainedTokenizerFast over the shipped file (special tokens and chat template kept)."""
    path = _tokenizer_json(source, revision)
    if path is None or not getattr(tok, "is_fast", False):
        return tok
    from tokenizers import Tokenizer

    raw = Tokenizer.from_file(str(path))
    if tok(_PROBE, add_special_tokens=False)["input_ids"] == raw.encode(_PROBE, add_special_tokens=False).ids:
        return tok
    from transformers import PreTrainedTokenizerFast

    # None is the default branch: transformers passes it to resolve_revision (str | None); its annotation says str
    fixed = PreTrainedTokenizerFast.from_pretrained(source, revision=revision)  # type: ignore[arg-type]
    if fixed(_PROBE, add_special_tokens=False)["input_ids"] != raw.encode(_PROBE, add_special_tokens=False).ids:
        raise HarnessError(f"{source}: its tokenizer does not reproduce its own tokenizer.json; scores would be wrong")
    fixed.padding_side = getattr(tok, "padding_side", fixed.padding_side)
    fixed.faithful_repair = f"{type(tok).__name__} rebuilt the pipeline; loaded tokenizer.json as shipped"
    return fixed


def _tokenizer_json(source: str, revision: str | None) -> Any:
    from pathlib import Path

    local = Path(source) / "tokenizer.json"
    if local.is_file():
        return local
    try:
        from transformers.utils import cached_file

        return cached_file(source, "tokenizer.json", revision=revision, _raise_exceptions_for_missing_entries=False)
    except Exception:  # offline without a cached copy, or no such file: nothing to compare against
        return None
