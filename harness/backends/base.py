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
