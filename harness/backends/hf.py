"""Hugging Face transformers backend: CPU, CUDA and every accelerator torch exposes (npu, xpu, mlu, hpu, mps) with
the same code (device operations through harness/backends/accelerator.py).

Likelihood. When every option is one token that the tokenizer does not merge with the end of the context
(encoding context+option == encoding context followed by one token), one forward pass over the context gives
all option log-probabilities at its last position: one pass per question instead of one per option. Otherwise
each context+continuation is tokenized *together* and split at the longest common prefix with the context
(Chinese has no space between the two, so separate tokenization would shift token boundaries), and the
continuation tokens are scored. Sequences are left-padded with explicit position ids, so every sequence ends
at the last position and only the last K positions go through the vocabulary projection (`logits_to_keep`):
one position on the one-pass path, never a batch x length x vocabulary tensor.

Many options. When a request has more than SHARED_PREFIX_MIN_OPTIONS multi-token options (IFLYTEK's 119
numbered classes), the context is run once and every option's remaining tokens are scored against a copy of its
KV cache, instead of running the whole prompt once per option: the guide's "share the common prefix".

Generation. Left padding, greedy unless a temperature is given, stop strings checked during generation and
cut afterwards.

Batches are sorted longest first; on accelerator out-of-memory the batch size halves and the batch is retried, which
changes nothing in the scores because every row is computed independently of its neighbours.
"""

from __future__ import annotations

import copy
import inspect
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import torch
import transformers

from harness.backends import accelerator as accel
from harness.backends.accelerator import resolve_device  # noqa: F401  (any torch accelerator: cuda, npu, xpu, mlu, hpu, mps)
from harness.backends.base import continuation_start, decode_generation, encode_batch, encode_requests, is_one_pass
from harness.errors import HarnessError
from harness.results.throughput import model_devices
from harness.types import Cost, FinishReason, GenerateRequest, GenerateResult, LoglikelihoodRequest, LoglikelihoodResult

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
SHARED_PREFIX_MIN_OPTIONS = 5  # below this, batching whole sequences across requests is the better deal


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        return accel.auto_dtype(device)
    if dtype not in DTYPES:
        raise HarnessError(f"--dtype: '{dtype}' is not one of auto, {', '.join(DTYPES)}")
    return DTYPES[dtype]


LIKELIHOOD_WINDOW = 4096  # requests tokenized, sorted and batched together (see loglikelihood)


@dataclass
class _Job:
    """One forward sequence: its tokens, and which positions are scored for which request/option."""

    ids: list[int]
    req: int
    option: int | None  # None: the one-pass job of a request, scoring every option at the last position
    start: int  # index of the first scored token (the continuation's first token)
    targets: list[int] = field(default_factory=list)  # one-pass: each option's single token


@dataclass
class _Shared:
    """A request whose options are scored against one shared run of their common prefix."""

    req: int
    prefix: list[int]
    wholes: list[list[int]]  # each option's full sequence (prefix + rest)
    starts: list[int]  # index of each option's first scored token (>= len(prefix))


class _StopInGenerated(transformers.StoppingCriteria):
    """Stop a row once its generated text holds a stop string. transformers' own `stop_strings` also matches
    across the end of the prompt (a prompt ending in "\n\n" and one generated "\n" met a "\n\n\n" stop at once),
    which vLLM never does: only generated tokens are looked at here. A stop string that newly appears ends in the
    latest token, so decoding the last few tokens (at least one character each, plus room for a character split
    over several byte tokens) is enough."""

    def __init__(self, tokenizer: Any, stops: Sequence[str], prompt_width: int) -> None:
        self.tokenizer, self.stops, self.start = tokenizer, [x for x in stops if x], prompt_width
        self.window = max((len(x) for x in self.stops), default=0) + 4

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        tails = input_ids[:, max(self.start, input_ids.shape[1] - self.window):].tolist()
        texts = self.tokenizer.batch_decode(tails, skip_special_tokens=True)
        return torch.tensor([any(x in t for x in self.stops) for t in texts], device=input_ids.device)


class HFBackend:
    name = "hf"

    def __init__(
        self,
        model: str,
        *,
        revision: str | None = None,
        dtype: str = "auto",
        device: str = "auto",
        batch_size: int | str = "auto",
        trust_remote_code: bool = False,
        max_length: int | None = None,
        one_pass: bool = True,
    ) -> None:
        transformers.utils.logging.disable_progress_bar()
        self.device = resolve_device(device)
        self.torch_dtype = resolve_dtype(dtype, self.device)
        self.model_path = model
        kw: dict[str, Any] = dict(revision=revision, trust_remote_code=trust_remote_code)
        from harness.models.chat import faithful_tokenizer

        self.tokenizer = faithful_tokenizer(transformers.AutoTokenizer.from_pretrained(model, **kw), model, revision)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = transformers.AutoModelForCausalLM.from_pretrained(model, dtype=self.torch_dtype, **kw)
        # transformers wraps PreTrainedModel.to with functools.wraps, which typeshed does not bind as a method
        self.model.to(self.device).eval()  # type: ignore[arg-type]
        self.batch_size = self._initial_batch_size(batch_size)
        self.max_length = max_length or self._model_max_length()
        self._keeps_logits = "logits_to_keep" in inspect.signature(self.model.forward).parameters
        gen_eos = self.model.generation_config.eos_token_id
        eos = gen_eos if isinstance(gen_eos, list) else [gen_eos]
        self.eos_ids = {i for i in eos + [self.tokenizer.eos_token_id] if i is not None}
        self.one_pass = one_pass  # False forces one forward per option (for benchmarks and equivalence tests)
        self.shared_prefix = True  # False scores many-option requests as whole sequences (for equivalence tests)

    # ---- setup -----------------------------------------------------------------------------------------
    def _initial_batch_size(self, batch_size: int | str) -> int:
        if batch_size == "auto":
            return 16 if self.device.type == "cpu" else 64
        try:
            value = int(batch_size)
        except ValueError:
            value = 0
        if value < 1:
            raise HarnessError(f"--batch-size: '{batch_size}' must be a positive integer or auto")
        return value

    def _model_max_length(self) -> int:
        cfg = self.model.config
        for key in ("max_position_embeddings", "seq_length", "n_positions"):
            if isinstance(getattr(cfg, key, None), int):
                return int(getattr(cfg, key))
        return 4096

    def describe(self) -> dict[str, Any]:
        return {
            "engine": "transformers",
            "engine_version": transformers.__version__,
            "torch_version": torch.__version__,
            "device": str(self.device),
            "devices": model_devices(self.model, self.device),  # all of them, for a model split over several
            "dtype": str(self.torch_dtype).removeprefix("torch."),
            "batch_size": self.batch_size,
            "attn_implementation": getattr(self.model.config, "_attn_implementation", None),
            "model_class": type(self.model).__name__,
            "tokenizer_repair": getattr(self.tokenizer, "faithful_repair", None),
            "one_pass_likelihood": self.one_pass,
            "shared_prefix_likelihood": self.shared_prefix,
        }

    @property
    def context_length(self) -> int:
        """Tokens a sequence may hold (prompt + continuation or generation); the harness never sends more."""
        return self.max_length

    def peak_memory_bytes(self) -> int | None:
        """Summed over every device holding a part of the model; None on CPU (the runner records peak RSS)."""
        if self.model is None:  # closed
            return None
        return accel.peak_memory_bytes([torch.device(d) for d in model_devices(self.model, self.device)])

    def close(self) -> None:
        """Drop the weights and return the accelerator's cached memory, so a judge can load on the same device."""
        if getattr(self, "model", None) is None:
            return
        self.model = None  # type: ignore[assignment]
        import gc

        gc.collect()
        accel.empty_cache(self.device)

    # ---- likelihood ------------------------------------------------------------------------------------
    def _plan(self, i: int, ctx: list[int], wholes: list[list[int]]) -> list[_Job] | _Shared:
        if self.one_pass and is_one_pass(ctx, wholes):
            return [_Job(ids=ctx, req=i, option=None, start=len(ctx), targets=[w[-1] for w in wholes])]
        jobs = [_Job(ids=whole, req=i, option=j, start=continuation_start(ctx, whole, i)) for j, whole in enumerate(wholes)]
        if self.shared_prefix and len(jobs) >= SHARED_PREFIX_MIN_OPTIONS:
            return _Shared(req=i, prefix=wholes[0][: min(j.start for j in jobs)], wholes=wholes, starts=[j.start for j in jobs])
        return jobs

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> Iterator[tuple[int, LoglikelihoodResult]]:
        """Requests are tokenized, sorted by length and batched a window at a time: sorting within 4,096
        requests keeps batches nearly as tight as sorting all, and memory stays flat however many there are."""
        for lo in range(0, len(requests), LIKELIHOOD_WINDOW):
            for i, res in self._loglikelihood_window(requests[lo : lo + LIKELIHOOD_WINDOW]):
                yield lo + i, res

    def _loglikelihood_window(self, requests: Sequence[LoglikelihoodRequest]) -> Iterator[tuple[int, LoglikelihoodResult]]:
        jobs: list[_Job] = []
        shared: list[_Shared] = []
        pending: dict[int, int] = {}
        results: dict[int, LoglikelihoodResult] = {}
        encoded = encode_requests(self.tokenizer, requests)
        for i, r in enumerate(requests):
            self._check_fits(i, *encoded[i])
            planned = self._plan(i, *encoded[i])
            if isinstance(planned, _Shared):
                shared.append(planned)
                continue
            jobs.extend(planned)
            pending[i] = len(planned)
            k = len(r.continuations)
            results[i] = LoglikelihoodResult([0.0] * k, [1] * k, [False] * k, planned[0].option is None, Cost())
        for sh in shared:
            yield sh.req, self._score_shared(sh)
        jobs.sort(key=lambda j: -len(j.ids))
        for batch, seconds in self._batches(jobs, self._score_batch):
            total = sum(len(j.ids) for j, _ in batch) or 1
            for job, (logps, greedy, ntok) in batch:
                res = results[job.req]
                res.cost.prompt_tokens += len(job.ids)
                res.cost.seconds += seconds * len(job.ids) / total
                if job.option is None:
                    res.logprobs, res.is_greedy, res.num_tokens = logps, greedy, [1] * len(logps)
                else:
                    res.logprobs[job.option], res.is_greedy[job.option] = logps[0], greedy[0]
                    res.num_tokens[job.option] = ntok
                pending[job.req] -= 1
                if pending[job.req] == 0:
                    yield job.req, results.pop(job.req)

    @torch.inference_mode()
    def _score_shared(self, sh: _Shared) -> LoglikelihoodResult:
        """Run the common prefix once, then each option's remaining tokens against a copy of its KV cache."""
        start = time.perf_counter()
        p = len(sh.prefix)
        out = self.model(input_ids=torch.tensor([sh.prefix], device=self.device), use_cache=True)
        cache = out.past_key_values
        last = torch.log_softmax(out.logits[0, -1].float(), dim=-1)  # predicts the token right after the prefix
        k = len(sh.wholes)
        logprobs, greedy, ntok = [0.0] * k, [False] * k, [0] * k
        forwarded = p
        for lo in range(0, k, self.batch_size):
            idx = list(range(lo, min(k, lo + self.batch_size)))
            rests = [sh.wholes[j][p:] for j in idx]
            width = max(len(r) for r in rests)
            ids = torch.full((len(idx), width), self.tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(idx), p + width), dtype=torch.long)
            mask[:, :p] = 1
            for b, rest in enumerate(rests):
                ids[b, : len(rest)] = torch.tensor(rest)
                mask[b, p : p + len(rest)] = 1
            forwarded += sum(len(r) for r in rests)
            past = copy.deepcopy(cache)
            past.batch_repeat_interleave(len(idx))
            pos = torch.arange(p, p + width).expand(len(idx), -1)
            logits = self.model(
                input_ids=ids.to(self.device), attention_mask=mask.to(self.device), position_ids=pos.to(self.device),
                past_key_values=past, use_cache=True,
            ).logits
            logp = torch.log_softmax(logits.float(), dim=-1)
            for b, j in enumerate(idx):
                whole, first = sh.wholes[j], sh.starts[j]
                total, is_greedy = 0.0, True
                for t in range(first, len(whole)):  # token t is predicted at position t - 1
                    row = last if t - 1 == p - 1 else logp[b, t - 1 - p]
                    total += float(row[whole[t]])
                    is_greedy = is_greedy and int(row.argmax()) == whole[t]
                logprobs[j], greedy[j], ntok[j] = total, is_greedy, len(whole) - first
        accel.synchronize(self.device)
        cost = Cost(prompt_tokens=forwarded, seconds=time.perf_counter() - start)
        return LoglikelihoodResult(logprobs, ntok, greedy, False, cost)

    def _check_fits(self, i: int, ctx: list[int], wholes: list[list[int]]) -> None:
        """Never truncate (that would score a different question): the harness measures prompts first and leaves
        out what does not fit (harness/run/context.py), so this only stops a direct caller."""
        longest = max([len(ctx) + 1, *(len(w) for w in wholes)])
        if longest > self.max_length:
            raise HarnessError(f"likelihood request {i}: {longest} tokens exceed the model's context of {self.max_length}")

    @torch.inference_mode()
    def _score_batch(self, jobs: list[_Job]) -> list[tuple[list[float], list[bool], int]]:
        # positions scored, counted from the end: one-pass jobs read the last position only
        keep = max(1 if j.option is None else len(j.ids) - j.start + 1 for j in jobs)
        logits = self._forward_last(jobs, keep).float()
        logp = torch.log_softmax(logits, dim=-1)  # [B, keep, V]
        out = []
        for b, j in enumerate(jobs):
            if j.option is None:
                row = logp[b, -1]
                targets = torch.tensor(j.targets, device=row.device)
                best = int(row.argmax())
                out.append((row[targets].tolist(), [t == best for t in j.targets], 1))
            else:
                n = len(j.ids) - j.start  # continuation tokens; predicted from positions -n-1 .. -2
                span = logp[b, keep - n - 1 : keep - 1]
                tgt = torch.tensor(j.ids[j.start :], device=span.device)
                lp = span.gather(1, tgt[:, None]).squeeze(1)
                greedy = bool((span.argmax(-1) == tgt).all())
                out.append(([float(lp.sum())], [greedy], n))
        return out

    def _forward_last(self, jobs: list[_Job], keep: int) -> torch.Tensor:
        """Logits of the last `keep` positions of each left-padded sequence: [B, keep, V]."""
        width = max(len(j.ids) for j in jobs)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(jobs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(jobs), width), dtype=torch.long)
        for b, j in enumerate(jobs):
            ids[b, width - len(j.ids) :] = torch.tensor(j.ids)
            mask[b, width - len(j.ids) :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        kwargs: dict[str, Any] = dict(input_ids=ids, attention_mask=mask, position_ids=position_ids, use_cache=False)
        if self._keeps_logits:
            return self.model(**kwargs, logits_to_keep=keep).logits[:, -keep:]
        return self.model(**kwargs).logits[:, -keep:]

    # ---- generation ------------------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerateRequest]) -> Iterator[tuple[int, GenerateResult]]:
        """Requests are grouped by their decoding settings and their own token budget: a request's budget is
        min(max_new_tokens, context - its own prompt), never the room left by the longest prompt of its batch, so
        what it generates does not depend on which requests share its batch."""
        lengths: dict[int, int] = {}
        for special in (True, False):
            idx = [i for i, r in enumerate(requests) if r.add_special_tokens is special]
            lengths.update((i, len(x)) for i, x in zip(idx, encode_batch(self.tokenizer, [requests[i].prompt for i in idx], special)))
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            room = self.max_length - lengths[i]
            if room < 1:
                raise HarnessError(f"generation request {i}: a prompt of {lengths[i]} tokens leaves no room in the "
                                   f"model's context of {self.max_length}")
            budget = min(r.max_new_tokens, room)
            top = (r.top_p, r.top_k) if r.temperature > 0 else (1.0, 0)  # used only when sampling
            groups.setdefault((budget, r.temperature, r.stop, r.add_special_tokens, r.seed, *top), []).append(i)
        for key, idxs in groups.items():
            items = sorted(idxs, key=lambda i: -lengths[i])
            run = lambda batch, budget=key[0]: self._generate_batch([requests[i] for i in batch], budget)  # noqa: E731
            for batch, seconds in self._batches(items, run):
                total = sum(lengths[i] + res.cost.generated_tokens for i, res in batch) or 1
                for i, res in batch:
                    res.cost.prompt_tokens = lengths[i]
                    res.cost.seconds = seconds * (lengths[i] + res.cost.generated_tokens) / total
                    yield i, res

    @torch.inference_mode()
    def _generate_batch(self, reqs: list[GenerateRequest], budget: int) -> list[GenerateResult]:
        """One batch sharing a budget; every row's prompt leaves room for it (see `generate`)."""
        r0 = reqs[0]
        enc = self.tokenizer([r.prompt for r in reqs], return_tensors="pt", padding=True, add_special_tokens=r0.add_special_tokens)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        kwargs: dict[str, Any] = dict(max_new_tokens=budget, pad_token_id=self.tokenizer.pad_token_id)
        if r0.temperature > 0:
            torch.manual_seed(r0.seed)
            kwargs.update(do_sample=True, temperature=r0.temperature, top_p=r0.top_p, top_k=max(r0.top_k, 0))  # 0: off
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if r0.stop:
            width = enc["input_ids"].shape[1]
            kwargs["stopping_criteria"] = transformers.StoppingCriteriaList([_StopInGenerated(self.tokenizer, r0.stop, width)])
        # transformers annotates generate's self as its GenerativePreTrainedModel protocol, which its own
        # AutoModelForCausalLM result type (_BaseModelWithGenerate) does not satisfy
        out = self.model.generate(**enc, **kwargs)  # type: ignore[misc]
        new = out[:, enc["input_ids"].shape[1] :].tolist()
        return [self._finish(row, r0.stop, kwargs["max_new_tokens"]) for row in new]

    def _finish(self, row: list[int], stop: tuple[str, ...], limit: int) -> GenerateResult:
        """Where generation really ended. Rows that finished early are padded, and the pad token is often an
        EOS token too (Qwen), so the first EOS/pad is only a candidate end: if the text before it holds a stop
        string, the row ended at the token that completed the stop string (found by bisection); otherwise at a
        real EOS, which is counted, as vLLM counts it."""
        end = next((k for k, tok in enumerate(row) if tok in self.eos_ids or tok == self.tokenizer.pad_token_id), len(row))
        text, stopped = decode_generation(self.tokenizer, row[:end], stop)
        if stopped:
            lo, hi = 1, end  # smallest n whose decoded prefix contains a stop string
            while lo < hi:
                mid = (lo + hi) // 2
                if decode_generation(self.tokenizer, row[:mid], stop)[1]:
                    hi = mid
                else:
                    lo = mid + 1
            return GenerateResult(text=text, finish_reason="stop", cost=Cost(generated_tokens=lo))
        if end < len(row) and row[end] in self.eos_ids:
            return GenerateResult(text=text, finish_reason="eos", cost=Cost(generated_tokens=end + 1))
        reason: FinishReason = "length" if end >= limit else "stop"  # padding without EOS: halted by a stop string cut mid-character
        return GenerateResult(text=text, finish_reason=reason, cost=Cost(generated_tokens=end))

    # ---- batching --------------------------------------------------------------------------------------
    def _batches(self, items: list, run) -> Iterator[tuple[list[tuple[Any, Any]], float]]:
        """Run `items` in batches; yield ([(item, output)], seconds). Halve the batch size on out-of-memory."""
        pos = 0
        while pos < len(items):
            batch = items[pos : pos + self.batch_size]
            start = time.perf_counter()
            try:
                outputs = run(batch)
                accel.synchronize(self.device)
            except RuntimeError as e:  # torch.OutOfMemoryError, or a vendor's RuntimeError saying so
                if not accel.is_out_of_memory(e):
                    raise
                if self.batch_size == 1:
                    raise HarnessError("out of accelerator memory even at batch size 1; try a smaller --max-model-len or dtype") from None
                accel.empty_cache(self.device)
                self.batch_size = max(1, self.batch_size // 2)
                continue
            pos += len(batch)
            yield list(zip(batch, outputs)), time.perf_counter() - start
