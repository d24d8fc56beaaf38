"""Who made the accelerator a run used, and what it is: vendor, model name, memory, driver and runtime versions.

One description for every device kind torch exposes: NVIDIA CUDA, AMD and Hygon ROCm (torch's `cuda` device on a
HIP build), Huawei Ascend (`npu`, torch_npu), Intel GPUs (`xpu`) and Gaudi (`hpu`), Cambricon (`mlu`, torch_mlu),
Apple (`mps`) and CPUs. Vendor plug-ins are imported only when their device is asked for; everything is read
through torch's generic device-module API (torch.get_device_module), so one code path serves all of them. A
value that cannot be read is None: never guessed.

Only the CPU path has run on real hardware here; the others are tested against fakes of the vendor libraries.
"""

from __future__ import annotations

import importlib
import os
import platform
import re
import subprocess
import sys
from typing import Any

# device kind -> the module that registers it with torch (torch_npu renames torch's PrivateUse1 backend to "npu")
PLUGINS = {"npu": "torch_npu", "mlu": "torch_mlu", "hpu": "habana_frameworks.torch"}
KIND_VENDOR = {"npu": "Huawei", "mlu": "Cambricon", "hpu": "Intel Gaudi", "xpu": "Intel", "mps": "Apple"}
ASCEND_DRIVER_INFO = "/usr/local/Ascend/driver/version.info"
MODULE_VERSION = {"nvidia": "/sys/module/nvidia/version", "amdgpu": "/sys/module/amdgpu/version",
                  "habanalabs": "/sys/module/habanalabs/version"}
CPUINFO = "/proc/cpuinfo"
# the instruction-set extensions that decide CPU inference speed (x86 flags / ARM features in /proc/cpuinfo)
ISA = ("avx", "avx2", "fma", "avx_vnni", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx512_fp16",
       "amx_tile", "amx_bf16", "amx_int8", "asimd", "asimddp", "sve", "sve2", "i8mm", "bf16")
CPU_VENDORS = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD", "HygonGenuine": "Hygon", "CentaurHauls": "Zhaoxin",
               "  Shanghai  ": "Zhaoxin"}
ARM_IMPLEMENTERS = {"0x41": "Arm", "0x48": "HiSilicon", "0x70": "Phytium", "0x61": "Apple"}
ARM_PARTS = {("0x48", "0xd01"): "Kunpeng 920", ("0x48", "0xd02"): "Kunpeng 920B"}


def load_plugin(kind: str) -> None:
    """Import the vendor module that makes torch know `kind` (npu, mlu, hpu); ImportError when it is missing."""
    name = PLUGINS.get(kind)
    if name:
        importlib.import_module(name)


def device_module(kind: str) -> Any:
    """torch's module for a device kind (torch.cuda, torch.npu, ...) after loading its plug-in; None where torch
    does not expose it."""
    import torch

    try:
        load_plugin(kind)
        return torch.get_device_module(kind)
    except Exception:  # no plug-in, or torch has no module for the kind
        return None


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _first_line(text: str | None) -> str | None:
    return text.strip().splitlines()[0].strip() if text and text.strip() else None


def _run(argv: list[str]) -> str | None:
    """A vendor tool's output, None if it is missing, fails or hangs (5 s)."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def _version(module: str) -> str | None:
    mod = sys.modules.get(module)
    v = getattr(mod, "__version__", None) if mod is not None else None
    if v is None:
        try:
            from importlib.metadata import version

            v = version(module.split(".")[0].replace("_", "-"))
        except Exception:
            return None
    return str(v)


def rocm_vendor(name: str, arch: str | None) -> str:
    """AMD or Hygon for a device on a ROCm (HIP) build of torch: Hygon's DCUs run AMD's stack and are told apart
    by their names (Z100, K100, K100_AI, BW...) or their gfx9 targets that AMD never shipped (gfx928, gfx936)."""
    if re.search(r"hygon|\bdcu\b", name, re.I) or re.match(r"(Z100|K100|BW\d)", name.strip(), re.I):
        return "Hygon"
    if arch and arch.split(":")[0] in ("gfx928", "gfx936"):
        return "Hygon"
    return "AMD"


def _ascend_driver() -> str | None:
    text = _read(ASCEND_DRIVER_INFO)
    m = re.search(r"^\s*Version\s*=\s*(\S+)", text or "", re.M)
    return m.group(1) if m else None


def _cann_version() -> str | None:
    npu = sys.modules.get("torch_npu")
    if npu is None:
        return None
    v = getattr(getattr(npu, "version", None), "cann", None)
    if v is None:
        try:
            v = npu.utils.get_cann_version()
        except Exception:
            return None
    return str(v) if v else None


def _stack(kind: str, hip: bool) -> dict[str, Any]:
    """Driver, runtime and plug-in versions of a device kind (None where not readable)."""
    import torch

    if kind == "cuda" and hip:
        return {"runtime": f"ROCm HIP {torch.version.hip}", "hip_version": torch.version.hip,
                "driver": _amd_driver() or _first_line(_read(MODULE_VERSION["amdgpu"]))}
    if kind == "cuda":
        return {"runtime": f"CUDA {torch.version.cuda}", "cuda_version": torch.version.cuda, "driver": _nvml_driver()}
    if kind == "npu":
        cann = _cann_version()
        return {"runtime": f"CANN {cann}" if cann else None, "plugin": _plugin("torch_npu"), "driver": _ascend_driver()}
    if kind == "mlu":
        return {"runtime": None, "plugin": _plugin("torch_mlu"), "driver": None}
    if kind == "hpu":
        return {"runtime": None, "plugin": _plugin("habana_frameworks"),
                "driver": _first_line(_read(MODULE_VERSION["habanalabs"]))}
    if kind == "xpu":
        xpu = getattr(torch.version, "xpu", None)
        return {"runtime": f"SYCL {xpu}" if xpu else None, "driver": None}  # the driver comes per device, below
    return {}


def _plugin(module: str) -> str | None:
    v = _version(module)
    return f"{module} {v}" if v else None


def _nvml_driver() -> str | None:
    try:
        import pynvml  # nvidia-ml-py

        pynvml.nvmlInit()
        return str(pynvml.nvmlSystemGetDriverVersion())
    except Exception:
        return None


def _amd_driver() -> str | None:
    try:
        import amdsmi

        amdsmi.amdsmi_init()
        handles = amdsmi.amdsmi_get_processor_handles()
        return str(amdsmi.amdsmi_get_gpu_driver_info(handles[0])["driver_version"]) if handles else None
    except Exception:
        return None


def accelerators(kind: str, indices: list[int]) -> dict[str, Any]:
    """The accelerator block for the devices `indices` of `kind` (cuda, npu, xpu, mlu, hpu): vendor, name (" + "
    between different models), count, each device's index, name and memory, and the stack's versions. Devices
    past what this node shows (a multi-node engine) are counted, not identified."""
    import torch

    mod = device_module(kind)
    hip = kind == "cuda" and bool(getattr(torch.version, "hip", None))
    try:
        visible = int(mod.device_count()) if mod is not None else 0
    except Exception:
        visible = 0
    per = []
    for i in indices:
        if i >= visible:
            continue
        per.append(_one(mod, kind, i, hip))
    names = list(dict.fromkeys(p["name"] for p in per if p.get("name"))) or ["?"]
    vendors = list(dict.fromkeys(p["vendor"] for p in per)) or [KIND_VENDOR.get(kind, "NVIDIA" if not hip else "AMD")]
    memory = [p["memory_bytes"] for p in per if p.get("memory_bytes")]
    info: dict[str, Any] = {
        "kind": kind,
        "vendor": " + ".join(vendors),
        "name": " + ".join(names),
        "count": len(indices),
        "visible_count": visible,
        "memory_bytes": memory[0] if memory else None,
        "memory_bytes_total": sum(memory) if memory and len(memory) == len(per) else None,
    }
    if per and "capability" in per[0]:
        info["capability"] = per[0]["capability"]
    info.update(_stack(kind, hip))
    if kind == "xpu" and per and per[0].get("driver"):
        info["driver"] = per[0]["driver"]
    info["devices"] = per
    if len(per) < len(indices):
        info["note"] = f"{len(indices) - len(per)} of the {len(indices)} devices are not on this node: counted, not identified"
    return info


def _one(mod: Any, kind: str, i: int, hip: bool) -> dict[str, Any]:
    """Index, name, memory and vendor of one device, from its properties (get_device_name where they lack one)."""
    try:
        props = mod.get_device_properties(i)
    except Exception:
        props = None
    name = getattr(props, "name", None)
    if not name:
        try:
            name = mod.get_device_name(i)
        except Exception:
            name = None
    out: dict[str, Any] = {"index": i, "name": str(name) if name else None}
    memory = getattr(props, "total_memory", None)
    out["memory_bytes"] = int(memory) if isinstance(memory, (int, float)) and memory > 0 else None
    if kind == "cuda" and not hip and props is not None and hasattr(props, "major"):
        out["capability"] = f"{props.major}.{props.minor}"
    arch = getattr(props, "gcnArchName", None) if hip else None
    if arch:
        out["arch"] = str(arch)
    if kind == "xpu" and getattr(props, "driver_version", None):
        out["driver"] = str(props.driver_version)
    out["vendor"] = rocm_vendor(out["name"] or "", arch) if hip else KIND_VENDOR.get(kind, "NVIDIA")
    return out


def cpu_info(path: str = CPUINFO) -> dict[str, Any]:
    """The CPU block: vendor, model name, sockets, physical cores, logical CPUs, the CPUs this process may use,
    torch's threads, and the ISA extensions present (AVX2, AVX-512, AMX on x86; NEON/SVE on Arm: Kunpeng,
    Phytium), from /proc/cpuinfo; lscpu names an Arm CPU that /proc/cpuinfo leaves unnamed."""
    text = _read(path) or ""
    blocks = [b for b in text.split("\n\n") if b.strip()]
    fields = [dict((k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in b.splitlines())) for b in blocks]
    first = fields[0] if fields else {}
    name = first.get("model name") or first.get("Model Name")
    vendor = CPU_VENDORS.get(first.get("vendor_id", ""), first.get("vendor_id"))
    impl = first.get("CPU implementer")
    if impl:
        vendor = ARM_IMPLEMENTERS.get(impl.lower(), f"Arm implementer {impl}")
        name = name or ARM_PARTS.get((impl.lower(), (first.get("CPU part") or "").lower())) or _lscpu_name()
    sockets = {f.get("physical id") for f in fields if f.get("physical id") is not None}
    cores = {(f.get("physical id"), f.get("core id")) for f in fields if f.get("core id") is not None}
    flags = set((first.get("flags") or first.get("Features") or "").split())
    logical = sum(1 for f in fields if "processor" in f) or os.cpu_count()
    try:
        allowed: int | None = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = None
    return {
        "kind": "cpu",
        "vendor": vendor,
        "name": name or platform.processor() or platform.machine(),
        "count": 1,
        "sockets": len(sockets) or 1,
        "physical_cores": len(cores) or None,
        "cores": logical,  # logical CPUs (hardware threads), as os.cpu_count() reports them
        "cpus_allowed": allowed,
        "threads_used": _torch_threads(),
        "isa": [f for f in ISA if f in flags],
        "memory_bytes": total_ram_bytes(),
    }


def _lscpu_name() -> str | None:
    m = re.search(r"^Model name:\s*(.+)$", _run(["lscpu"]) or "", re.M)
    return m.group(1).strip() if m else None


def _torch_threads() -> int | None:
    if "torch" in sys.modules:
        import torch

        return torch.get_num_threads()
    return None


def total_ram_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def mps_info() -> dict[str, Any]:
    """Apple silicon: the chip's name (sysctl), unified memory, macOS version; one device."""
    name = _first_line(_run(["sysctl", "-n", "machdep.cpu.brand_string"]))
    memory = _first_line(_run(["sysctl", "-n", "hw.memsize"]))
    return {"kind": "mps", "vendor": "Apple", "name": name or platform.machine(), "count": 1,
            "memory_bytes": int(memory) if memory and memory.isdigit() else total_ram_bytes(),
            "runtime": f"macOS {platform.mac_ver()[0]}" if platform.mac_ver()[0] else None}
