"""Device operations for any torch accelerator: choose and check a device, synchronise, read peak memory, free
cached memory, recognise out-of-memory. Through torch's generic API (torch.accelerator where the device is the
build's current accelerator, else torch.get_device_module(kind)) rather than torch.cuda, so the transformers
backend runs the same code on CUDA, ROCm, Ascend (npu), Intel (xpu), Gaudi (hpu), Cambricon (mlu) and Apple (mps).
Vendor plug-ins (torch_npu, torch_mlu, habana_frameworks) are imported only when their device is asked for.

Ran on real hardware: CPU here; the other kinds only against fakes of torch.accelerator and the plug-ins.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import torch

from harness.errors import HarnessError
from harness.results.devices import PLUGINS, load_plugin

KINDS = ("cuda", "npu", "xpu", "mlu", "hpu", "mps")
PIP = {"npu": "torch-npu (matching your CANN)", "mlu": "torch_mlu (Cambricon's build for your torch)",
       "hpu": "habana-torch-plugin (Intel Gaudi software)"}


def _module(kind: str) -> Any:
    try:
        return torch.get_device_module(kind)
    except Exception:
        return None


def _available(kind: str) -> bool:
    mod = _module(kind)
    try:
        return bool(mod is not None and mod.is_available())
    except Exception:
        return False


def _current() -> str | None:
    """The device kind torch.accelerator reports for this build (cuda, xpu, mps, npu once torch_npu is loaded)."""
    acc = getattr(torch, "accelerator", None)
    try:
        cur = acc.current_accelerator() if acc is not None and acc.is_available() else None
    except Exception:
        return None
    return cur.type if cur is not None else None


def resolve_device(device: str) -> torch.device:
    """`auto` picks CUDA/ROCm, then whatever accelerator torch reports (after loading any installed vendor
    plug-in), then the CPU; a named device must exist here, else one line saying what is missing."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda:0")
        for kind, plugin in PLUGINS.items():
            if importlib.util.find_spec(plugin.split(".")[0]) is not None:
                try:
                    load_plugin(kind)
                except Exception:
                    continue
        cur = _current()
        if cur and cur != "cpu" and _available(cur):
            return torch.device(cur if cur == "mps" else f"{cur}:0")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind, _, index = device.partition(":")
    if kind in PLUGINS:
        try:
            load_plugin(kind)
        except ImportError:
            raise HarnessError(f"--device {device}: needs {PLUGINS[kind]}, which is not installed here "
                               f"(pip install {PIP[kind]}); or use --device cpu") from None
    if kind == "cpu":
        return torch.device(device)
    if kind not in KINDS:
        raise HarnessError(f"--device: '{device}' is not a device the harness runs on (use auto, cpu, cuda, cuda:1, "
                           f"npu, xpu, mlu, hpu or mps)")
    if not _available(kind):
        raise HarnessError(f"--device {device}: no {kind} device is visible to torch here; use --device cpu")
    mod = _module(kind)
    if index:
        if not index.isdigit():
            raise HarnessError(f"--device: '{device}' is not a torch device (use e.g. {kind}:0)")
        try:
            count = int(mod.device_count())
        except Exception:
            count = int(index) + 1
        if int(index) >= count:
            raise HarnessError(f"--device {device}: torch sees {count} {kind} device(s) here (0..{count - 1})")
    try:
        return torch.device(device)
    except RuntimeError:
        raise HarnessError(f"--device: '{device}' is not a torch device (use auto, cpu, cuda, cuda:1, npu, xpu, mps)") from None


def auto_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 where the device supports it, else float16, on accelerators; float32 on CPU and MPS."""
    if device.type in ("cpu", "mps"):
        return torch.float32
    if device.type == "hpu":
        return torch.bfloat16
    mod = _module(device.type)
    try:
        return torch.bfloat16 if mod.is_bf16_supported() else torch.float16
    except Exception:
        return torch.float16


def _generic(device: torch.device) -> Any:
    """torch.accelerator when `device` is this build's current accelerator, else None."""
    return torch.accelerator if device.type != "cpu" and _current() == device.type else None


def _call(device: torch.device, name: str, *args: Any) -> tuple[bool, Any]:
    """(done, result) of torch.accelerator.<name>(*args) for `device`, else of its device module's <name> (a
    plug-in whose backend torch.accelerator cannot serve yet); (False, None) when neither has it."""
    acc = _generic(device)
    if acc is not None and hasattr(acc, name):
        try:
            return True, getattr(acc, name)(*args)
        except Exception:
            pass  # the device module below may still answer
    fn = getattr(_module(device.type), name, None)
    if fn is None:
        return False, None
    try:
        return True, fn(*args)
    except TypeError:
        return True, fn()  # torch.mps.synchronize() and the like take no device


def synchronize(device: torch.device) -> None:
    """Wait for queued work on `device`, so timings cover the computation, not its launch."""
    if device.type != "cpu":
        _call(device, "synchronize", device)


def peak_memory_bytes(devices: list[torch.device]) -> int | None:
    """Peak memory allocated by torch, summed over `devices` (a model split over several); None on CPU or where
    the device does not report it (MPS): the caller then records the process's peak RSS."""
    total, known = 0, False
    for device in devices:
        if device.type == "cpu":
            continue
        try:
            done, value = _call(device, "max_memory_allocated", device)
        except Exception:
            continue
        if done and isinstance(value, int):
            total += value
            known = True
    return total if known else None


def empty_cache(device: torch.device) -> None:
    if device.type != "cpu":
        _call(device, "empty_cache")


def is_out_of_memory(e: BaseException) -> bool:
    """torch's OutOfMemoryError (CUDA, ROCm, XPU), or a vendor's RuntimeError saying so (Ascend: "NPU out of
    memory", MPS: "MPS backend out of memory", MLU, HPU)."""
    return isinstance(e, torch.OutOfMemoryError) or (isinstance(e, RuntimeError) and "out of memory" in str(e).lower())
