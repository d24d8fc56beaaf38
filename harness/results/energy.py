"""Energy a run used, summed over every device it ran on, from the meter each vendor provides:

* NVIDIA: NVML's cumulative energy counter of each GPU (millijoules), read before and after;
* AMD (and Hygon where its driver answers AMD SMI): amdsmi's energy accumulator x its resolution, before and after;
* Huawei Ascend: `npu-smi info -t power` of each chip, sampled in a thread during the run and integrated
  (trapezoid rule): npu-smi gives power, not energy, so this is an estimate between samples, and says so;
* CPUs: RAPL package counters (/sys/class/powercap/intel-rapl:N/energy_uj), sampled in a thread so that a counter
  wrapping at max_energy_range_uj is counted, every socket summed (other processes on the machine included).

No meter, or any device that cannot be read, gives None with a note saying why: a sum over some of the devices,
or a figure from anywhere but a meter, is never reported as the run's energy. Only the CPU path can run here (and
this machine exposes no RAPL); the others are tested against fakes of the vendor libraries and tools.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import threading
import time
from typing import Any, Callable

POWERCAP = "/sys/class/powercap"
NPU_SAMPLE_S = 1.0  # npu-smi: one power reading per chip per second
RAPL_SAMPLE_S = 10.0  # RAPL: often enough to see every wrap (a 262 kJ range lasts minutes at any package power)


def _why(e: BaseException) -> str:
    text = str(e).splitlines()[0][:160] if str(e) else ""
    return f"{type(e).__name__}: {text}".rstrip(": ")


def _kind(device: str) -> str:
    return device.split(":", 1)[0]


def _index(device: str) -> int:
    tail = device.split(":", 1)[1] if ":" in device else "0"
    return int(tail) if tail.isdigit() else 0


def _visible(index: int, *variables: str) -> str | None:
    """What the first set of `variables` (CUDA_VISIBLE_DEVICES and the like) lists at `index`; None when none
    is set. LookupError when the list is shorter."""
    for var in variables:
        if var in os.environ:
            entries = [x.strip() for x in os.environ[var].split(",") if x.strip()]
            if index >= len(entries):
                raise LookupError(f"device {index} is not among {var}={os.environ[var]}")
            return entries[index]
    return None


class _Meter:
    """One kind of meter over some devices: start() at the start, joules() at the end."""

    method = ""
    scope: str | None = None

    def __init__(self) -> None:
        self.devices = 0
        self.note: str | None = None

    def joules(self) -> float | None:
        raise NotImplementedError


class NvmlMeter(_Meter):
    """NVIDIA GPUs through NVML's cumulative counters (mJ since the driver loaded), matched to torch's devices by
    UUID, else through CUDA_VISIBLE_DEVICES (as Ray and schedulers set it), only with neither by index."""

    method = "nvml"

    def __init__(self, indices: list[int]) -> None:
        super().__init__()
        self._handles: list[Any] = []
        self._start: list[int] = []
        try:
            import pynvml

            pynvml.nvmlInit()
            if "torch" in sys.modules:
                import torch

                visible = torch.cuda.device_count()
                missing = [i for i in indices if i >= visible]
                if missing:
                    raise LookupError(f"{len(missing)} of the {len(indices)} devices are not on this node")
            for i in indices:
                handle = _nvml_handle(pynvml, i)
                self._start.append(int(pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)))
                self._handles.append(handle)
        except Exception as e:  # no NVML, an old GPU without the counter, a device NVML cannot see
            self._handles, self._start = [], []
            self.note = f"NVML energy not read: {_why(e)}"
        self.devices = len(self._handles)

    def joules(self) -> float | None:
        if not self._handles:
            return None
        try:
            import pynvml

            now = [int(pynvml.nvmlDeviceGetTotalEnergyConsumption(h)) for h in self._handles]
        except Exception as e:
            self.note = f"NVML energy not read at the end: {type(e).__name__}"
            return None
        return sum(b - a for a, b in zip(self._start, now)) / 1000.0


def _nvml_handle(pynvml: Any, index: int) -> Any:
    """NVML's handle of torch's CUDA device `index` (see NvmlMeter)."""
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
    entry = _visible(index, "CUDA_VISIBLE_DEVICES")
    if entry is None:
        return pynvml.nvmlDeviceGetHandleByIndex(index)
    if entry.isdigit():
        return pynvml.nvmlDeviceGetHandleByIndex(int(entry))
    return pynvml.nvmlDeviceGetHandleByUUID(entry)


class AmdSmiMeter(_Meter):
    """AMD (and Hygon, where its driver answers AMD SMI) GPUs through amdsmi's energy accumulator: ticks x
    counter_resolution microjoules. torch's device is matched to amdsmi's by PCI address where torch gives one,
    else through HIP/ROCR/CUDA_VISIBLE_DEVICES, else by index."""

    method = "amdsmi"

    def __init__(self, indices: list[int]) -> None:
        super().__init__()
        self._handles: list[Any] = []
        self._start: list[float] = []
        try:
            import amdsmi

            amdsmi.amdsmi_init()
            handles = list(amdsmi.amdsmi_get_processor_handles())
            for i in indices:
                h = self._handle(amdsmi, handles, i)
                self._start.append(self._uj(amdsmi, h))
                self._handles.append(h)
        except Exception as e:
            self._handles, self._start = [], []
            self.note = f"AMD SMI energy not read: {_why(e)}"
        self.devices = len(self._handles)

    @staticmethod
    def _uj(amdsmi: Any, handle: Any) -> float:
        e = amdsmi.amdsmi_get_energy_count(handle)
        ticks = e.get("energy_accumulator", e.get("power"))  # older amdsmi named the accumulator "power"
        return float(ticks) * float(e["counter_resolution"])

    @staticmethod
    def _handle(amdsmi: Any, handles: list[Any], index: int) -> Any:
        if "torch" in sys.modules:
            import torch

            try:
                p = torch.cuda.get_device_properties(index)
                # torch's stub for _CudaDeviceProperties lacks the pci_* fields the runtime has (ROCm builds too)
                bdf = f"{p.pci_domain_id:04x}:{p.pci_bus_id:02x}:{p.pci_device_id:02x}"  # type: ignore[attr-defined]
            except Exception:
                bdf = ""
            if bdf:
                for h in handles:
                    if str(amdsmi.amdsmi_get_gpu_device_bdf(h)).lower().startswith(bdf):
                        return h
        entry = _visible(index, "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES")
        n = int(entry) if entry is not None and entry.isdigit() else index
        if n >= len(handles):
            raise LookupError(f"AMD SMI sees {len(handles)} devices, not device {n}")
        return handles[n]

    def joules(self) -> float | None:
        if not self._handles:
            return None
        try:
            import amdsmi

            now = [self._uj(amdsmi, h) for h in self._handles]
        except Exception as e:
            self.note = f"AMD SMI energy not read at the end: {type(e).__name__}"
            return None
        return sum(b - a for a, b in zip(self._start, now)) / 1e6


class _Sampled(_Meter):
    """A meter read in a background thread every `interval` seconds from start until joules()."""

    interval = 1.0

    def __init__(self) -> None:
        super().__init__()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed: str | None = None
        self._lock = threading.Lock()

    def _begin(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.sample()
        if self._failed is None:
            self._thread = threading.Thread(target=self._loop, name=f"energy-{self.method}", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        """One reading of every device (the thread calls this; tests may call it directly)."""
        with self._lock:
            if self._failed is not None:
                return
            try:
                self._take(self._clock())
            except Exception as e:
                self._failed = _why(e)

    def _take(self, now: float) -> None:
        raise NotImplementedError

    def _finish(self) -> str | None:
        """Stop sampling after a last reading; why not measured, or None."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.sample()
        return self._failed


class NpuSmiMeter(_Sampled):
    """Ascend NPUs: each chip's real-time power from `npu-smi info -t power -i <npu> -c <chip>`, sampled and
    integrated over time. torch's npu:i is the chip ASCEND_RT_VISIBLE_DEVICES lists at i (else chip i), found in
    `npu-smi info -m` by its logic ID."""

    method = "npu-smi"
    scope = "chip power sampled about once a second, integrated (trapezoid rule)"
    interval = NPU_SAMPLE_S
    POWER_KEYS = ("NPU Real-time Power(W)", "Power Dissipation(W)", "Power(W)", "Chip Power(W)")

    def __init__(self, indices: list[int], clock: Callable[[], float] = time.monotonic, start: bool = True) -> None:
        super().__init__()
        self._chips: list[tuple[str, str]] = []
        self._last: list[tuple[float, float] | None] = []
        self._energy: list[float] = []
        try:
            table = self._table(_npu_smi(["info", "-m"]))
            for i in indices:
                entry = _visible(i, "ASCEND_RT_VISIBLE_DEVICES", "ASCEND_VISIBLE_DEVICES")
                logic = entry if entry is not None else str(i)
                if logic not in table:
                    raise LookupError(f"npu:{i} (chip logic ID {logic}) is not in `npu-smi info -m`")
                self._chips.append(table[logic])
        except Exception as e:
            self._chips = []
            self.note = f"npu-smi power not read: {_why(e)}"
            return
        self._last = [None] * len(self._chips)
        self._energy = [0.0] * len(self._chips)
        self.devices = len(self._chips)
        if start:
            self._begin(clock)
            if self._failed:
                self.note = f"npu-smi power not read: {self._failed}"
                self.devices = 0

    @staticmethod
    def _table(text: str) -> dict[str, tuple[str, str]]:
        """Chip logic ID -> (NPU ID, chip ID) from `npu-smi info -m` (rows without a logic ID, e.g. the MCU, left out)."""
        out = {}
        for line in text.splitlines():
            cols = line.split()
            if len(cols) >= 3 and cols[0].isdigit() and cols[1].isdigit() and cols[2].isdigit():
                out[cols[2]] = (cols[0], cols[1])
        if not out:
            raise LookupError("`npu-smi info -m` lists no chips")
        return out

    @classmethod
    def watts(cls, text: str) -> float:
        """The power reading in `npu-smi info -t power` output (a rated, not measured, figure is not one)."""
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() in cls.POWER_KEYS:
                try:
                    return float(value.strip())
                except ValueError:
                    raise ValueError(f"npu-smi gave power {value.strip()!r}") from None
        raise ValueError("npu-smi output has no power reading")

    def _take(self, now: float) -> None:
        for k, (npu, chip) in enumerate(self._chips):
            w = self.watts(_npu_smi(["info", "-t", "power", "-i", npu, "-c", chip]))
            last = self._last[k]
            if last is not None:
                self._energy[k] += (now - last[0]) * (w + last[1]) / 2
            self._last[k] = (now, w)

    def joules(self) -> float | None:
        if not self._chips:
            return None
        failed = self._finish()
        if failed:
            self.note = f"npu-smi power not read during the run: {failed}"
            return None
        return sum(self._energy)


def _npu_smi(args: list[str]) -> str:
    out = subprocess.run(["npu-smi", *args], capture_output=True, timeout=10, check=False)
    text = out.stdout.decode("utf-8", errors="replace")
    if out.returncode != 0:
        raise RuntimeError(f"npu-smi {' '.join(args)} exited {out.returncode}")
    return text


class RaplMeter(_Sampled):
    """CPU package energy from RAPL (intel-rapl:N, also on AMD CPUs), every package summed. The counters wrap at
    max_energy_range_uj; sampled every RAPL_SAMPLE_S so that each wrap is seen and added back."""

    method = "rapl"
    interval = RAPL_SAMPLE_S

    def __init__(self, root: str | None = None, clock: Callable[[], float] = time.monotonic, start: bool = True) -> None:
        super().__init__()
        root = root or POWERCAP
        self._zones: list[str] = []
        for zone in sorted(glob.glob(os.path.join(root, "intel-rapl:*"))):
            if re.fullmatch(r"intel-rapl:\d+", os.path.basename(zone)) and _text(os.path.join(zone, "name")).startswith("package"):
                self._zones.append(zone)
        self._range: list[int] = []
        self._last: list[int] = []
        self._uj = [0] * len(self._zones)
        if not self._zones:
            self.note = f"no RAPL package counters under {root}"
            return
        try:
            self._range = [int(_text(os.path.join(z, "max_energy_range_uj"))) for z in self._zones]
            self._last = [self._read(z) for z in self._zones]
        except (OSError, ValueError) as e:
            self._zones = []
            self.note = (f"RAPL counters not readable ({_why(e)}); since Linux 5.10 energy_uj is root-only: "
                         "give this user read access to /sys/class/powercap/intel-rapl:*/energy_uj")
            return
        self.devices = len(self._zones)
        self.scope = (f"package energy of {len(self._zones)} CPU socket(s), the whole machine's use of them "
                      "(other processes included; DRAM not included)")
        if start:
            self._begin(clock)

    @staticmethod
    def _read(zone: str) -> int:
        return int(_text(os.path.join(zone, "energy_uj"), strict=True))

    def _take(self, now: float) -> None:
        for k, zone in enumerate(self._zones):
            value = self._read(zone)
            delta = value - self._last[k]
            if delta < 0:  # wrapped past max_energy_range_uj back to 0
                delta += self._range[k]
            self._uj[k] += delta
            self._last[k] = value

    def joules(self) -> float | None:
        if not self._zones:
            return None
        failed = self._finish()
        if failed:
            self.note = f"RAPL not read during the run: {failed}"
            return None
        return sum(self._uj) / 1e6


def _text(path: str, strict: bool = False) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        if strict:
            raise
        return ""


def _hip() -> bool:
    if "torch" not in sys.modules:
        return False
    import torch

    return bool(getattr(torch.version, "hip", None))


class EnergyMeter:
    """The energy of every device a run used, from the meter of their kind (see the module doc), started when
    made; joules() ends it. `report` gives the results' energy fields."""

    def __init__(self, devices: str | list[str]) -> None:
        used = [devices] if isinstance(devices, str) else list(devices)
        kinds = {_kind(d) for d in used}
        kind = _kind(used[0]) if used else "cpu"
        accel = [d for d in used if _kind(d) == kind]
        indices = sorted({_index(d) for d in accel})
        self.meter: _Meter | None = None
        self.note: str | None = None
        if len(kinds) > 1:
            kind = ""
        if kind == "cuda":
            self.meter = AmdSmiMeter(indices) if _hip() else NvmlMeter(indices)
        elif kind == "npu":
            self.meter = NpuSmiMeter(indices)
        elif kind == "cpu":
            self.meter = RaplMeter()
        else:
            label = " + ".join(sorted(kinds)) if kinds else "this device"
            self.note = f"no energy meter for {label}: not measured"
        if self.meter is not None:
            self.note = self.meter.note

    @property
    def method(self) -> str | None:
        return self.meter.method if self.meter is not None else None

    def joules(self) -> float | None:
        """Joules since the meter was made, summed over every device; None where any one cannot be read."""
        if self.meter is None:
            return None
        j = self.meter.joules()
        self.note = self.meter.note
        return j

    def report(self, joules: float | None) -> dict[str, Any]:
        """`energy_joules` (all devices), how (`energy_method`), over how many devices (`energy_devices`), what it
        covers (`energy_scope`, for sampled and whole-socket meters) and why not where not measured (`energy_note`)."""
        measured = joules is not None and self.meter is not None
        out: dict[str, Any] = {"energy_joules": joules if measured else None,
                               "energy_method": self.method if measured else None,
                               "energy_devices": self.meter.devices if measured and self.meter else 0}
        if measured and self.meter is not None and self.meter.scope:
            out["energy_scope"] = self.meter.scope
        if not measured:
            out["energy_note"] = self.note or "not measured"
        return out
