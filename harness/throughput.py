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
        secs = wall_seconds if wall_seconds is not None else self.seconds
        rate = (lambda x: x / secs) if secs > 0 else (lambda x: None)
        out = {
            "samples": self.samples,
            "prompt_tokens": self.prompt_tokens,
            "generated_tokens": self.generated_tokens,
            "seconds": round(secs, 4),
            "prompt_tokens_per_s": rate(self.prompt_tokens),
            "generated_tokens_per_s": rate(self.generated_tokens),
            "samples_per_s": rate(self.samples),
        }
        for name, values in (("ttft_s", self.ttft), ("tpot_s", self.tpot)):
            if values.n:
                out[name] = values.report()
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


def accelerator_info(device: str) -> dict[str, Any]:
    """Kind (cpu/cuda/mps), device name, how many, and memory, for the device the backend ran on."""
    if device.startswith("cuda") and "torch" in sys.modules:
        import torch

        index = torch.device(device).index or 0
        props = torch.cuda.get_device_properties(index)
        return {
            "kind": "cuda",
            "name": props.name,
            "count": 1,
            "visible_count": torch.cuda.device_count(),
            "memory_bytes": int(props.total_memory),
            "capability": f"{props.major}.{props.minor}",
            "cuda_version": torch.version.cuda,
            "driver": _nvml_driver(),
        }
    if device.startswith("mps"):
        return {"kind": "mps", "name": platform.machine(), "count": 1, "memory_bytes": _total_ram_bytes()}
    return {
        "kind": "cpu",
        "name": _cpu_name(),
        "count": 1,
        "cores": os.cpu_count(),
        "threads_used": _torch_threads(),
        "memory_bytes": _total_ram_bytes(),
    }


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


class EnergyMeter:
    """GPU energy from NVML's cumulative counter (millijoules), when the device is a CUDA GPU and NVML works."""

    def __init__(self, device: str) -> None:
        self._handle = None
        self._start = None
        if not device.startswith("cuda"):
            return
        try:
            import pynvml

            pynvml.nvmlInit()
            index = int(device.split(":")[1]) if ":" in device else 0
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self._start = pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
        except Exception:
            self._handle = None

    def joules(self) -> float | None:
        if self._handle is None or self._start is None:
            return None
        import pynvml

        return (pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) - self._start) / 1000.0


def process_peak_rss_bytes() -> int:
    """Peak resident memory of this process (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)
