"""What a run cost on the machine it ran on: accelerator identity, token rates, peak memory, energy.

Kept free of torch at import time; the torch-specific parts import it only when a backend already has.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Usage:
    """Summed cost of a set of requests."""

    samples: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0
    ttft: list[float] = field(default_factory=list)
    tpot: list[float] = field(default_factory=list)

    def add(self, prompt_tokens: int, generated_tokens: int, seconds: float,
            ttft: float | None = None, tpot: float | None = None) -> None:
        self.samples += 1
        self.prompt_tokens += prompt_tokens
        self.generated_tokens += generated_tokens
        self.seconds += seconds
        if ttft is not None:
            self.ttft.append(ttft)
        if tpot is not None:
            self.tpot.append(tpot)

    def merge(self, other: "Usage") -> None:
        """Counts and latencies of another set; seconds are not summed (the caller knows the wall time)."""
        self.samples += other.samples
        self.prompt_tokens += other.prompt_tokens
        self.generated_tokens += other.generated_tokens
        self.ttft += other.ttft
        self.tpot += other.tpot

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
            if values:
                out[name] = {"mean": statistics.fmean(values), **{f"p{q}": _percentile(values, q) for q in (50, 90, 99)}}
        return out


def _percentile(values: list[float], q: int) -> float:
    """Nearest-rank percentile: the smallest value with at least q% of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, -(-q * len(ordered) // 100))
    return ordered[rank - 1]


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
