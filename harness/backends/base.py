"""The interface every backend implements: two request kinds, whole batches in, results out as they finish.

Backends receive many requests of a kind at once (every request of a window of thousands of items, see
harness/run/dispatch.py) so they can sort and batch them as they see fit (and vLLM can schedule them itself); they
yield (index, result) pairs as results complete so the runner can write each sample as soon as it is done.
They never see tasks, templates or scores.
"""

from __future__ import annotations

from typing import Any, Iterator, Protocol, Sequence

from harness.types import GenerateRequest, GenerateResult, LoglikelihoodRequest, LoglikelihoodResult


class Backend(Protocol):
    name: str
    tokenizer: Any  # the model's tokenizer (None: an API backend without a local one)

    @property
    def context_length(self) -> int | None:
        """Tokens a sequence may hold; prompts are measured against it before they are sent (harness/run/context.py)."""
        ...

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> Iterator[tuple[int, LoglikelihoodResult]]:
        """Yield (index into requests, result) for every request, in any order."""
        ...

    def generate(self, requests: Sequence[GenerateRequest]) -> Iterator[tuple[int, GenerateResult]]:
        """Yield (index into requests, result) for every request, in any order."""
        ...

    def describe(self) -> dict[str, Any]:
        """Model and engine identity for the results file: dtype, device, engine versions, batch size ..."""
        ...

    def peak_memory_bytes(self) -> int | None:
        ...

    def close(self) -> None:
        """Release the engine and the accelerator memory it holds (a judge loads next on the same device); safe to
        call twice. The backend answers no request after it."""
        ...


def decode_generation(tokenizer: Any, token_ids: list[int], stop: Sequence[str]) -> tuple[str, bool]:
    """Text of generated token ids, cut before the first stop string; and whether a stop string cut it.

    Both backends decode through this one function: engines detokenize incrementally and differ on an
    incomplete multi-byte character at the end (vLLM holds it back, transformers shows U+FFFD), so decoding
    the same ids the same way is what makes their outputs byte-identical."""
    text = tokenizer.decode(token_ids, skip_special_tokens=True)
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


ENCODE_SLICE = 512


def encode_batch(tokenizer: Any, texts: list[str], add_special_tokens: bool) -> list[list[int]]:
    """Token ids of many strings in one call. A fast tokenizer's Rust backend is called directly: the
    transformers wrapper converts every encoding into a Python dict, which cost the vLLM backend 8% of raw
    vLLM's likelihood throughput on a small model. Same ids (tests/test_hf_backend.py checks)."""
    if not texts:
        return []
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return tokenizer(texts, add_special_tokens=add_special_tokens)["input_ids"]
    # a padded call through the wrapper leaves padding switched on in the backend: switch it off for this call
    padding, truncation = backend.padding, backend.truncation
    backend.no_padding()
    backend.no_truncation()
    try:
        # in slices: an Encoding also holds token strings, offsets and masks (~100 bytes a token), and a run of
        # 20,000 requests encoded at once raised the process's peak memory by gigabytes
        out: list[list[int]] = []
        for lo in range(0, len(texts), ENCODE_SLICE):
            out.extend(e.ids for e in backend.encode_batch(texts[lo : lo + ENCODE_SLICE], add_special_tokens=add_special_tokens))
        return out
    finally:
        if padding is not None:
            backend.enable_padding(**{k: v for k, v in padding.items() if k != "pad_to_multiple_of" or v})
        if truncation is not None:
            backend.enable_truncation(**truncation)


def encode_requests(tokenizer: Any, requests: Sequence[LoglikelihoodRequest]) -> list[tuple[list[int], list[list[int]]]]:
    """(context ids, [context+continuation ids]) for every request, in two batched calls per special-token
    setting. Context and continuation are tokenized together: Chinese has no space between them, so tokenizing
    them apart would shift token boundaries."""
    out: list[tuple[list[int], list[list[int]]]] = [([], []) for _ in requests]
    for special in (True, False):
        idx = [i for i, r in enumerate(requests) if r.add_special_tokens is special]
        if not idx:
            continue
        ctxs = encode_batch(tokenizer, [requests[i].context for i in idx], special)
        wholes = encode_batch(tokenizer, [requests[i].context + c for i in idx for c in requests[i].continuations], special)
        pos = 0
        for i, ctx in zip(idx, ctxs):
            k = len(requests[i].continuations)
            out[i] = (ctx, wholes[pos : pos + k])
            pos += k
    return out


def is_one_pass(ctx: list[int], wholes: list[list[int]]) -> bool:
    """Every option is one token appended to the unchanged context: all can be read at the context's last
    position (the tokenizer did not merge any option with the end of the context)."""
    return bool(ctx) and all(len(w) == len(ctx) + 1 and w[:-1] == ctx for w in wholes)


def continuation_start(ctx: list[int], whole: list[int], request: int) -> int:
    """Index of the first scored token of context+continuation: the end of its longest common prefix with the
    context (a merge across the boundary moves it left), leaving at least one token to score."""
    n = 0
    while n < min(len(ctx), len(whole)) and ctx[n] == whole[n]:
        n += 1
    n = min(n, len(whole) - 1)
    if n < 1:
        from harness.errors import HarnessError

        raise HarnessError(f"likelihood request {request}: empty context or continuation cannot be scored")
    return n
