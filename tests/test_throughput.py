"""Throughput bookkeeping and accelerator identity on the CPU (the CUDA branch runs where a GPU is present)."""

from __future__ import annotations

import pytest

from harness.throughput import Usage, accelerator_info, process_peak_rss_bytes


def test_usage_rates_hand_worked() -> None:
    u = Usage()
    u.add(prompt_tokens=100, generated_tokens=10, seconds=0.5)
    u.add(prompt_tokens=300, generated_tokens=30, seconds=1.5)
    r = u.report()
    assert (r["samples"], r["prompt_tokens"], r["generated_tokens"], r["seconds"]) == (2, 400, 40, 2.0)
    assert r["prompt_tokens_per_s"] == pytest.approx(200) and r["generated_tokens_per_s"] == pytest.approx(20)
    assert r["samples_per_s"] == pytest.approx(1.0)
    assert u.report(wall_seconds=4.0)["prompt_tokens_per_s"] == pytest.approx(100)
    assert Usage().report()["prompt_tokens_per_s"] is None


def test_cpu_accelerator_info() -> None:
    info = accelerator_info("cpu")
    assert info["kind"] == "cpu" and info["count"] == 1 and info["name"] and info["cores"] >= 1
    assert info["memory_bytes"] > 2**28
    assert process_peak_rss_bytes() > 2**20


@pytest.mark.gpu
def test_cuda_accelerator_info() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    info = accelerator_info("cuda:0")
    assert info["kind"] == "cuda" and info["memory_bytes"] > 2**30 and info["name"]


def test_latency_percentiles_within_half_a_percent_of_nearest_rank() -> None:
    import random

    from harness.throughput import Latencies

    rng = random.Random(1)
    values = [rng.lognormvariate(-3, 1) for _ in range(5000)] + [0.0] * 10
    lat = Latencies()
    for v in values:
        lat.add(v)
    ordered = sorted(values)
    for q in (50, 90, 99):
        exact = ordered[max(1, -(-q * len(ordered) // 100)) - 1]  # nearest rank, by hand
        assert lat.percentile(q) == pytest.approx(exact, rel=0.005)
    assert lat.percentile(0) == 0.0  # the zeros have their own bucket
    report = lat.report()
    assert report["mean"] == pytest.approx(sum(values) / len(values), rel=1e-12) and report["n"] == 5010
    assert len(report["buckets"]) < 1000  # counts per 1% bucket, not one float per request


def test_latencies_of_shards_merge_to_those_of_one_run() -> None:
    from harness.throughput import Latencies

    a, b, whole = Latencies(), Latencies(), Latencies()
    for i in range(1, 301):
        (a if i % 3 else b).add(i / 1000)
        whole.add(i / 1000)
    merged = Latencies.from_report(a.report())
    merged.merge(Latencies.from_report(b.report()))
    assert merged.counts == whole.counts and merged.n == 300
    assert merged.report()["p90"] == whole.report()["p90"] == pytest.approx(0.270, rel=0.005)
    assert merged.report()["mean"] == pytest.approx(whole.report()["mean"])


def test_usage_reports_latencies_only_where_measured() -> None:
    u = Usage()
    u.add(10, 5, 0.1)
    assert "ttft_s" not in u.report()
    u.add(10, 5, 0.1, ttft=0.02, tpot=0.004)
    assert u.report()["ttft_s"]["p50"] == pytest.approx(0.02, rel=0.005)
