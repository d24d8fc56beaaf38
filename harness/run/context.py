"""One context policy for every backend: a prompt that does not fit the model's context is never truncated.

The harness measures every request with the model's own tokenizer before it is sent, the same way on the
transformers, vLLM and OpenAI-compatible backends, so a score never depends on how an engine would have cut or
refused a long prompt:

- likelihood: the context plus its longest continuation must fit;
- generation: the prompt must leave room for at least one new token; when it leaves less than the task's budget,
  the budget is lowered to the room left for that request alone (counted as `budget_capped`), so it never depends
  on which other prompts share a batch.

What happens to an item that does not fit is the task's `context_policy` (or --context-policy): `skip` leaves it
out of the score, `fewer_shots` drops exemplars from the end until it fits (then skips). Either way it is counted
per task in the results, the summary and on the leaderboard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from harness.backends.base import encode_batch
from harness.types import LoglikelihoodRequest

POLICIES = ("skip", "fewer_shots")


@dataclass
class ContextTally:
    """What a task's items needed that the run did not do as asked (all counts of items, except `budget_capped`,
    which counts generation requests)."""

    limit: int | None = None
    policy: str = "skip"
    skipped: int = 0  # left out of the score: too long even with the policy applied
    fewer_shots: int = 0  # fitted by dropping exemplars
    budget_capped: int = 0  # generation requests whose max_new_tokens was lowered to the room left
    excluded: dict[str, list[str]] = field(default_factory=dict)  # reason -> sample ids left out by rule

    def exclude(self, reason: str, sample_id: str) -> None:
        self.excluded.setdefault(reason, []).append(sample_id)

    def report(self) -> dict[str, Any]:
        return {"limit": self.limit, "policy": self.policy, "skipped": self.skipped, "fewer_shots": self.fewer_shots,
                "budget_capped": self.budget_capped,
                "excluded": {k: {"count": len(v), "ids": v} for k, v in sorted(self.excluded.items())}}


class ContextFit:
    """Token lengths of requests as the backend will see them (same tokenizer, same special-token setting)."""

    def __init__(self, tokenizer: Any, limit: int | None) -> None:
        self.tokenizer = tokenizer
        self.limit = limit
        self._cont: dict[str, int] = {}

    @property
    def active(self) -> bool:
        return self.tokenizer is not None and bool(self.limit)

    def likelihood_lengths(self, requests: Sequence[LoglikelihoodRequest]) -> list[int]:
        """Tokens of context + longest continuation. A cheap bound (context tokens + the longest continuation
        tokenized alone + 1 for a merge at the boundary) settles most requests; the ones near the limit are
        tokenized together exactly, the way the backends score them."""
        out = [0] * len(requests)
        for special in (True, False):
            idx = [i for i, r in enumerate(requests) if r.add_special_tokens is special]
            for i, ctx in zip(idx, encode_batch(self.tokenizer, [requests[i].context for i in idx], special)):
                r = requests[i]
                bound = len(ctx) + max((self._cont_len(c) for c in r.continuations), default=0) + 1
                if self.limit is None or bound <= self.limit:
                    out[i] = bound
                else:
                    wholes = encode_batch(self.tokenizer, [r.context + c for c in r.continuations], special)
                    out[i] = max((len(w) for w in wholes), default=len(ctx))
        return out

    def prompt_lengths(self, texts: Sequence[str], special: bool) -> list[int]:
        return [len(ids) for ids in encode_batch(self.tokenizer, list(texts), special)]

    def _cont_len(self, text: str) -> int:
        n = self._cont.get(text)
        if n is None:
            n = len(encode_batch(self.tokenizer, [text], False)[0])
            if len(self._cont) < 100_000:
                self._cont[text] = n
        return n


def backend_context(backend: Any) -> ContextFit:
    """The backend's tokenizer and context length (an API backend without a local tokenizer has neither: its
    prompts cannot be measured here, which the results record as an unchecked context)."""
    limit = getattr(backend, "context_length", None)
    return ContextFit(getattr(backend, "tokenizer", None), int(limit) if limit else None)
