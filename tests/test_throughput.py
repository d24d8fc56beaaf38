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
