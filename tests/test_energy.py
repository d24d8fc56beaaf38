"""Issue 17 item 3, energy: RAPL for CPUs (fake sysfs trees), AMD SMI (a fake amdsmi module), Ascend's npu-smi
(a fake npu-smi program on PATH), each hand-computed; no meter means "not measured", never a guess. NVML: see
tests/test_throughput.py. This machine exposes no /sys/class/powercap, so no real meter runs here."""

from __future__ import annotations

import os
import stat
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from harness.results import energy
from harness.results.energy import AmdSmiMeter, EnergyMeter, NpuSmiMeter, RaplMeter
from harness.results.throughput import run_figures


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def zone(root: Path, name: str, label: str, uj: int, max_uj: int = 1_000_000_000) -> Path:
    z = root / name
    z.mkdir(parents=True)
    (z / "name").write_text(label + "\n")
    (z / "energy_uj").write_text(f"{uj}\n")
    (z / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return z


def test_rapl_sums_packages_and_counts_wraps(tmp_path: Path) -> None:
    """Package 0 wraps once: 900 -> (wrap at 1000) -> 100 -> 150 J of counter is 200 + 50 = 250 J; package 1 goes
    5 -> 35 J. Subzones (core, dram) and psys are not packages and are not added (they overlap the packages)."""
    p0 = zone(tmp_path, "intel-rapl:0", "package-0", 900_000_000)
    p1 = zone(tmp_path, "intel-rapl:1", "package-1", 5_000_000)
    zone(tmp_path, "intel-rapl:0:0", "core", 1)
    zone(tmp_path, "intel-rapl:2", "psys", 7)
    meter = RaplMeter(str(tmp_path), start=False)
    meter._clock = Clock()
    meter.sample()  # the start
    (p0 / "energy_uj").write_text("100000000\n")
    meter.sample()  # the thread's reading, after the wrap
    (p0 / "energy_uj").write_text("150000000\n")
    (p1 / "energy_uj").write_text("35000000\n")
    assert meter.joules() == pytest.approx(250 + 30)
    assert meter.devices == 2 and "2 CPU socket(s)" in (meter.scope or "")


def test_rapl_through_the_runners_meter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """EnergyMeter("cpu") starts a sampling thread on the RAPL tree and reports method, devices and scope."""
    z = zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    monkeypatch.setattr(energy, "POWERCAP", str(tmp_path))
    meter = EnergyMeter("cpu")
    (z / "energy_uj").write_text("4000000\n")
    joules = meter.joules()
    assert joules == pytest.approx(3.0)
    report = meter.report(joules)
    assert (report["energy_joules"], report["energy_method"], report["energy_devices"]) == (3.0, "rapl", 1)
    assert "other processes included" in report["energy_scope"]


def test_rapl_unreadable_or_absent_is_not_measured(tmp_path: Path) -> None:
    assert RaplMeter(str(tmp_path / "none")).joules() is None
    z = zone(tmp_path, "intel-rapl:0", "package-0", 1)
    (z / "energy_uj").unlink()
    (z / "energy_uj").mkdir()  # unreadable as a file, as for a non-root user since Linux 5.10 (which root is not)
    meter = RaplMeter(str(tmp_path))
    assert meter.joules() is None and "root-only" in (meter.note or "")


class FakeAmdSmi(types.ModuleType):
    """amdsmi as the harness calls it: handles, BDFs, and an energy accumulator in ticks of 15.3 uJ that
    advances by `step` ticks per read. `old_key`: amdsmi before 6.x named the accumulator "power"."""

    def __init__(self, n: int, steps: list[int], old_key: bool = False) -> None:
        super().__init__("amdsmi")
        self.ticks = [10**9 * (i + 1) for i in range(n)]
        self.steps, self.old_key = steps, old_key

    def amdsmi_init(self) -> None:
        pass

    def amdsmi_get_processor_handles(self) -> list[int]:
        return list(range(len(self.ticks)))

    def amdsmi_get_gpu_device_bdf(self, h: int) -> str:
        return f"0000:{0x10 * (h + 1):02x}:00.0"

    def amdsmi_get_energy_count(self, h: int) -> dict[str, Any]:
        value = self.ticks[h]
        self.ticks[h] += self.steps[h]
        return {"power" if self.old_key else "energy_accumulator": value, "counter_resolution": 15.3, "timestamp": 0}


def test_amdsmi_energy_by_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    """HIP_VISIBLE_DEVICES=2,3: torch's cuda:0,1 are AMD SMI's 2 and 3, (3e6 + 4e6) ticks x 15.3 uJ = 107.1 J."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.version, "hip", "6.2.41133", raising=False)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: types.SimpleNamespace(name="MI300X"))  # no PCI ids
    monkeypatch.setenv("HIP_VISIBLE_DEVICES", "2,3")
    fake = FakeAmdSmi(4, [1_000_000, 2_000_000, 3_000_000, 4_000_000])
    monkeypatch.setitem(sys.modules, "amdsmi", fake)
    meter = EnergyMeter(["cuda:0", "cuda:1"])
    assert isinstance(meter.meter, AmdSmiMeter)
    joules = meter.joules()
    assert joules == pytest.approx((3e6 + 4e6) * 15.3 / 1e6)
    assert meter.report(joules)["energy_method"] == "amdsmi" and meter.report(joules)["energy_devices"] == 2


def test_amdsmi_matches_by_pci_address(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    monkeypatch.delenv("HIP_VISIBLE_DEVICES", raising=False)
    props = types.SimpleNamespace(name="K100_AI", pci_domain_id=0, pci_bus_id=0x30, pci_device_id=0)  # AMD SMI's 2
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props)
    fake = FakeAmdSmi(4, [10, 20, 1_000_000, 40], old_key=True)
    monkeypatch.setitem(sys.modules, "amdsmi", fake)
    assert AmdSmiMeter([0]).joules() == pytest.approx(15.3)
    monkeypatch.setitem(sys.modules, "amdsmi", None)
    meter = AmdSmiMeter([0])
    assert meter.joules() is None and "AMD SMI energy not read" in (meter.note or "")


NPU_SMI = r'''#!/bin/sh
# a fake npu-smi: `info -m` prints the chip table; `info -t power -i N -c C` the power in $STATE/N-C
if [ "$2" = "-m" ]; then
  printf 'NPU ID                         Chip ID                        Chip Logic ID                  Chip Name\n'
  printf '8                              0                              4                              Ascend 910B3\n'
  printf '8                              1                              -                              Mcu\n'
  printf '9                              0                              5                              Ascend 910B3\n'
  exit 0
fi
f="$STATE/$5-$7"
[ -f "$f" ] || exit 3
printf '        NPU ID                         : %s\n        Chip ID                        : %s\n' "$5" "$7"
printf '        NPU Real-time Power(W)         : %s\n' "$(cat "$f")"
'''


@pytest.fixture
def npu_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    tool = bin_dir / "npu-smi"
    tool.write_text(NPU_SMI)
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STATE", str(state))
    monkeypatch.setenv("ASCEND_RT_VISIBLE_DEVICES", "4,5")
    return state


def test_npu_smi_power_integrated_per_chip(npu_smi: Path) -> None:
    """npu:0,1 are chips with logic IDs 4 and 5, i.e. npu-smi's (NPU 8, chip 0) and (NPU 9, chip 0). Power at
    t = 0, 2, 3 s: chip A 100, 300, 300 W -> (100+300)/2*2 + 300*1 = 700 J; chip B 200, 200, 400 W ->
    200*2 + (200+400)/2*1 = 700 J; the run's energy is 1400 J."""
    (npu_smi / "8-0").write_text("100.0")
    (npu_smi / "9-0").write_text("200.0")
    clock = Clock()
    meter = NpuSmiMeter([0, 1], clock=clock, start=False)
    meter._clock = clock
    meter.sample()
    clock.now = 2.0
    (npu_smi / "8-0").write_text("300.0")
    meter.sample()
    clock.now = 3.0
    (npu_smi / "9-0").write_text("400.0")
    assert meter.joules() == pytest.approx(1400.0)
    assert meter.devices == 2 and meter.method == "npu-smi"


def test_npu_smi_through_the_runners_meter(npu_smi: Path) -> None:
    """Constant 250 W on two chips: the energy is 500 W x the seconds between the first and last samples."""
    (npu_smi / "8-0").write_text("250")
    (npu_smi / "9-0").write_text("250")
    clock = Clock()
    meter = NpuSmiMeter([0, 1], clock=clock)  # the thread samples at clock 0 too
    clock.now = 4.0
    assert meter.joules() == pytest.approx(500 * 4.0)
    runner = EnergyMeter(["npu:0", "npu:1"])  # as the runner makes it: real clock, thread started
    joules = runner.joules()
    report = runner.report(joules)
    assert joules is not None and joules >= 0 and report["energy_method"] == "npu-smi" and report["energy_devices"] == 2
    assert "sampled" in report["energy_scope"]


def test_npu_smi_failures_are_not_measured(npu_smi: Path) -> None:
    (npu_smi / "8-0").write_text("250")  # chip 9-0 cannot be read
    meter = EnergyMeter(["npu:0", "npu:1"])
    assert meter.joules() is None and "npu-smi power not read" in (meter.note or "")
    os.environ["ASCEND_RT_VISIBLE_DEVICES"] = "4,7"  # (the fixture's monkeypatch restores it)
    meter = EnergyMeter(["npu:0", "npu:1"])
    assert meter.joules() is None and "chip logic ID 7" in (meter.note or "")
    assert NpuSmiMeter.watts("        Power Dissipation(W)           : 65.0\n") == 65.0
    with pytest.raises(ValueError):
        NpuSmiMeter.watts("        Rated Power Dissipation(W)     : 8.0\n")  # a rating, not a reading


def test_no_meter_is_not_measured_and_energy_per_item_by_hand() -> None:
    for device in ("xpu:0", "mlu:0", "hpu:0", "mps"):
        meter = EnergyMeter(device)
        assert meter.joules() is None
        assert meter.report(None) == {"energy_joules": None, "energy_method": None, "energy_devices": 0,
                                      "energy_note": f"no energy meter for {device.split(':')[0]}: not measured"}
    tasks = {"ceval": {"mode": "likelihood", "n_samples": 40, "cached_requests": 0,
                       "throughput": {"samples": 40, "prompt_tokens": 4000, "generated_tokens": 0, "seconds": 8.0}},
             "cmath": {"mode": "generate", "n_samples": 10, "cached_requests": 0,
                       "throughput": {"samples": 10, "prompt_tokens": 500, "generated_tokens": 2000, "seconds": 2.0}}}
    fig = run_figures(tasks, 12.0, 1, 600.0)
    assert fig["joules_per_generated_token"] == pytest.approx(600 / 2000)
    assert fig["joules_per_item"] == pytest.approx(600 / 50)
    tasks["cmath"]["cached_requests"] = 2  # part of the answers from the cache: the energy covers part of the items
    assert run_figures(tasks, 12.0, 1, 600.0)["joules_per_item"] is None
    assert run_figures(tasks, 12.0, 1, None)["joules_per_generated_token"] is None
