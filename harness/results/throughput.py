"""What a run cost on the machine it ran on: accelerator identity, token rates, peak memory, energy.

Kept free of torch at import time; the torch-specific parts import it only when a backend already has.
"""

from __future__ import annotations

import os
import platform
import resource
import math
import sys
from dataclasses import dataclass, field
from typing import Any


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

    def merge(self, other: "Latencies") -> None:
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
    def from_report(cls, report: dict[str, Any] | None) -> "Latencies":
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

    def merge(self, other: "Usage") -> None:
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
        tp = t.get("throughput") if isinstance(t.get("throughput"), dict) else {}
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
      generated;
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
    if not measured:
        total = c.computed + c.cached
        out["measured_note"] = (f"{c.cached} of {total} requests came from the response cache: these rates are not a "
                                "measurement of this run" if c.cached else "no request was computed")
    return out


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _total_ram_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


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
    * vLLM on GPUs: one device per engine worker, tensor x pipeline x prefill-context x data parallel of them,
      which vLLM places on the first visible devices of the node (cuda:0 .. cuda:N-1);
    * else `device` alone (cpu, mps, one GPU). A CPU is one device however many engine workers share it."""
    listed = describe.get("devices")
    if isinstance(listed, list) and listed and all(isinstance(d, str) for d in listed):
        return sorted({_normal(d) for d in listed}, key=_device_order)
    device = _normal(str(describe.get("device", "cpu")))
    sizes = parallel_sizes(describe)
    if device.startswith("cuda") and sizes:
        world = math.prod(sizes.values())
        first = _index(device)
        return [f"cuda:{first + i}" for i in range(world)]
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
    """Kind (cpu/cuda/mps), name, how many devices the run used (`count`) and their memory, for `devices` (all
    the devices the run used; default: `device` alone). With several GPUs, `devices` lists each one's index,
    name and memory; `memory_bytes` is one device's memory, `memory_bytes_total` all of theirs. `parallel`:
    vLLM's parallel sizes, recorded as they were asked."""
    main = _normal(device)
    used = [_normal(d) for d in (devices or [device])]
    if main.startswith("cuda"):
        used = [d for d in used if d.startswith("cuda")] or [main]
    info: dict[str, Any]
    if main.startswith("cuda") and "torch" in sys.modules:
        import torch

        indices = sorted({_index(d) for d in used if d.startswith("cuda")})
        visible = torch.cuda.device_count()
        per = []
        for i in indices:
            if i >= visible:
                continue  # another node's device (a multi-node engine): counted, not identified here
            props = torch.cuda.get_device_properties(i)
            per.append({"index": i, "name": props.name, "memory_bytes": int(props.total_memory),
                        "capability": f"{props.major}.{props.minor}"})
        names = list(dict.fromkeys(p["name"] for p in per)) or ["?"]
        info = {
            "kind": "cuda",
            "name": " + ".join(names),
            "count": len(indices),
            "visible_count": visible,
            "memory_bytes": per[0]["memory_bytes"] if per else None,
            "memory_bytes_total": sum(p["memory_bytes"] for p in per) if per else None,
            "capability": per[0]["capability"] if per else None,
            "cuda_version": torch.version.cuda,
            "driver": _nvml_driver(),
            "devices": per,
        }
        if len(per) < len(indices):
            info["note"] = f"{len(indices) - len(per)} of the {len(indices)} devices are not on this node: counted, not identified"
    elif main.startswith("mps"):
        info = {"kind": "mps", "name": platform.machine(), "count": 1, "memory_bytes": _total_ram_bytes()}
    else:
        info = {
            "kind": "cpu",
            "name": _cpu_name(),
            "count": 1,
            "cores": os.cpu_count(),
            "threads_used": _torch_threads(),
            "memory_bytes": _total_ram_bytes(),
        }
    if parallel and any(v > 1 for v in parallel.values()):
        info["parallel"] = dict(parallel)
    return info


def _torch_threads() -> int | None:
    if "torch" in sys.modules:
        import torch

        return torch.get_num_threads()
    return None


def _nvml_driver() -> str | None:
    try:
        import pynvml  # nvidia-ml-py

        pynvml.nvmlInit()
        return pynvml.nvmlSystemGetDriverVersion()
    except Exception:
        return None


def _nvml_handle(pynvml: Any, index: int) -> Any:
    """NVML's handle of torch's CUDA device `index`. The two number devices differently (CUDA_VISIBLE_DEVICES, as
    Ray and schedulers set it, and CUDA's fastest-first order), so the device is found by its UUID; without one,
    through CUDA_VISIBLE_DEVICES; only with neither by the same index."""
    if "torch" in sys.modules:
        import torch

        try:
            uuid = str(torch.cuda.get_device_properties(index).uuid)
        except Exception:
            uuid = ""
        if uuid:
            try:
                return pynvml.nvmlDeviceGetHandleByUUID(uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}")
            except Exception:
                pass  # a UUID NVML does not know in this form: by CUDA_VISIBLE_DEVICES, as without one
    visible = [x.strip() for x in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if x.strip()]
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        if index >= len(visible):
            raise LookupError(f"cuda:{index} is not among CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']}")
        entry = visible[index]
        if entry.isdigit():
            return pynvml.nvmlDeviceGetHandleByIndex(int(entry))
        return pynvml.nvmlDeviceGetHandleByUUID(entry)
    return pynvml.nvmlDeviceGetHandleByIndex(index)


class EnergyMeter:
    """Energy of every GPU a run used, summed, from NVML's cumulative counter of each (millijoules since the
    driver loaded), read before and after. Any device that cannot be read makes the total "not measured" (None,
    with `note` saying why): a sum over some of the devices is never reported as the run's energy."""

    method = "nvml"

    def __init__(self, devices: str | list[str]) -> None:
        used = [_normal(d) for d in ([devices] if isinstance(devices, str) else devices)]
        self.devices = sorted({_index(d) for d in used if d.startswith("cuda")})
        self._handles: list[Any] = []
        self._start: list[int] = []
        self.note: str | None = None
        if not self.devices:
            self.note = f"no energy meter for {used[0] if used else 'this device'}"
            return
        try:
            import pynvml

            pynvml.nvmlInit()
            if "torch" in sys.modules:
                import torch

                visible = torch.cuda.device_count()
                missing = [i for i in self.devices if i >= visible]
                if missing:
                    raise LookupError(f"{len(missing)} of the {len(self.devices)} devices are not on this node")
            for i in self.devices:
                handle = _nvml_handle(pynvml, i)
                self._start.append(int(pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)))
                self._handles.append(handle)
        except Exception as e:  # no NVML, an old GPU without the counter, a device NVML cannot see
            self._handles, self._start = [], []
            self.note = f"NVML energy not read: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}".rstrip(": ")

    def joules(self) -> float | None:
        """Joules since the meter was made, summed over every device; None where any one cannot be read."""
        if not self._handles:
            return None
        try:
            import pynvml

            now = [int(pynvml.nvmlDeviceGetTotalEnergyConsumption(h)) for h in self._handles]
        except Exception as e:
            self.note = f"NVML energy not read at the end: {type(e).__name__}"
            return None
        return sum(b - a for a, b in zip(self._start, now)) / 1000.0

    def report(self, joules: float | None) -> dict[str, Any]:
        """The results' energy fields: `energy_joules` (all devices), how (`energy_method`), over how many devices
        (`energy_devices`), and why not where it was not measured (`energy_note`)."""
        out: dict[str, Any] = {"energy_joules": joules, "energy_method": self.method if joules is not None else None,
                               "energy_devices": len(self._handles) if joules is not None else 0}
        if joules is None:
            out["energy_note"] = self.note or "not measured"
        return out


def process_peak_rss_bytes() -> int:
    """Peak resident memory of this process (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)
