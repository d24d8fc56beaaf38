"""What a run cost on the machine it ran on: token rates, which devices it used, peak memory, energy (energy.py)
and accelerator identity (devices.py).

Kept free of torch at import time; the torch-specific parts import it only when a backend already has.
"""

from __future__ import annotations

import math
import resource
import sys
from dataclasses import dataclass, field
from typing import Any

from harness.results.energy import EnergyMeter  # noqa: F401  (the runner's meter: every device, every vendor)

ACCELERATOR_KINDS = ("cuda", "npu", "xpu", "mlu", "hpu")  # torch device kinds with numbered devices


class Latencies:
    """Latencies (TTFT, TPOT) as counts in logarithmic buckets 1% wide: memory does not grow with the number of
    requests (a million requests would otherwise hold two million floats), percentiles come out within 0.5% of
    the exact nearest-rank value, the mean is exact, and shards merge by adding counts."""

    RATIO = 1.01
    ZERO = -(10**6)  # the bucket of zero (a cached or instant first token)

    def __init__(self, counts: dict[int, int] | None = None, total: float = 0.0) -> None:
        self.counts: dict[int, int] = dict(counts or {})
        self.n = sum(self.counts.values())
        self.total = total

    def add(self, value: float) -> None:
        b = math.floor(math.log(value) / math.log(self.RATIO)) if value > 0 else self.ZERO
        self.counts[b] = self.counts.get(b, 0) + 1
        self.n += 1
        self.total += value

    def merge(self, other: Latencies) -> None:
        for b, c in other.counts.items():
            self.counts[b] = self.counts.get(b, 0) + c
        self.n += other.n
        self.total += other.total

    def percentile(self, q: int) -> float:
        """Nearest rank: the bucket holding the smallest value with at least q% of the values at or below it,
        read at its geometric middle."""
        rank = max(1, -(-q * self.n // 100))
        seen = 0
        for b in sorted(self.counts):
            seen += self.counts[b]
            if seen >= rank:
                return 0.0 if b == self.ZERO else self.RATIO ** (b + 0.5)
        raise ValueError("no latencies")

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mean": self.total / self.n, **{f"p{q}": self.percentile(q) for q in (50, 90, 99)}}
        out.update(n=self.n, buckets={str(b): c for b, c in sorted(self.counts.items())})  # so shards can merge
        return out

    @classmethod
    def from_report(cls, report: dict[str, Any] | None) -> Latencies:
        if not report or "buckets" not in report:
            return cls()
        return cls({int(b): int(c) for b, c in report["buckets"].items()}, float(report["mean"]) * int(report["n"]))


@dataclass
class Usage:
    """Summed cost of a set of requests."""

    samples: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0
    ttft: Latencies = field(default_factory=Latencies)
    tpot: Latencies = field(default_factory=Latencies)

    def add(self, prompt_tokens: int, generated_tokens: int, seconds: float,
            ttft: float | None = None, tpot: float | None = None) -> None:
        self.samples += 1
        self.prompt_tokens += prompt_tokens
        self.generated_tokens += generated_tokens
        self.seconds += seconds
        if ttft is not None:
            self.ttft.add(ttft)
        if tpot is not None:
            self.tpot.add(tpot)

    def merge(self, other: Usage) -> None:
        """Counts and latencies of another set; seconds are not summed (the caller knows the wall time)."""
        self.samples += other.samples
        self.prompt_tokens += other.prompt_tokens
        self.generated_tokens += other.generated_tokens
        self.ttft.merge(other.ttft)
        self.tpot.merge(other.tpot)

    def report(self, wall_seconds: float | None = None) -> dict[str, Any]:
        """Rates over `wall_seconds` when given (whole run), else over the summed share of batch time."""
        # rates over the seconds as recorded, so that a rate recomputed from the block (run_figures, the
        # leaderboard) is the same number
        secs = round(wall_seconds if wall_seconds is not None else self.seconds, 6)
        rate = (lambda x: x / secs) if secs > 0 else (lambda x: None)
        out = {
            "samples": self.samples,
            "prompt_tokens": self.prompt_tokens,
            "generated_tokens": self.generated_tokens,
            "seconds": secs,
            "prompt_tokens_per_s": rate(self.prompt_tokens),
            "generated_tokens_per_s": rate(self.generated_tokens),
            "samples_per_s": rate(self.samples),
        }
        for name, values in (("ttft_s", self.ttft), ("tpot_s", self.tpot)):
            if values.n:
                out[name] = values.report()
        return out


RATES = ("prompt_tokens_per_s", "generated_tokens_per_s", "samples_per_s",
         "wall_prompt_tokens_per_s", "wall_generated_tokens_per_s", "wall_samples_per_s")


def _n(value: Any) -> float:
    """A finite non-negative number from a results block, else 0 (garbage in a file is never fatal)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    try:
        v = float(value)
    except OverflowError:
        return 0.0
    return v if math.isfinite(v) and v >= 0 else 0.0


@dataclass
class TaskSums:
    """Counts summed over a run's task blocks (tasks.<name>.throughput, .mode, .cached_requests)."""

    computed: int = 0  # requests the backend answered in this run
    cached: int = 0  # requests answered from the response cache
    prompt_tokens: int = 0
    generated_tokens: int = 0
    compute_seconds: float = 0.0  # the backend's time on this run's requests (their shares of batch time, summed)
    generate_tokens: int = 0  # generated by generate-mode tasks
    generate_seconds: float = 0.0  # the backend's time on generate-mode requests
    has_counts: bool = False  # some task block carries request and token counts (results before them do not)


def task_sums(tasks: Any) -> TaskSums:
    out = TaskSums()
    for t in (tasks.values() if isinstance(tasks, dict) else ()):
        if not isinstance(t, dict):
            continue
        tp = t.get("throughput")
        if not isinstance(tp, dict):
            tp = {}
        out.has_counts = out.has_counts or ("samples" in tp and "prompt_tokens" in tp)
        out.computed += int(_n(tp.get("samples")))
        out.cached += int(_n(t.get("cached_requests")))
        out.prompt_tokens += int(_n(tp.get("prompt_tokens")))
        generated, seconds = int(_n(tp.get("generated_tokens"))), _n(tp.get("seconds"))
        out.generated_tokens += generated
        out.compute_seconds += seconds
        if t.get("mode") == "generate":
            out.generate_tokens += generated
            out.generate_seconds += seconds
    return out


def is_measured(computed: int, cached: int) -> bool:
    """A run measured throughput when it computed at least one request and at least as many as it took from the
    response cache; a rerun answered all or mostly from the cache did not."""
    return computed > 0 and cached <= computed


def _ratio(x: float, seconds: float) -> float | None:
    return x / seconds if seconds > 0 else None


def per_accelerator(block: dict[str, Any], devices: int) -> dict[str, float | None]:
    """Every rate of `block` divided by the number of devices the run used."""
    n = max(int(devices or 1), 1)
    return {k: (block[k] / n if isinstance(block.get(k), (int, float)) else None) for k in RATES if k in block}


def judge_figures(usage: Usage, wall_seconds: float) -> dict[str, Any]:
    """The judge pass's throughput under the run's names and definitions (run_figures): `generated_tokens_per_s`,
    `prompt_tokens_per_s` and `samples_per_s` over the judge's own request time (`compute_seconds`; every judge
    request generates, so `generate_seconds` is the same), `wall_*` over the pass's wall-clock `seconds`. Before,
    the judge block's `generated_tokens_per_s` was a wall-clock rate under the run's name for decoding speed."""
    secs = round(usage.seconds, 6)
    wall = round(wall_seconds, 6) if usage.samples else 0.0
    out = usage.report(wall_seconds=wall_seconds)  # counts, latencies and `seconds` (the pass's wall clock)
    out.update({
        "compute_seconds": secs,
        "generate_seconds": secs,
        "prompt_tokens_per_s": _ratio(usage.prompt_tokens, secs),
        "generated_tokens_per_s": _ratio(usage.generated_tokens, secs),
        "samples_per_s": _ratio(usage.samples, secs),
        "wall_prompt_tokens_per_s": _ratio(usage.prompt_tokens, wall),
        "wall_generated_tokens_per_s": _ratio(usage.generated_tokens, wall),
        "wall_samples_per_s": _ratio(usage.samples, wall),
    })
    return out


def run_figures(tasks: dict[str, Any], wall_seconds: float, devices: int, energy_joules: float | None) -> dict[str, Any]:
    """The run-level throughput figures, all derived from the task blocks, so a single run, a merge of Ray shards
    and the leaderboard define them the same way:

    * `generated_tokens_per_s`: tokens generated by the generate-mode tasks / the backend's time on generate-mode
      requests (`generate_seconds`): decoding speed, likelihood scoring left out;
    * `prompt_tokens_per_s`, `samples_per_s`: all requests computed / the backend's time on them (`compute_seconds`);
    * `wall_*`: the same counts over the wall-clock seconds of the request phase (`seconds`: scoring, cache reads
      and sandbox checks included; likelihood time included in `wall_generated_tokens_per_s`);
    * `per_accelerator`: each rate divided by the devices used (accelerator.count);
    * `joules_per_generated_token`: the whole run's energy (all devices; likelihood work included) / all tokens
      generated; `joules_per_item`: that energy / the items evaluated (tasks' n_samples), only for a run that
      computed every answer (with some from the response cache the energy covers part of the items);
    * `measured`: false when the requests came all or mostly from the response cache (see is_measured): then
      the rates are not this run's measurement, and the leaderboard keeps the last run that measured."""
    c = task_sums(tasks)
    measured = is_measured(c.computed, c.cached)
    wall = wall_seconds if c.computed else 0.0  # nothing computed: no wall rate (0 tok/s would read as measured)
    out: dict[str, Any] = {
        "measured": measured,
        "computed_requests": c.computed,
        "cached_requests": c.cached,
        "compute_seconds": round(c.compute_seconds, 6),
        "generate_seconds": round(c.generate_seconds, 6),
        "prompt_tokens_per_s": _ratio(c.prompt_tokens, c.compute_seconds),
        "generated_tokens_per_s": _ratio(c.generate_tokens, c.generate_seconds),
        "samples_per_s": _ratio(c.computed, c.compute_seconds),
        "wall_prompt_tokens_per_s": _ratio(c.prompt_tokens, wall),
        "wall_generated_tokens_per_s": _ratio(c.generated_tokens, wall),
        "wall_samples_per_s": _ratio(c.computed, wall),
    }
    out["per_accelerator"] = per_accelerator(out, devices)
    out["joules_per_generated_token"] = (energy_joules / c.generated_tokens
                                         if energy_joules is not None and c.generated_tokens > 0 else None)
    items = sum(int(_n(t.get("n_samples"))) for t in tasks.values() if isinstance(t, dict)) if isinstance(tasks, dict) else 0
    out["joules_per_item"] = (energy_joules / items if energy_joules is not None and items and not c.cached
                              and c.computed else None)
    if not measured:
        total = c.computed + c.cached
        out["measured_note"] = (f"{c.cached} of {total} requests came from the response cache: these rates are not a "
                                "measurement of this run" if c.cached else "no request was computed")
    return out


def _index(device: str) -> int:
    """The index in "cuda:3" (0 for a bare "cuda")."""
    tail = device.split(":", 1)[1] if ":" in device else "0"
    return int(tail) if tail.isdigit() else 0


def _device_order(device: str) -> tuple[str, int]:
    return (device.split(":", 1)[0], _index(device))


def _normal(device: str) -> str:
    """"cuda" -> "cuda:0"; devices without an index (cpu, mps) as they are."""
    kind = device.split(":", 1)[0]
    return f"{kind}:{_index(device)}" if kind not in ("cpu", "mps", "remote", "meta", "disk") else kind


def parallel_sizes(describe: dict[str, Any]) -> dict[str, int]:
    """vLLM's parallel sizes from a backend's describe() (tensor, pipeline, prefill-context and data parallel);
    {} for a backend that reports none. A missing or unreadable size counts as 1."""
    keys = {"tensor": "tensor_parallel_size", "pipeline": "pipeline_parallel_size",
            "prefill_context": "prefill_context_parallel_size", "data": "data_parallel_size"}
    if describe.get("engine") != "vllm":
        return {}
    out = {}
    for short, key in keys.items():
        v = describe.get(key)
        out[short] = v if isinstance(v, int) and not isinstance(v, bool) and v >= 1 else 1
    return out


def devices_used(describe: dict[str, Any]) -> list[str]:
    """Every device a run used, from the backend's describe():

    * `devices` when the backend lists them (transformers: every device holding a part of the model, as a
      device_map places it);
    * vLLM on GPUs (or NPUs, vllm-ascend): one device per engine worker, tensor x pipeline x prefill-context x data parallel of them,
      which vLLM places on the first visible devices of the node (cuda:0 .. cuda:N-1);
    * else `device` alone (cpu, mps, one GPU). A CPU is one device however many engine workers share it."""
    listed = describe.get("devices")
    if isinstance(listed, list) and listed and all(isinstance(d, str) for d in listed):
        return sorted({_normal(d) for d in listed}, key=_device_order)
    device = _normal(str(describe.get("device", "cpu")))
    sizes = parallel_sizes(describe)
    kind = device.split(":", 1)[0]
    if kind in ACCELERATOR_KINDS and sizes:  # vLLM on GPUs, vllm-ascend on NPUs
        world = math.prod(sizes.values())
        first = _index(device)
        return [f"{kind}:{first + i}" for i in range(world)]
    return [device]


def model_devices(model: Any, default: Any) -> list[str]:
    """Every device holding a part of a transformers model: the accelerators of its `hf_device_map` (loaded with
    device_map; an integer there is an index of the main device's kind; "cpu"/"disk" offload is not an
    accelerator the model runs on), else the devices of its parameters and buffers; `default` when neither says."""
    kind = str(default).split(":", 1)[0]
    found: set[str] = set()
    dmap = getattr(model, "hf_device_map", None)
    if isinstance(dmap, dict) and dmap:
        for where in dmap.values():
            if isinstance(where, int) and not isinstance(where, bool):
                found.add(f"{kind}:{where}")
            elif str(where) not in ("cpu", "disk", "meta"):
                found.add(_normal(str(where)))
    else:
        try:
            tensors = list(model.parameters()) + list(model.buffers())
            found = {_normal(str(t.device)) for t in tensors if str(t.device) != "meta"}
        except Exception:  # not a torch module
            found = set()
    return sorted(found or {_normal(str(default))}, key=_device_order)


def accelerator_info(device: str, devices: list[str] | None = None, parallel: dict[str, int] | None = None) -> dict[str, Any]:
    """Kind (cpu, cuda, npu, xpu, mlu, hpu, mps), vendor, name, how many devices the run used (`count`) and their
    memory, for `devices` (all the devices the run used; default: `device` alone); see harness/results/devices.py.
    With several devices, `devices` lists each one's index, name and memory; `memory_bytes` is one device's
    memory, `memory_bytes_total` all of theirs. `parallel`: vLLM's parallel sizes, recorded as they were asked."""
    from harness.results.devices import accelerators, cpu_info, mps_info

    main = _normal(device)
    kind = main.split(":", 1)[0]
    used = [_normal(d) for d in (devices or [device])]
    info: dict[str, Any]
    if kind in ACCELERATOR_KINDS:
        used = [d for d in used if d.split(":", 1)[0] == kind] or [main]
        indices = sorted({_index(d) for d in used})
        if "torch" in sys.modules:
            info = accelerators(kind, indices)
        else:  # no torch in this process (a remote engine's describe): counted, not identified
            info = {"kind": kind, "name": "?", "count": len(indices)}
    elif kind == "mps":
        info = mps_info()
    else:
        info = cpu_info()
    if parallel and any(v > 1 for v in parallel.values()):
        info["parallel"] = dict(parallel)
    return info


def process_peak_rss_bytes() -> int:
    """Peak resident memory of this process (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)
