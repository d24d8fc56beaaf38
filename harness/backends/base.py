"""The interface every backend implements: two request kinds, whole batches in, results out as they finish.

Backends receive *all* requests of a kind at once so they can sort and batch them as they see fit (and vLLM
can schedule them itself); they yield (index, result) pairs as results complete so the runner can write each
sample as soon as it is done. They never see tasks, templates or scores.
"""

from __future__ import annotations

from typing import Any, Iterator, Protocol, Sequence

from harness.types import GenerateRequest, GenerateResult, LoglikelihoodRequest, LoglikelihoodResult


class Backend(Protocol):
    name: str

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> Iterator[tuple[int, LoglikelihoodResult]]:
        """Yield (index into requests, result) for every request, in any order."""
        ...

    def generate(self, requests: Sequence[GenerateRequest]) -> Iterator[tuple[int, GenerateResult]]:
        """Yield (index into requests, result) for every request, in any order."""
        ...

    def apply_chat_template(self, user_message: str) -> str:
        """The model's chat template around one user turn, with the generation prompt, as a string."""
        ...

    def describe(self) -> dict[str, Any]:
        """Model and engine identity for the results file: dtype, device, engine versions, batch size ..."""
        ...

    def peak_memory_bytes(self) -> int | None:
        ...


def decode_generation(tokenizer: Any, token_ids: list[int], stop: Sequence[str]) -> tuple[str, bool]:
    """Text of generated token ids, cut before the first stop string; and whether a stop string cut it.

    Both backends decode through this one function: engines detokenize incrementally and differ on an
    incomplete multi-byte character at the end (vLLM holds it back, transformers shows U+FFFD), so decoding
    the same ids the same way is what makes their outputs byte-identical."""
    text = tokenizer.decode(token_ids, skip_special_tokens=True)
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
