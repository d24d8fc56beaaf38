"""Chat formatting, done by the harness (not the engine) so every backend receives byte-identical prompts."""

from __future__ import annotations

import hashlib
from typing import Any

from harness.errors import HarnessError


class ChatFormatter:
    """Wraps a prompt (or a conversation) in the model's chat template, ready for the assistant's answer."""

    def __init__(self, tokenizer: Any, override: str | None = None, model_name: str = "") -> None:
        self.tokenizer = tokenizer
        self.template = override or getattr(tokenizer, "chat_template", None)
        if not self.template:
            raise HarnessError(
                f"--chat-template on: model {model_name} has no chat template in its tokenizer; "
                "use --chat-template off, or add chat_template to its preset"
            )
        self.hash = hashlib.sha256(self.template.encode("utf-8")).hexdigest()[:16]

    def __call__(self, messages: str | list[tuple[str, str]]) -> str:
        """One user turn (a string), or a whole conversation as (role, content) pairs, ready for the answer."""
        turns = [("user", messages)] if isinstance(messages, str) else messages
        text = self.tokenizer.apply_chat_template(
            [{"role": r, "content": c} for r, c in turns],
            chat_template=self.template,
            tokenize=False,
            add_generation_prompt=True,
        )
        return text if isinstance(text, str) else text[0]


def load_tokenizer(source: str, revision: str | None, trust_remote_code: bool) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(source, revision=revision, trust_remote_code=trust_remote_code)
