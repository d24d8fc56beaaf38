"""Throughput bookkeeping and accelerator identity on the CPU (the CUDA branch runs where a GPU is present)."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from harness.results.throughput import Usage, accelerator_info, judge_figures, process_peak_rss_bytes


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

    from harness.results.throughput import Latencies

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
    from harness.results.throughput import Latencies

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


# ---- correct accounting: every device, one definition per rate (issue 17) ---------------------------------------
# No GPU here: the multi-GPU and NVML paths run against fakes at the vendor-library boundary (torch.cuda, pynvml).

class FakeNVML:
    """pynvml as the harness uses it: cumulative energy per physical GPU (millijoules), found by index or UUID.
    Each read of a counter advances it by that GPU's `step` (so a before/after pair measures exactly one step)."""

    def __init__(self, n: int, step_mj: list[int], broken: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.counters = [1_000_000 * (i + 1) for i in range(n)]
        self.step, self.broken, self.reads = step_mj, broken, [0] * n

    def nvmlInit(self) -> None:
        pass

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54.15"

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        if not 0 <= i < len(self.counters):
            raise ValueError(f"NVML: no device {i}")
        return i

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> int:
        if not uuid.startswith("GPU-uuid-"):
            raise ValueError(f"NVML: no device {uuid}")
        return self.nvmlDeviceGetHandleByIndex(int(uuid.removeprefix("GPU-uuid-")))

    def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> int:
        if h in self.broken:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        value = self.counters[h] + self.reads[h] * self.step[h]
        self.reads[h] += 1
        return value


def fake_gpus(monkeypatch: pytest.MonkeyPatch, physical: list[int], name: str = "NVIDIA H100 80GB HBM3",
              uuids: bool = True) -> None:
    """torch sees the GPUs `physical` (NVML indices) as cuda:0..N-1, as CUDA_VISIBLE_DEVICES would show them."""
    import types

    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(physical))

    def props(i: int) -> Any:
        if not 0 <= i < len(physical):
            raise AssertionError(f"cuda:{i} is not visible")
        p = types.SimpleNamespace(name=name, total_memory=80 * 2**30, major=9, minor=0)
        if uuids:
            p.uuid = f"uuid-{physical[i]}"  # torch prints the UUID without NVML's "GPU-"
        return p

    monkeypatch.setattr(torch.cuda, "get_device_properties", props)


def test_vllm_devices_are_tensor_x_pipeline_x_data_parallel() -> None:
    from harness.results.throughput import devices_used, parallel_sizes

    vllm = {"engine": "vllm", "device": "cuda:0", "tensor_parallel_size": 4}
    assert devices_used(vllm) == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]
    both = {**vllm, "tensor_parallel_size": 2, "pipeline_parallel_size": 2, "data_parallel_size": 2}
    assert len(devices_used(both)) == 8 and parallel_sizes(both) == {"tensor": 2, "pipeline": 2, "prefill_context": 1, "data": 2}
    assert devices_used({"engine": "vllm", "device": "cpu", "tensor_parallel_size": 2}) == ["cpu"]  # one CPU, 2 workers
    # the transformers backend lists the devices its weights are on (a device_map over two GPUs)
    assert devices_used({"engine": "transformers", "device": "cuda:0", "devices": ["cuda:1", "cuda:0", "cuda"]}) == ["cuda:0", "cuda:1"]
    assert devices_used({"engine": "transformers", "device": "cpu"}) == ["cpu"]


def test_model_devices_from_device_map_and_parameters() -> None:
    import types

    torch = pytest.importorskip("torch")
    from harness.results.throughput import model_devices

    split = types.SimpleNamespace(hf_device_map={"model.embed_tokens": 0, "model.layers.0": 0, "model.layers.1": 1,
                                                 "lm_head": "cuda:1", "model.norm": "cpu", "rest": "disk"})
    assert model_devices(split, torch.device("cuda:0")) == ["cuda:0", "cuda:1"]  # offload is not where it runs
    assert model_devices(torch.nn.Linear(2, 2), torch.device("cpu")) == ["cpu"]
    assert model_devices(object(), "mps") == ["mps"]


def test_accelerator_block_counts_every_device(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_gpus(monkeypatch, [4, 5, 6, 7])
    monkeypatch.setitem(sys.modules, "pynvml", FakeNVML(8, [0] * 8))
    from harness.results.throughput import accelerator_info, devices_used, parallel_sizes

    describe = {"engine": "vllm", "device": "cuda:0", "tensor_parallel_size": 4}
    info = accelerator_info("cuda:0", devices_used(describe), parallel_sizes(describe))
    assert info["count"] == 4 and info["visible_count"] == 4 and info["name"] == "NVIDIA H100 80GB HBM3"
    assert [d["index"] for d in info["devices"]] == [0, 1, 2, 3]
    assert info["memory_bytes"] == 80 * 2**30 and info["memory_bytes_total"] == 4 * 80 * 2**30
    assert info["parallel"] == {"tensor": 4, "pipeline": 1, "prefill_context": 1, "data": 1}
    assert info["driver"] == "550.54.15"
    # a multi-node engine: 8 workers, 4 GPUs here -> counted, not identified
    wide = accelerator_info("cuda:0", devices_used({**describe, "tensor_parallel_size": 8}))
    assert wide["count"] == 8 and len(wide["devices"]) == 4 and "not on this node" in wide["note"]
    assert accelerator_info("cuda:0")["count"] == 1  # one GPU, as before


def test_energy_sums_every_device_found_by_uuid(monkeypatch: pytest.MonkeyPatch) -> None:
    """TP 4 on the GPUs NVML numbers 4..7: the old meter read NVML device 0 alone (another job's GPU)."""
    fake_gpus(monkeypatch, [4, 5, 6, 7])
    nvml = FakeNVML(8, [1000 * (i + 1) for i in range(8)])  # GPU i uses (i + 1) J per read pair
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    from harness.results.throughput import EnergyMeter

    meter = EnergyMeter(["cuda:0", "cuda:1", "cuda:2", "cuda:3"])
    joules = meter.joules()
    assert joules == pytest.approx(5 + 6 + 7 + 8)  # NVML devices 4..7, summed
    assert nvml.reads[:4] == [0, 0, 0, 0]
    assert meter.report(joules) == {"energy_joules": 26.0, "energy_method": "nvml", "energy_devices": 4}


def test_energy_through_cuda_visible_devices_without_uuid(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_gpus(monkeypatch, [2, 3], uuids=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    monkeypatch.setitem(sys.modules, "pynvml", FakeNVML(4, [1000, 2000, 3000, 4000]))
    from harness.results.throughput import EnergyMeter

    assert EnergyMeter(["cuda:0", "cuda:1"]).joules() == pytest.approx(3 + 4)


def test_energy_of_some_devices_is_not_the_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.results.throughput import EnergyMeter

    fake_gpus(monkeypatch, [0, 1])
    monkeypatch.setitem(sys.modules, "pynvml", FakeNVML(2, [1000, 1000], broken={1}))
    meter = EnergyMeter(["cuda:0", "cuda:1"])
    assert meter.joules() is None
    report = meter.report(None)
    assert report["energy_joules"] is None and report["energy_method"] is None and "NOT_SUPPORTED" in report["energy_note"]
    # more workers than GPUs on this node: not all measured, so none reported
    monkeypatch.setitem(sys.modules, "pynvml", FakeNVML(2, [1000, 1000]))
    assert EnergyMeter([f"cuda:{i}" for i in range(4)]).joules() is None
    # no NVML at all, and a device kind without a meter (CPUs: RAPL, tests/test_energy.py)
    monkeypatch.setitem(sys.modules, "pynvml", None)
    assert EnergyMeter("cuda:0").joules() is None and "not read" in (EnergyMeter("cuda:0").note or "")
    assert EnergyMeter("xpu:0").report(None)["energy_note"] == "no energy meter for xpu: not measured"


def _tasks(cached: tuple[int, int] = (0, 0), computed: tuple[int, int] = (30, 30)) -> dict[str, Any]:
    """A likelihood task (9 s, 6000 prompt tokens) and a generate task (1.5 s, 1500 prompt, 3000 generated)."""
    def block(samples: int, prompt: int, generated: int, seconds: float) -> dict[str, Any]:
        return {"samples": samples, "prompt_tokens": prompt, "generated_tokens": generated, "seconds": seconds}

    scale = [c / 30 for c in computed]
    return {"ceval": {"mode": "likelihood", "cached_requests": cached[0],
                      "throughput": block(computed[0], int(6000 * scale[0]), 0, 9.0 * scale[0])},
            "cmath": {"mode": "generate", "cached_requests": cached[1],
                      "throughput": block(computed[1], int(1500 * scale[1]), int(3000 * scale[1]), 1.5 * scale[1])}}


def test_run_rates_hand_worked() -> None:
    """generated_tokens_per_s is over generate time only; wall_* over the request phase; per accelerator / count."""
    from harness.results.throughput import run_figures

    f = run_figures(_tasks(), wall_seconds=20.0, devices=4, energy_joules=6000.0)
    assert f["measured"] is True and (f["computed_requests"], f["cached_requests"]) == (60, 0)
    assert (f["compute_seconds"], f["generate_seconds"]) == (10.5, 1.5)
    assert f["generated_tokens_per_s"] == pytest.approx(3000 / 1.5)  # 2000, not 3000 / 10.5 or / 20
    assert f["prompt_tokens_per_s"] == pytest.approx(7500 / 10.5) and f["samples_per_s"] == pytest.approx(60 / 10.5)
    assert f["wall_generated_tokens_per_s"] == pytest.approx(150.0) and f["wall_prompt_tokens_per_s"] == pytest.approx(375.0)
    assert f["wall_samples_per_s"] == pytest.approx(3.0)
    assert f["per_accelerator"]["generated_tokens_per_s"] == pytest.approx(500.0)
    assert f["per_accelerator"]["wall_generated_tokens_per_s"] == pytest.approx(37.5)
    assert set(f["per_accelerator"]) == {"prompt_tokens_per_s", "generated_tokens_per_s", "samples_per_s",
                                         "wall_prompt_tokens_per_s", "wall_generated_tokens_per_s", "wall_samples_per_s"}
    assert f["joules_per_generated_token"] == pytest.approx(2.0)  # 6000 J (all 4 GPUs) / 3000 tokens


def test_run_answered_from_the_cache_says_it_measured_nothing() -> None:
    from harness.results.throughput import run_figures

    f = run_figures(_tasks(cached=(30, 30), computed=(0, 0)), wall_seconds=0.4, devices=1, energy_joules=None)
    assert f["measured"] is False and (f["computed_requests"], f["cached_requests"]) == (0, 60)
    assert all(f[k] is None for k in ("generated_tokens_per_s", "wall_generated_tokens_per_s", "wall_samples_per_s"))
    assert "60 of 60 requests came from the response cache" in f["measured_note"]
    # mostly cached: 50 of 60 from the cache; what was computed is reported, but the run is not a measurement
    mostly = run_figures(_tasks(cached=(25, 25), computed=(5, 5)), wall_seconds=2.0, devices=1, energy_joules=None)
    assert mostly["measured"] is False and mostly["generated_tokens_per_s"] == pytest.approx(2000.0)
    half = run_figures(_tasks(cached=(15, 15), computed=(15, 15)), wall_seconds=2.0, devices=1, energy_joules=None)
    assert half["measured"] is True
    # garbage in a task block is skipped, never fatal
    assert run_figures({"x": {"throughput": {"samples": "many", "seconds": float("nan")}}, "y": 3}, 1.0, 1, None)["measured"] is False


def test_vllm_describe_reports_the_engines_parallel_sizes() -> None:
    """What VLLMBackend.describe() adds, read from the engine's parallel config (a fake of vLLM's objects)."""
    import types

    from harness.backends.vllm_engine import VLLMBackend
    from harness.results.throughput import devices_used

    backend = VLLMBackend.__new__(VLLMBackend)
    config = types.SimpleNamespace(tensor_parallel_size=2, pipeline_parallel_size=2, prefill_context_parallel_size=1,
                                   data_parallel_size=True)  # not a size: left out
    backend.llm = types.SimpleNamespace(llm_engine=types.SimpleNamespace(vllm_config=types.SimpleNamespace(parallel_config=config)))
    sizes = backend._parallel()
    assert sizes == {"tensor_parallel_size": 2, "pipeline_parallel_size": 2, "prefill_context_parallel_size": 1}
    assert len(devices_used({"engine": "vllm", "device": "cuda:0", **sizes})) == 4
    backend.llm = types.SimpleNamespace()  # an engine without the config: nothing added
    assert backend._parallel() == {}


def test_judge_figures_use_the_runs_names_and_definitions() -> None:
    """Hand-worked: 3 judge requests, 300 prompt and 30 generated tokens, 1.5 s of the judge's own request time in a
    pass of 6 s wall clock. Decoding speed is 30 / 1.5 = 20 tok/s (before: 30 / 6 = 5 under the same name)."""
    u = Usage()
    for _ in range(3):
        u.add(100, 10, 0.5)
    out = judge_figures(u, 6.0)
    assert out["seconds"] == 6.0 and out["compute_seconds"] == out["generate_seconds"] == 1.5
    assert out["generated_tokens_per_s"] == pytest.approx(20.0) and out["prompt_tokens_per_s"] == pytest.approx(200.0)
    assert out["samples_per_s"] == pytest.approx(2.0)
    assert out["wall_generated_tokens_per_s"] == pytest.approx(5.0) and out["wall_samples_per_s"] == pytest.approx(0.5)
    assert judge_figures(Usage(), 2.0)["wall_generated_tokens_per_s"] is None  # nothing judged: no rate
