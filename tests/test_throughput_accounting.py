"""Issue 17, correct accounting: every device a run used is counted (and its energy summed), a rerun answered from
the response cache never replaces measured throughput, and generated tokens/s has one definition in the results,
the summary line and the leaderboard. No GPU here: the multi-GPU paths run the real harness against fakes at the
vendor-library boundary (torch.cuda, pynvml; see tests/test_throughput.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.leaderboard.collect import build, load_results
from harness.results.summary import throughput_line


def write(folder: Path, name: str, when: str, throughput: dict[str, Any], tasks: dict[str, Any],
          engine: dict[str, Any] | None = None, backend: str = "vllm") -> None:
    data = {"schema_version": 1, "finished_at": when,
            "model": {"name": "m-7b", "backend": backend, "dtype": "bfloat16",
                      "engine": engine or {"engine": "vllm", "engine_version": "0.32.0", "tensor_parallel_size": 1}},
            "throughput": throughput, "tasks": tasks}
    (folder / "m-7b").mkdir(parents=True, exist_ok=True)
    (folder / "m-7b" / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")


def tasks(gen_tokens: int, gen_seconds: float, computed: int, cached: int = 0) -> dict[str, Any]:
    """ceval (likelihood, 8 s) and cmath (generate); `computed` requests each, `cached` from the cache each."""
    return {"ceval": {"version": 1, "score": 50.0, "n_samples": 40, "mode": "likelihood", "category": "k",
                      "cached_requests": cached,
                      "throughput": {"samples": computed, "prompt_tokens": 100 * computed, "generated_tokens": 0,
                                     "seconds": 8.0 if computed else 0.0}},
            "cmath": {"version": 1, "score": 20.0, "n_samples": 40, "mode": "generate", "category": "c",
                      "cached_requests": cached,
                      "throughput": {"samples": computed, "prompt_tokens": 50 * computed,
                                     "generated_tokens": gen_tokens, "seconds": gen_seconds}}}


H100 = {"kind": "cuda", "name": "NVIDIA H100", "count": 1}


def test_cached_rerun_keeps_the_measured_throughput(tmp_path: Path) -> None:
    write(tmp_path, "1-measured", "2026-01-01", {"accelerator": H100, "samples": 80, "seconds": 20.0,
                                                 "generated_tokens": 4000, "peak_memory_bytes": 2**34,
                                                 "energy_joules": 9000.0, "energy_devices": 1},
          tasks(4000, 2.0, 40))
    # the same command again, every answer from the cache: as this harness now writes it ...
    write(tmp_path, "2-rerun", "2026-02-01", {"accelerator": H100, "samples": 0, "seconds": 0.3, "generated_tokens": 0,
                                              "measured": False, "peak_memory_bytes": 2**30, "energy_joules": 1.0},
          tasks(0, 0.0, 0, cached=40))
    # ... and as results from before the `measured` flag recorded it (0 samples, 0 tok/s)
    write(tmp_path, "3-legacy-rerun", "2026-03-01", {"accelerator": H100, "samples": 0, "seconds": 0.3,
                                                     "generated_tokens_per_s": 0.0, "peak_memory_bytes": 2**30},
          tasks(0, 0.0, 0, cached=40))
    (row,) = build(load_results(tmp_path)).rows
    (tp,) = row.throughput.values()
    assert tp.run_file == "m-7b/1-measured.json" and tp.finished_at == "2026-01-01"  # the run that measured, its date
    assert tp.generated_tokens_per_s == pytest.approx(2000.0) and tp.peak_memory_bytes == 2**34
    assert tp.joules_per_generated_token == pytest.approx(9000 / 4000)
    assert row.accelerators == {"cuda:NVIDIA H100"}
    # scores still come from the latest run
    assert {s.run_file for s in row.scores.values()} == {"m-7b/3-legacy-rerun.json"}
    # mostly from the cache (30 of 40 per task) does not replace it either; half does
    write(tmp_path, "4-mostly", "2026-04-01", {"accelerator": H100, "samples": 20}, tasks(500, 1.0, 10, cached=30))
    assert build(load_results(tmp_path)).rows[0].throughput["NVIDIA H100 · vllm"].run_file == "m-7b/1-measured.json"
    write(tmp_path, "5-half", "2026-05-01", {"accelerator": H100, "samples": 40}, tasks(1000, 1.0, 20, cached=20))
    assert build(load_results(tmp_path)).rows[0].throughput["NVIDIA H100 · vllm"].run_file == "m-7b/5-half.json"


def test_tensor_parallel_run_is_counted_per_device(tmp_path: Path) -> None:
    tp4 = {"engine": "vllm", "engine_version": "0.32.0", "tensor_parallel_size": 4}
    # a results file from before: count 1 and GPU 0's energy for a TP 4 run
    write(tmp_path, "old", "2026-01-01", {"accelerator": H100, "samples": 80, "seconds": 20.0, "generated_tokens": 4000,
                                          "energy_joules": 2500.0}, tasks(4000, 2.0, 40), engine=tp4)
    (tp,) = build(load_results(tmp_path)).rows[0].throughput.values()
    assert tp.accelerator == "4x NVIDIA H100" and tp.devices == 4
    assert tp.energy_joules is None and tp.joules_per_generated_token is None  # one GPU of four: not the run's
    assert tp.generated_tokens_per_s == pytest.approx(2000.0)
    assert tp.generated_tokens_per_s_per_accelerator == pytest.approx(500.0)
    assert tp.wall_generated_tokens_per_s == pytest.approx(200.0) and tp.wall_generated_tokens_per_s_per_accelerator == pytest.approx(50.0)
    assert tp.prompt_tokens_per_s == pytest.approx(6000 / 10.0) and tp.prompt_tokens_per_s_per_accelerator == pytest.approx(150.0)
    # as this harness writes it now: every device counted, energy over all four
    write(tmp_path, "new", "2026-02-01", {"accelerator": {**H100, "count": 4, "parallel": {"tensor": 4}}, "samples": 80,
                                          "seconds": 20.0, "generated_tokens": 4000, "energy_joules": 10000.0,
                                          "energy_devices": 4, "wall_generated_tokens_per_s": 200.0},
          tasks(4000, 2.0, 40), engine=tp4)
    (tp,) = build(load_results(tmp_path)).rows[0].throughput.values()
    assert (tp.run_file, tp.devices, tp.energy_joules) == ("m-7b/new.json", 4, 10000.0)
    assert tp.joules_per_generated_token == pytest.approx(2.5)


def test_summary_line_names_the_rates_as_the_results_do() -> None:
    from harness.results.throughput import run_figures

    tp = {"accelerator": {"kind": "cuda", "name": "NVIDIA H100", "count": 4, "parallel": {"tensor": 4}},
          "samples": 80, "seconds": 20.0, "model_load_seconds": 30.0, "peak_memory_bytes": 2**34,
          "energy_joules": 8000.0, "energy_devices": 4, **run_figures(tasks(4000, 2.0, 40), 20.0, 4, 8000.0)}
    line = throughput_line(tp)
    assert line.startswith("cuda NVIDIA H100 x4 (tensor parallel 4): 80 requests computed in 20.0s (+30.0s load)")
    assert "generated 2000.0 tok/s over 2.0s of generation (500.0 per accelerator)" in line
    assert "wall: generated 200.0 tok/s, prompt 300 tok/s, 4.00 requests/s" in line
    assert "energy 8.00 kJ over 4 device(s), 2 J/generated token" in line
    cached = {"accelerator": {"kind": "cpu", "name": "Xeon", "count": 1}, "samples": 0, "seconds": 0.3,
              "model_load_seconds": 1.0, **run_figures(tasks(0, 0.0, 0, cached=40), 0.3, 1, None)}
    line = throughput_line(cached)
    assert "0 requests computed, 80 from the cache" in line and "throughput not measured" in line
    assert "0.0 tok/s" not in line and "generated -" not in line


@pytest.mark.slow
def test_cached_rerun_end_to_end(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Run, run again from the cache, build the site: the second run says it measured nothing, the site keeps the
    first run's figures, and the results, summary line and leaderboard give the same generated tokens/s."""
    from harness.cli import main
    from harness.leaderboard.site import build_site, fmt_num

    args = ["eval", "--model", str(tiny_models["qwen2"]), "--tasks", "ceval,cmath", "--data-dir", str(data_dir),
            "--limit", "4", "--max-new-tokens", "16", "--output-dir", str(tmp_path / "out"), "--cache-dir",
            str(tmp_path / "cache"), "--no-progress"]
    assert main(args) == 0
    first_out = capsys.readouterr().out
    assert main(args) == 0
    second_out = capsys.readouterr().out
    runs = load_results(tmp_path / "out")
    first, second = runs
    f, s = first["throughput"], second["throughput"]
    assert f["measured"] is True and f["computed_requests"] == 8 and f["cached_requests"] == 0
    assert s["measured"] is False and s["computed_requests"] == 0 and s["cached_requests"] == 8
    assert s["generated_tokens_per_s"] is None and s["wall_generated_tokens_per_s"] is None
    assert "throughput not measured" in second_out and "throughput not measured" not in first_out
    # one definition: generate-mode tokens over generate-mode time, the same in results, summary and leaderboard
    gen = first["tasks"]["cmath"]["throughput"]
    assert f["generated_tokens_per_s"] == gen["generated_tokens_per_s"] == gen["generated_tokens"] / gen["seconds"]
    assert f"generated {f['generated_tokens_per_s']:.1f} tok/s over" in " ".join(first_out.split())  # rich wraps lines
    (row,) = build(runs).rows
    (tp,) = row.throughput.values()
    assert tp.run_file == first["_file"] and tp.generated_tokens_per_s == f["generated_tokens_per_s"]
    assert f["accelerator"]["count"] == 1 and f["per_accelerator"]["generated_tokens_per_s"] == f["generated_tokens_per_s"]
    build_site(tmp_path / "out", tmp_path / "site")
    page = next((tmp_path / "site" / "models").glob("*.html")).read_text(encoding="utf-8")
    assert f'<td class="num">{fmt_num(tp.generated_tokens_per_s, 0)}</td>' in page


@pytest.mark.slow
def test_tensor_parallel_run_end_to_end_with_fake_gpus(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner's accounting for a vLLM engine with TP 4 on NVML devices 4..7, the model itself run on the CPU:
    the accelerator block counts 4 GPUs, energy sums all four, every rate is also given per accelerator."""
    from test_throughput import FakeNVML, fake_gpus

    from harness.run.runner import EvalConfig, open_model, run_eval

    cfg = EvalConfig(model=str(tiny_models["qwen2"]), tasks=["ceval", "cmath"], data_dir=data_dir, limit=4,
                     max_new_tokens=16, output_dir=tmp_path / "out", backend="hf", device="cpu", cache="off",
                     progress=False, command=["test"])
    opened = open_model(cfg, cfg.model, "hf", None, None)
    opened.describe = {**opened.describe, "engine": "vllm", "device": "cuda:0", "tensor_parallel_size": 4}
    opened.describe.pop("devices")
    fake_gpus(monkeypatch, [4, 5, 6, 7])
    nvml = FakeNVML(8, [1000 * (i + 1) for i in range(8)])
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    results, _ = run_eval(cfg, opened=opened)
    tp = results["throughput"]
    acc = tp["accelerator"]
    assert acc["count"] == 4 and [d["index"] for d in acc["devices"]] == [0, 1, 2, 3] and acc["parallel"]["tensor"] == 4
    assert tp["energy_joules"] == pytest.approx(5 + 6 + 7 + 8) and tp["energy_devices"] == 4 and tp["energy_method"] == "nvml"
    assert nvml.reads[:4] == [0, 0, 0, 0]  # never NVML's GPU 0 (another job's)
    for k, v in tp["per_accelerator"].items():
        assert v == pytest.approx(tp[k] / 4), k
    cmath = results["tasks"]["cmath"]["throughput"]
    assert cmath["per_accelerator"]["generated_tokens_per_s"] == pytest.approx(cmath["generated_tokens_per_s"] / 4)
    assert tp["joules_per_generated_token"] == pytest.approx(26.0 / tp["generated_tokens"])
