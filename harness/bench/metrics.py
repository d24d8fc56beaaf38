"""From per-request timings to the figures `harness bench` reports, defined as vLLM's `vllm bench serve` defines
them, so the two can be compared number for number:

- TTFT: from sending a request to its first chunk of output. TPOT: (latency - TTFT) / (output tokens - 1), per
  request with more than one output token. ITL: the gaps between successive chunks (a chunk may carry several
  tokens), pooled over all requests. E2EL (latency): from sending to the last chunk of output.
- Percentiles interpolate linearly between the two nearest ranks (numpy's default).
- Request throughput: completed requests / benchmark duration (first dispatch to the last request done); output
  tokens/s likewise; goodput: requests that met every latency target given (TTFT, TPOT, E2EL; a request with one
  output token has TPOT 0) / duration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

PERCENTILES = (50, 90, 99)


@dataclass
class RequestRecord:
    """One request's timings in seconds (perf_counter clock) and token counts; success False keeps its error."""

    index: int
    start: float = 0.0
    ttft: float | None = None
    itl: list[float] = field(default_factory=list)
    latency: float | None = None
    prompt_len: int = 0
    output_len: int = 0
    success: bool = False
    error: str = ""


@dataclass(frozen=True)
class SLO:
    """Latency targets in milliseconds (None: no target on that figure)."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2el_ms: float | None = None

    def any(self) -> bool:
        return any(v is not None for v in (self.ttft_ms, self.tpot_ms, self.e2el_ms))


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile with linear interpolation between ranks (numpy.percentile's default method)."""
    if not values:
        raise ValueError("percentile of no values")
    xs = sorted(values)
    pos = (len(xs) - 1) * p / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def distribution_ms(values_s: Sequence[float]) -> dict[str, Any] | None:
    """mean, std, p50/p90/p99 and n of seconds, in milliseconds; None for no values."""
    if not values_s:
        return None
    ms = [v * 1000 for v in values_s]
    mean = sum(ms) / len(ms)
    std = math.sqrt(sum((x - mean) ** 2 for x in ms) / len(ms))
    out: dict[str, Any] = {"mean": mean, "std": std}
    out.update({f"p{p}": percentile(ms, p) for p in PERCENTILES})
    out["n"] = len(ms)
    return out


def tpot(r: RequestRecord) -> float | None:
    """(latency - TTFT) / (output tokens - 1); None for one output token or less."""
    if r.output_len > 1 and r.latency is not None and r.ttft is not None:
        return (r.latency - r.ttft) / (r.output_len - 1)
    return None


def is_good(r: RequestRecord, slo: SLO) -> bool:
    """Whether a completed request met every target given (vLLM counts TPOT as 0 for a one-token output)."""
    checks = ((slo.ttft_ms, r.ttft), (slo.tpot_ms, tpot(r) or 0.0), (slo.e2el_ms, r.latency))
    return all(target is None or (value is not None and value * 1000 <= target) for target, value in checks)


def summarize(records: Sequence[RequestRecord], duration_s: float, slo: SLO | None = None) -> dict[str, Any]:
    """The figures of one scenario (see the module's docstring)."""
    done = [r for r in records if r.success]
    out_tokens = sum(r.output_len for r in done)
    in_tokens = sum(r.prompt_len for r in done)
    def rate(x: float) -> float | None:
        return x / duration_s if duration_s > 0 else None

    out: dict[str, Any] = {
        "requests": len(records), "completed": len(done), "failed": len(records) - len(done),
        "duration_s": duration_s, "input_tokens": in_tokens, "output_tokens": out_tokens,
        "request_throughput": rate(len(done)), "output_tokens_per_s": rate(out_tokens),
        "total_tokens_per_s": rate(out_tokens + in_tokens),
        "ttft_ms": distribution_ms([r.ttft for r in done if r.ttft is not None]),
        "tpot_ms": distribution_ms([t for t in map(tpot, done) if t is not None]),
        "itl_ms": distribution_ms([x for r in done for x in r.itl]),
        "e2el_ms": distribution_ms([r.latency for r in done if r.latency is not None]),
    }
    if slo is not None and slo.any():
        good = sum(1 for r in done if is_good(r, slo))
        out["good_requests"] = good
        out["goodput"] = rate(good)
    errors = list(dict.fromkeys(r.error for r in records if not r.success and r.error))
    if errors:
        out["errors"] = errors[:5]
    return out
