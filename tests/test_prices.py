"""Issue 17 item 4, cost: a prices file turns measured time and energy into cost per million generated tokens,
per 1,000 items and per correct answer, at eval and at leaderboard build; figures worked by hand; a bad prices
file is one line naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.results.prices import cost_of_results, load_prices, run_cost
from harness.results.summary import cost_line

PRICES = """currency: CNY
accelerator_hour:
  NVIDIA H800: 14.0
  H100: 20.0
  Ascend910B: 9.5
  cpu: 0.6
electricity_per_kwh: 0.85
"""


def prices_file(tmp_path: Path, text: str = PRICES) -> Path:
    path = tmp_path / "prices.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_cost_worked_by_hand(tmp_path: Path) -> None:
    """4 x H800 for 1,800 s of requests = 2 device-hours x 14 = 28 CNY; 36 MJ = 10 kWh x 0.85 = 8.5 CNY; 36.5 CNY.
    400,000 generated tokens: 36.5 / 0.4 = 91.25 per million. 500 items: 73 per 1,000. Correct answers: ceval
    60% of 300 = 180, cmath 25% of 200 = 50, so 230: 36.5 / 230 per correct answer."""
    prices = load_prices(prices_file(tmp_path))
    tp = {"accelerator": {"kind": "cuda", "name": "NVIDIA H800", "count": 4}, "seconds": 1800.0,
          "energy_joules": 36e6, "generated_tokens": 400_000, "cached_requests": 0, "measured": True}
    tasks = {"ceval": {"n_samples": 300, "score": 60.0}, "cmath": {"n_samples": 200, "score": 25.0}}
    cost = cost_of_results(tp, tasks, prices)
    assert (cost["accelerator_price_key"], cost["device_hours"], cost["accelerator_cost"]) == ("NVIDIA H800", 2.0, 28.0)
    assert cost["energy_kwh"] == pytest.approx(10.0) and cost["electricity_cost"] == pytest.approx(8.5)
    assert cost["total"] == pytest.approx(36.5) and cost["includes"] == ["accelerator time", "electricity"]
    assert cost["per_million_generated_tokens"] == pytest.approx(91.25)
    assert cost["per_1k_items"] == pytest.approx(73.0)
    assert cost["correct_answers"] == pytest.approx(230.0) and cost["per_correct_answer"] == pytest.approx(36.5 / 230)
    assert cost["currency"] == "CNY" and "note" not in cost
    line = cost_line(cost)
    assert line is not None and line.startswith(f"cost (CNY, prices from {tmp_path / 'prices.yaml'}): 36.5 = ")
    assert "accelerator time 28 (2 device-h x 14 for NVIDIA H800) + electricity 8.5 (10 kWh x 0.85)" in line
    assert "| 91.25 per million generated tokens | 73 per 1,000 items | 0.1587 per correct answer" in line


def test_what_is_left_out_is_said(tmp_path: Path) -> None:
    prices = load_prices(prices_file(tmp_path))
    base = dict(devices=1, seconds=3600.0, generated_tokens=1e6, items=100, correct=50.0, all_computed=True)
    # energy not measured: the accelerator time only, and the line says electricity is not in
    c = run_cost(prices, kind="npu", name="Ascend910B3", energy_joules=None, **base)
    assert (c["accelerator_price_key"], c["total"], c["includes"]) == ("Ascend910B", 9.5, ["accelerator time"])
    assert c["note"] == "electricity not included: energy not measured"
    # a part of the name ("H100") matches, the kind is the fallback, nothing at all leaves the hour price out
    assert run_cost(prices, kind="cuda", name="NVIDIA H100 80GB HBM3", energy_joules=None, **base)["total"] == 20.0
    assert run_cost(prices, kind="cpu", name="AMD EPYC", energy_joules=None, **base)["total"] == pytest.approx(0.6)
    none = run_cost(prices, kind="xpu", name="Intel Max 1550", energy_joules=None, **base)
    assert none["total"] is None and "no accelerator_hour price for Intel Max 1550" in none["note"]
    # electricity only, measured: 7.2 MJ = 2 kWh x 0.85
    kwh_only = load_prices(prices_file(tmp_path, "currency: USD\nelectricity_per_kwh: 0.85\n"))
    assert run_cost(kwh_only, kind="xpu", name="x", energy_joules=7.2e6, **base)["total"] == pytest.approx(1.7)
    # answers partly from the cache: no per-item or per-correct cost; all from the cache: no cost at all
    part = run_cost(prices, kind="cpu", name="x", energy_joules=None, **{**base, "all_computed": False})
    assert part["per_1k_items"] is None and part["per_correct_answer"] is None and part["per_million_generated_tokens"] == 0.6
    assert run_cost(prices, kind="cpu", name="x", energy_joules=None, measured=False, **base)["total"] is None


@pytest.mark.parametrize("text, needle", [
    ("accelerator_hour: {cpu: 1}\n", "currency: required"),
    ("currency: CNY\n", "accelerator_hour: give accelerator_hour prices, electricity_per_kwh, or both"),
    ("currency: CNY\naccelerator_hour: {H800: cheap}\n", "accelerator_hour.H800: should be a price, a number >= 0 (got 'cheap')"),
    ("currency: CNY\nelectricity_per_kwh: -1\n", "electricity_per_kwh: should be a price"),
    ("currency: CNY\nelectricty_per_kwh: 1\n", "electricty_per_kwh: unknown field"),
    ("currency: CNY\naccelerator_hour: [1, 2]\n", "accelerator_hour: should map accelerator names"),
    ("- 1\n", "top level: should be a mapping"),
    ("currency: [\n", "not valid YAML"),
])
def test_bad_prices_file_is_one_line(tmp_path: Path, text: str, needle: str) -> None:
    path = prices_file(tmp_path, text)
    with pytest.raises(HarnessError) as e:
        load_prices(path)
    assert str(e.value).startswith(f"--prices {path}: ") and needle in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(HarnessError, match="cannot be read"):
        load_prices(tmp_path / "missing.yaml")


def test_bad_prices_file_fails_before_the_model_loads(tmp_path: Path) -> None:
    from test_cli_errors import assert_one_line_error, run_cli

    path = prices_file(tmp_path, "currency: CNY\naccelerator_hour: {cpu: free}\n")
    model = tmp_path / "model"  # a folder holding only a config.json stands in for a model: none is loaded
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "qwen2"}')
    proc = run_cli("eval", "--model", str(model), "--tasks", "ceval", "--prices", str(path), cwd=tmp_path)
    assert_one_line_error(proc, f"--prices {path}: accelerator_hour.cpu: should be a price")


def write_run(folder: Path, name: str, when: str, acc: dict[str, Any], tp: dict[str, Any], tasks: dict[str, Any]) -> None:
    data = {"schema_version": 2, "finished_at": when,
            "model": {"name": "m-7b", "backend": "hf", "dtype": "bfloat16", "engine": {"engine": "transformers"}},
            "throughput": {"accelerator": acc, **tp}, "tasks": tasks}
    (folder / "m-7b").mkdir(parents=True, exist_ok=True)
    (folder / "m-7b" / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")


def gen_tasks(n: int, score: float, generated: int, seconds: float) -> dict[str, Any]:
    return {"cmath": {"version": 1, "score": score, "n_samples": n, "mode": "generate", "category": "math",
                      "cached_requests": 0, "throughput": {"samples": n, "prompt_tokens": 50 * n,
                                                           "generated_tokens": generated, "seconds": seconds}}}


def test_leaderboard_prices_every_entry(tmp_path: Path) -> None:
    """At build: 2 x 910B for 900 s = 0.5 device-h x 9.5 = 4.75; 1.8 MJ = 0.5 kWh x 0.85 = 0.425; 5.175 CNY over
    100,000 tokens = 51.75 per million, 200 items = 25.875 per 1,000, 40% of 200 = 80 correct."""
    from harness.leaderboard.collect import build, load_results
    from harness.leaderboard.costs import apply_prices
    from harness.leaderboard.site import build_site

    results = tmp_path / "results"
    write_run(results, "r1", "2026-03-01", {"kind": "npu", "name": "Ascend910B3", "count": 2},
              {"seconds": 900.0, "generated_tokens": 100_000, "energy_joules": 1.8e6, "energy_method": "npu-smi",
               "energy_devices": 2, "measured": True}, gen_tasks(200, 40.0, 100_000, 800.0))
    board = build(load_results(results))
    (tp,) = board.rows[0].throughput.values()
    assert tp.cost is None and tp.joules_per_item == pytest.approx(1.8e6 / 200) and tp.energy_method == "npu-smi"
    apply_prices(board, load_prices(prices_file(tmp_path)))
    (tp,) = board.rows[0].throughput.values()
    assert tp.cost is not None and tp.cost["total"] == pytest.approx(5.175)
    assert tp.cost["per_million_generated_tokens"] == pytest.approx(51.75)
    assert tp.cost["per_1k_items"] == pytest.approx(25.875) and tp.cost["per_correct_answer"] == pytest.approx(5.175 / 80)
    build_site(results, tmp_path / "site", prices=prices_file(tmp_path))
    page = (tmp_path / "site" / "efficiency.html").read_text(encoding="utf-8")
    assert 'id="energy-cost"' in page and "5.1750 CNY" in page and "51.7500" in page and "npu-smi" in page
    with pytest.raises(HarnessError, match="--prices .*currency: required"):
        build_site(results, tmp_path / "site2", prices=prices_file(tmp_path, "electricity_per_kwh: 1\n"))


@pytest.mark.slow
def test_eval_with_prices_end_to_end(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A CPU run with a CPU-hour price: the results' cost is price x hours of its request phase, recomputed here
    from the file's own seconds, items and scores; the summary prints it; the site shows the recorded cost."""
    from harness.cli import main
    from harness.leaderboard.site import build_site

    prices = prices_file(tmp_path, "currency: CNY\naccelerator_hour: {cpu: 3600}\n")  # 1 CNY a second, for round numbers
    out = tmp_path / "out"
    assert main(["eval", "--model", str(tiny_models["qwen2"]), "--tasks", "ceval,cmath", "--data-dir", str(data_dir),
                 "--limit", "4", "--max-new-tokens", "8", "--output-dir", str(out), "--no-cache", "--no-progress",
                 "--device", "cpu", "--prices", str(prices)]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    (path,) = out.rglob("*.json")
    results = json.loads(path.read_text(encoding="utf-8"))
    tp, cost = results["throughput"], results["throughput"]["cost"]
    assert cost["total"] == pytest.approx(tp["seconds"]) and cost["device_hours"] == pytest.approx(tp["seconds"] / 3600)
    items = sum(t["n_samples"] for t in results["tasks"].values())
    correct = sum(t["score"] / 100 * t["n_samples"] for t in results["tasks"].values())
    assert items == 8 and cost["per_1k_items"] == pytest.approx(tp["seconds"] / items * 1000)
    assert cost["per_million_generated_tokens"] == pytest.approx(tp["seconds"] / tp["generated_tokens"] * 1e6)
    assert cost["per_correct_answer"] == (pytest.approx(tp["seconds"] / correct) if correct else None)
    assert f"cost (CNY, prices from {prices}): " in printed
    build_site(out, tmp_path / "site")
    page = (tmp_path / "site" / "efficiency.html").read_text(encoding="utf-8")
    assert "CNY" in page and "accelerator time" in page


def test_a_ray_merge_prices_the_whole_run(tmp_path: Path) -> None:
    """Two workers, each on 2 x 910B for 1,800 s: the merged run is 2 workers x 2 devices x 0.5 h = 2 device-hours x
    9.5 = 19 CNY; each shard's own cost (here a wrong 999) is not carried into the merged file."""
    from harness.run.launch_ray import merge_shards
    from harness.run.runner import EvalConfig

    prices = prices_file(tmp_path, "currency: CNY\naccelerator_hour: {Ascend910B: 9.5}\n")
    shards = []
    for i, task in enumerate(("ceval", "cmath")):
        folder = tmp_path / "staging" / f"s{i}" / "m-7b"
        folder.mkdir(parents=True)
        (folder / f"r{i}.samples.jsonl").write_text("", encoding="utf-8")
        data = {"schema_version": 2, "run_id": f"r{i}", "started_at": "2026-01-01T00:00:00", "finished_at": "2026-01-01",
                "model": {"name": "m-7b", "backend": "vllm", "dtype": "bfloat16"}, "samples_file": f"r{i}.samples.jsonl",
                "tasks": {task: {"version": 1, "score": 50.0, "n_samples": 100, "mode": "generate", "cached_requests": 0,
                                 "throughput": {"samples": 100, "prompt_tokens": 1000, "generated_tokens": 5000,
                                                "seconds": 1700.0}}},
                "throughput": {"accelerator": {"kind": "npu", "name": "Ascend910B3", "count": 2}, "samples": 100,
                               "prompt_tokens": 1000, "generated_tokens": 5000, "seconds": 1800.0, "energy_joules": None,
                               "cost": {"currency": "CNY", "total": 999.0}}}
        (folder / f"r{i}.json").write_text(json.dumps(data), encoding="utf-8")
        shards.append({"results": data, "path": str(folder / f"r{i}.json")})
    cfg = EvalConfig(model="m-7b", tasks=["ceval", "cmath"], output_dir=tmp_path / "out", prices=prices, command=["t"])
    merged, _ = merge_shards(cfg, shards, ["ceval", "cmath"])
    cost = merged["throughput"]["cost"]
    assert cost["device_hours"] == pytest.approx(2.0) and cost["total"] == pytest.approx(19.0)
    assert cost["per_million_generated_tokens"] == pytest.approx(19.0 / 10_000 * 1e6)
    assert cost["per_1k_items"] == pytest.approx(19.0 / 200 * 1000) and cost["per_correct_answer"] == pytest.approx(19.0 / 100)
    assert "electricity" not in cost["includes"]


def test_a_garbled_cost_block_is_left_out_with_one_line(tmp_path: Path) -> None:
    """A results file whose recorded cost is not numbers never reaches the page's number formatting."""
    from harness.leaderboard.collect import load_results

    write_run(tmp_path, "bad", "2026-01-01", {"kind": "cpu", "name": "Xeon", "count": 1},
              {"seconds": 10.0, "cost": {"currency": "CNY", "total": "cheap"}}, gen_tasks(10, 50.0, 100, 5.0))
    write_run(tmp_path, "good", "2026-01-02", {"kind": "cpu", "name": "Xeon", "count": 1},
              {"seconds": 10.0, "cost": {"currency": "CNY", "total": 1.5, "includes": ["accelerator time"]}},
              gen_tasks(10, 50.0, 100, 5.0))
    skipped: list[str] = []
    runs = load_results(tmp_path, skipped)
    assert [r["_file"] for r in runs] == ["m-7b/good.json"]
    assert len(skipped) == 1 and "m-7b/bad.json" in skipped[0] and "throughput.cost.total" in skipped[0]
