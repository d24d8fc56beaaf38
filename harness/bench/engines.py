"""The harness's own engines as benchmark servers, fed by the same arrival schedule a client would send.

transformers (hf): static batching, as a plain transformers server serves: waiting requests (up to the batch size,
or --max-concurrency) start together and the next batch starts when the whole batch has finished. A stopping
criterion notes the time of every decoding step (after synchronising the accelerator), so each request gets its
TTFT, its gaps between tokens and its latency, from the moment it was admitted.

vLLM: continuous batching through the engine's own step loop (`LLM.llm_engine.add_request` / `step`, output kind
DELTA): requests join when they arrive and the time a step returns new tokens for a request is that chunk's time.

Either way a request is "sent" when it is admitted: at its arrival, or, with --max-concurrency, once fewer than
that many are in flight (as vLLM's client waits on its semaphore before it sends)."""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Callable, Sequence

from harness.bench.metrics import RequestRecord
from harness.bench.workload import BenchPrompt

OnDone = Callable[[RequestRecord], None]


class _Admission:
    """Arrived requests, admitted in order while fewer than `cap` are in flight. A request's start (when a client
    would have sent it) is its arrival, or the moment a slot freed if all were taken when it arrived."""

    def __init__(self, arrivals: Sequence[float], cap: int | None, t0: float) -> None:
        self.arrivals, self.cap, self.t0 = arrivals, cap, t0
        self.next = 0
        self.in_flight = 0
        self.free_since = t0  # when in_flight last dropped below cap

    def admit(self, now: float) -> list[tuple[int, float]]:
        """(index, start time) of the requests that may start now."""
        out = []
        while self.next < len(self.arrivals) and self.t0 + self.arrivals[self.next] <= now \
                and (self.cap is None or self.in_flight < self.cap):
            out.append((self.next, max(self.t0 + self.arrivals[self.next], self.free_since)))
            self.next += 1
            self.in_flight += 1
        return out

    def finished(self, now: float) -> None:
        if self.cap is not None and self.in_flight == self.cap:
            self.free_since = now
        self.in_flight -= 1

    def wait_for_next(self) -> None:
        if self.next < len(self.arrivals) and (self.cap is None or self.in_flight < self.cap):
            time.sleep(max(0.0, self.t0 + self.arrivals[self.next] - time.perf_counter()))


def _sync(device: Any) -> None:
    """Wait for the accelerator, so a step's time is when its tokens exist (CPU: nothing to wait for)."""
    import torch

    kind = getattr(device, "type", str(device))
    mod = getattr(torch, kind, None) if kind != "cpu" else None
    if mod is not None and hasattr(mod, "synchronize"):
        mod.synchronize()


class HFServer:
    """Static batches on a loaded HFBackend."""

    def __init__(self, backend: Any, temperature: float = 0.0, ignore_eos: bool = False, seed: int = 0) -> None:
        self.backend, self.temperature, self.ignore_eos, self.seed = backend, temperature, ignore_eos, seed

    def run(self, prompts: Sequence[BenchPrompt], arrivals: Sequence[float], cap: int | None, on_done: OnDone) -> float:
        batch_cap = min(cap or self.backend.batch_size, self.backend.batch_size)
        t0 = time.perf_counter()
        adm = _Admission(arrivals, cap, t0)
        queue: deque[tuple[int, float]] = deque()
        done = 0
        while done < len(prompts):
            queue.extend(adm.admit(time.perf_counter()))
            if not queue:
                adm.wait_for_next()
                continue
            batch = [queue.popleft() for _ in range(min(batch_cap, len(queue)))]
            records = self._batch([(i, prompts[i], start) for i, start in batch])
            now = time.perf_counter()
            for rec in records:
                adm.finished(now)
                done += 1
                on_done(rec)
        return time.perf_counter() - t0

    def _batch(self, rows: list[tuple[int, BenchPrompt, float]]) -> list[RequestRecord]:
        import torch
        import transformers

        b = self.backend
        pad = b.tokenizer.pad_token_id
        width = max(len(p.ids or ()) for _, p, _ in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for k, (_, p, _) in enumerate(rows):
            n = len(p.ids or ())
            ids[k, width - n:] = torch.tensor(p.ids or (), dtype=torch.long)
            mask[k, width - n:] = 1
        limits = torch.tensor([p.output_len for _, p, _ in rows])
        times: list[float] = []
        device = b.device

        class Steps(transformers.StoppingCriteria):
            def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kw: Any) -> torch.Tensor:
                _sync(device)
                times.append(time.perf_counter())
                return (limits.to(input_ids.device) <= len(times))

        budget = int(limits.max())
        kwargs: dict[str, Any] = dict(max_new_tokens=budget, pad_token_id=pad, attention_mask=mask.to(device),
                                      stopping_criteria=transformers.StoppingCriteriaList([Steps()]))
        if self.ignore_eos:
            kwargs["min_new_tokens"] = budget  # EOS suppressed; each row still stops at its own length (Steps)
        if self.temperature > 0:
            torch.manual_seed(self.seed)
            kwargs.update(do_sample=True, temperature=self.temperature, top_p=1.0, top_k=0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = b.model.generate(ids.to(device), **kwargs)
        new = out[:, width:].tolist()
        records = []
        for k, (i, p, start) in enumerate(rows):
            row = new[k][: p.output_len]
            n = len(row)
            if not self.ignore_eos:
                n = next((j + 1 for j, tok in enumerate(row) if tok in b.eos_ids), n)
            n = max(1, min(n, len(times)))
            rec = RequestRecord(i, start=start, prompt_len=len(p.ids or ()), output_len=n, success=True)
            rec.ttft = times[0] - start
            rec.itl = [times[j] - times[j - 1] for j in range(1, n)]
            rec.latency = times[n - 1] - start
            records.append(rec)
        return records


class VLLMServer:
    """Continuous batching on a loaded VLLMBackend's engine."""

    def __init__(self, backend: Any, temperature: float = 0.0, ignore_eos: bool = False, seed: int = 0) -> None:
        self.backend, self.temperature, self.ignore_eos, self.seed = backend, temperature, ignore_eos, seed

    def run(self, prompts: Sequence[BenchPrompt], arrivals: Sequence[float], cap: int | None, on_done: OnDone) -> float:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        engine = self.backend.llm.llm_engine
        t0 = time.perf_counter()
        adm = _Admission(arrivals, cap, t0)
        live: dict[str, tuple[RequestRecord, float]] = {}  # request id -> (record, time of its latest chunk)
        done, tag = 0, f"bench-{int(t0 * 1e6)}-"
        while done < len(prompts):
            for i, start in adm.admit(time.perf_counter()):
                p = prompts[i]
                params = SamplingParams(max_tokens=p.output_len, temperature=self.temperature, seed=self.seed,
                                        ignore_eos=self.ignore_eos, output_kind=RequestOutputKind.DELTA,
                                        top_p=1.0, top_k=0, min_p=0.0, repetition_penalty=1.0)
                prompt = {"prompt_token_ids": list(p.ids)} if p.ids is not None else p.text
                engine.add_request(f"{tag}{i}", prompt, params)
                live[f"{tag}{i}"] = (RequestRecord(i, start=start, prompt_len=p.input_len or 0), start)
            if not live:
                adm.wait_for_next()
                continue
            for out in engine.step():
                now = time.perf_counter()
                rec, last = live[out.request_id]
                new = sum(len(c.token_ids) for c in out.outputs)
                if new:
                    if rec.ttft is None:
                        rec.ttft = now - rec.start
                    else:
                        rec.itl.append(now - last)
                    rec.output_len += new
                    live[out.request_id] = (rec, now)
                    last = now
                if out.finished:
                    if out.prompt_token_ids is not None:
                        rec.prompt_len = len(out.prompt_token_ids)
                    rec.latency = last - rec.start
                    rec.success = rec.ttft is not None
                    rec.error = "" if rec.success else "no output"
                    del live[out.request_id]
                    adm.finished(now)
                    done += 1
                    on_done(rec)
        return time.perf_counter() - t0
