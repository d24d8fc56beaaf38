"""Issue 17 item 2, vendor breadth: accelerator identity for every kind torch exposes, and the transformers
backend's device handling through torch's generic accelerator API. No accelerator here: everything past the CPU
runs against fakes at the vendor-library boundary (torch_npu / torch_mlu / habana plug-ins, torch.get_device_module,
torch.accelerator, torch.version), never against the harness's own functions."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from harness.backends import accelerator as accel  # noqa: E402
from harness.errors import HarnessError  # noqa: E402
from harness.results import devices  # noqa: E402
from harness.results.throughput import accelerator_info, devices_used  # noqa: E402

SAPPHIRE_RAPIDS = """processor\t: {i}
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
physical id\t: {socket}
core id\t: {core}
flags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8

"""

KUNPENG = """processor\t: {i}
BogoMIPS\t: 200.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma dcpop asimddp asimdfhm
CPU implementer\t: 0x48
CPU architecture: 8
CPU variant\t: 0x1
CPU part\t: 0xd01

"""


def test_cpu_identity_from_cpuinfo(tmp_path: Path) -> None:
    """Two sockets x 2 cores x 2 threads of a Sapphire Rapids: 2 sockets, 4 physical cores, 8 logical CPUs, AMX."""
    text = "".join(SAPPHIRE_RAPIDS.format(i=i, socket=i // 4, core=(i % 4) // 2) for i in range(8))
    (tmp_path / "cpuinfo").write_text(text)
    info = devices.cpu_info(str(tmp_path / "cpuinfo"))
    assert (info["vendor"], info["name"], info["sockets"], info["physical_cores"], info["cores"]) == (
        "Intel", "Intel(R) Xeon(R) Platinum 8480+", 2, 4, 8)
    assert info["isa"] == ["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx512_fp16",
                           "amx_tile", "amx_bf16", "amx_int8"]
    assert info["threads_used"] == torch.get_num_threads() and info["count"] == 1
    # a Kunpeng 920 (HiSilicon, Arm): named from its part number, NEON dot product but no SVE
    (tmp_path / "arm").write_text("".join(KUNPENG.format(i=i) for i in range(4)))
    arm = devices.cpu_info(str(tmp_path / "arm"))
    assert (arm["vendor"], arm["name"], arm["cores"], arm["isa"]) == ("HiSilicon", "Kunpeng 920", 4, ["asimd", "asimddp"])
    # a Hygon C86 says HygonGenuine
    (tmp_path / "hygon").write_text(SAPPHIRE_RAPIDS.format(i=0, socket=0, core=0).replace("GenuineIntel", "HygonGenuine"))
    assert devices.cpu_info(str(tmp_path / "hygon"))["vendor"] == "Hygon"


def test_cpu_block_of_this_machine() -> None:
    info = accelerator_info("cpu")
    assert info["kind"] == "cpu" and info["cores"] >= 1 and info["sockets"] >= 1 and isinstance(info["isa"], list)


class FakeDeviceModule:
    """torch.<kind> as a vendor plug-in registers it: devices with properties."""

    def __init__(self, props: list[Any], bf16: bool = True) -> None:
        self.props, self.bf16 = props, bf16
        self.calls: list[str] = []

    def is_available(self) -> bool:
        return bool(self.props)

    def device_count(self) -> int:
        return len(self.props)

    def get_device_properties(self, i: int) -> Any:
        return self.props[i]

    def get_device_name(self, i: int) -> str:
        return self.props[i].name

    def is_bf16_supported(self) -> bool:
        return self.bf16

    def synchronize(self, device: Any = None) -> None:
        self.calls.append(f"synchronize {device}")

    def max_memory_allocated(self, device: Any = None) -> int:
        self.calls.append(f"max_memory_allocated {device}")
        return 3 * 2**30

    def empty_cache(self) -> None:
        self.calls.append("empty_cache")


def fake_plugin(monkeypatch: pytest.MonkeyPatch, kind: str, module: str, mod: FakeDeviceModule, **attrs: Any) -> None:
    """A vendor plug-in (`module`, e.g. torch_npu) that registers `kind` with torch."""
    plugin = types.ModuleType(module)
    plugin.__version__ = "2.4.0.post2"  # type: ignore[attr-defined]
    for k, v in attrs.items():
        setattr(plugin, k, v)
    monkeypatch.setitem(sys.modules, module, plugin)
    real = torch.get_device_module
    monkeypatch.setattr(torch, "get_device_module", lambda k=None: mod if str(k).split(":")[0] == kind else real(k))


def test_ascend_npu_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """vllm-ascend with TP 4 on an 8-chip 910B node: four chips counted and named, CANN, torch_npu, driver."""
    chips = [types.SimpleNamespace(name="Ascend910B3", total_memory=64 * 2**30) for _ in range(8)]
    fake_plugin(monkeypatch, "npu", "torch_npu", FakeDeviceModule(chips), version=types.SimpleNamespace(cann="8.0.RC3"))
    (tmp_path / "version.info").write_text("Version=24.1.rc3\nascendhal_version=7.35.23\n")
    monkeypatch.setattr(devices, "ASCEND_DRIVER_INFO", str(tmp_path / "version.info"))
    used = devices_used({"engine": "vllm", "device": "npu:0", "tensor_parallel_size": 4})
    assert used == ["npu:0", "npu:1", "npu:2", "npu:3"]
    info = accelerator_info("npu:0", used)
    assert (info["kind"], info["vendor"], info["name"], info["count"], info["visible_count"]) == (
        "npu", "Huawei", "Ascend910B3", 4, 8)
    assert info["memory_bytes"] == 64 * 2**30 and info["memory_bytes_total"] == 4 * 64 * 2**30
    assert (info["runtime"], info["plugin"], info["driver"]) == ("CANN 8.0.RC3", "torch_npu 2.4.0.post2", "24.1.rc3")
    # torch_npu 2.8 moved the CANN version to torch_npu.utils.get_cann_version()
    fake_plugin(monkeypatch, "npu", "torch_npu", FakeDeviceModule(chips),
                utils=types.SimpleNamespace(get_cann_version=lambda: "8.3.RC2"))
    assert accelerator_info("npu:0")["runtime"] == "CANN 8.3.RC2"


def test_rocm_devices_are_amd_or_hygon(monkeypatch: pytest.MonkeyPatch) -> None:
    """A HIP build of torch shows AMD and Hygon devices as `cuda`: the vendor comes from the name or gfx target."""
    def rocm(props: list[Any]) -> None:
        monkeypatch.setattr(torch.version, "hip", "6.2.41133", raising=False)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: len(props))
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props[i])
        monkeypatch.setitem(sys.modules, "amdsmi", None)  # no AMD SMI: the driver from /sys/module/amdgpu (or None)

    mi300 = types.SimpleNamespace(name="AMD Instinct MI300X", total_memory=192 * 2**30, gcnArchName="gfx942:sramecc+:xnack-",
                                  major=9, minor=4)
    rocm([mi300, mi300])
    info = accelerator_info("cuda:0", ["cuda:0", "cuda:1"])
    assert (info["vendor"], info["name"], info["count"], info["runtime"]) == ("AMD", "AMD Instinct MI300X", 2, "ROCm HIP 6.2.41133")
    assert info["devices"][0]["arch"] == "gfx942:sramecc+:xnack-" and "capability" not in info  # not a CUDA capability
    k100 = types.SimpleNamespace(name="K100_AI", total_memory=64 * 2**30, gcnArchName="gfx928", major=9, minor=2)
    rocm([k100])
    assert accelerator_info("cuda:0")["vendor"] == "Hygon"
    rocm([types.SimpleNamespace(name="Hygon DCU Z100L", total_memory=32 * 2**30, gcnArchName="gfx906", major=9, minor=0)])
    assert accelerator_info("cuda:0")["vendor"] == "Hygon"


def test_intel_xpu_gaudi_cambricon_and_apple(monkeypatch: pytest.MonkeyPatch) -> None:
    arc = types.SimpleNamespace(name="Intel(R) Data Center GPU Max 1550", total_memory=128 * 2**30, driver_version="1.3.29735")
    monkeypatch.setattr(torch.xpu, "device_count", lambda: 1)
    monkeypatch.setattr(torch.xpu, "get_device_properties", lambda i: arc)
    monkeypatch.setattr(torch.version, "xpu", "20240200", raising=False)
    xpu = accelerator_info("xpu:0")
    assert (xpu["vendor"], xpu["name"], xpu["driver"], xpu["runtime"]) == ("Intel", arc.name, "1.3.29735", "SYCL 20240200")

    mlu = types.SimpleNamespace(name="MLU370-X8", total_memory=48 * 2**30)
    fake_plugin(monkeypatch, "mlu", "torch_mlu", FakeDeviceModule([mlu, mlu]))
    info = accelerator_info("mlu:0", ["mlu:0", "mlu:1"])
    assert (info["vendor"], info["name"], info["count"], info["plugin"]) == ("Cambricon", "MLU370-X8", 2, "torch_mlu 2.4.0.post2")

    gaudi = types.SimpleNamespace(name="GAUDI2", total_memory=96 * 2**30)
    fake_plugin(monkeypatch, "hpu", "habana_frameworks.torch", FakeDeviceModule([gaudi]))
    monkeypatch.setitem(sys.modules, "habana_frameworks", types.SimpleNamespace(__version__="1.18.0"))
    info = accelerator_info("hpu:0")
    assert (info["vendor"], info["name"], info["plugin"]) == ("Intel Gaudi", "GAUDI2", "habana_frameworks 1.18.0")

    answers = {"machdep.cpu.brand_string": "Apple M2 Max\n", "hw.memsize": "68719476736\n"}
    monkeypatch.setattr(devices, "_run", lambda argv: answers.get(argv[-1]))
    mps = accelerator_info("mps")
    assert (mps["vendor"], mps["name"], mps["memory_bytes"], mps["count"]) == ("Apple", "Apple M2 Max", 64 * 2**30, 1)


def test_npu_device_needs_torch_npu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch_npu", None)  # not installed
    with pytest.raises(HarnessError, match=r"--device npu: needs torch_npu, which is not installed here"):
        accel.resolve_device("npu")
    with pytest.raises(HarnessError, match="no xpu device is visible"):
        accel.resolve_device("xpu")
    with pytest.raises(HarnessError, match="not a device the harness runs on"):
        accel.resolve_device("tpu")


FAKE_TORCH_NPU = """import types
import torch

__version__ = "2.4.0.post2"
version = types.SimpleNamespace(cann="8.0.RC3")
npu = types.ModuleType("torch.npu")
npu.is_available = lambda: True
npu.device_count = lambda: 2
npu.get_device_properties = lambda i: types.SimpleNamespace(name="Ascend910B3", total_memory=64 * 2**30)
npu.is_bf16_supported = lambda: True
npu.synchronize = lambda device=None: None
npu.max_memory_allocated = lambda device=None: 7
# what the real torch_npu does on import: name torch's PrivateUse1 backend "npu" and register torch.npu
torch.utils.rename_privateuse1_backend("npu")
torch._register_device_module("npu", npu)
"""

CHECK_NPU = """
import torch
from harness.backends.accelerator import auto_dtype, peak_memory_bytes, resolve_device
from harness.errors import HarnessError
from harness.results.throughput import accelerator_info
assert str(resolve_device("auto")) == "npu:0", resolve_device("auto")  # no CUDA: the installed plug-in's device
assert resolve_device("npu:1") == torch.device("npu:1")
assert auto_dtype(torch.device("npu:1")) == torch.bfloat16
assert peak_memory_bytes([torch.device("npu:0"), torch.device("npu:1")]) == 14
try:
    resolve_device("npu:2")
    raise AssertionError("npu:2 resolved")
except HarnessError as e:
    assert "torch sees 2 npu device(s) here" in str(e), e
info = accelerator_info("npu:0", ["npu:0", "npu:1"])
assert (info["vendor"], info["name"], info["count"], info["runtime"]) == ("Huawei", "Ascend910B3", 2, "CANN 8.0.RC3"), info
print("ok")
"""


def test_npu_device_resolves_through_the_plugin(tmp_path: Path) -> None:
    """A torch_npu stand-in that does on import what the real one does (renames PrivateUse1 to "npu", registers
    torch.npu), imported in a process of its own since the rename cannot be undone."""
    import os
    import subprocess

    (tmp_path / "torch_npu").mkdir()
    (tmp_path / "torch_npu" / "__init__.py").write_text(FAKE_TORCH_NPU)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).resolve().parents[1])])}
    proc = subprocess.run([sys.executable, "-c", CHECK_NPU], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


class FakeAccelerator:
    """torch.accelerator as a build with `kind` as its accelerator would answer."""

    def __init__(self, kind: str) -> None:
        self.kind, self.calls = kind, []

    def is_available(self) -> bool:
        return True

    def current_accelerator(self) -> Any:
        return torch.device(self.kind)

    def synchronize(self, device: Any = None) -> None:
        self.calls.append(("synchronize", str(device)))

    def max_memory_allocated(self, device: Any = None) -> int:
        self.calls.append(("max_memory_allocated", str(device)))
        return 5 * 2**30

    def empty_cache(self) -> None:
        self.calls.append(("empty_cache", ""))


def test_device_operations_go_through_torch_accelerator(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeAccelerator("xpu")
    for name in ("is_available", "current_accelerator", "synchronize", "max_memory_allocated", "empty_cache"):
        monkeypatch.setattr(torch.accelerator, name, getattr(fake, name))
    monkeypatch.setattr(torch.xpu, "is_available", lambda: True)
    monkeypatch.setattr(torch.xpu, "device_count", lambda: 2)
    monkeypatch.setattr(torch.xpu, "is_bf16_supported", lambda *a, **k: False)
    assert accel.resolve_device("auto") == torch.device("xpu:0")  # no CUDA: torch's own accelerator
    x0, x1 = torch.device("xpu:0"), torch.device("xpu:1")
    accel.synchronize(x0)
    assert accel.peak_memory_bytes([x0, x1, torch.device("cpu")]) == 10 * 2**30  # a model over two devices
    accel.empty_cache(x0)
    assert fake.calls == [("synchronize", "xpu:0"), ("max_memory_allocated", "xpu:0"), ("max_memory_allocated", "xpu:1"),
                          ("empty_cache", "")]
    assert accel.auto_dtype(x0) == torch.float16  # no bf16 on this device
    assert accel.peak_memory_bytes([torch.device("cpu")]) is None and accel.auto_dtype(torch.device("cpu")) == torch.float32


def test_oom_backoff_on_any_accelerator(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ascend reports OOM as a RuntimeError ("NPU out of memory"): the batch halves and the cache is emptied
    through torch's generic API, as for CUDA's OutOfMemoryError; any other error still stops the run."""
    from harness.backends.hf import HFBackend

    fake = FakeAccelerator("xpu")
    for name in ("is_available", "current_accelerator", "synchronize", "empty_cache"):
        monkeypatch.setattr(torch.accelerator, name, getattr(fake, name))
    backend = HFBackend.__new__(HFBackend)
    backend.device, backend.batch_size = torch.device("xpu:0"), 8

    def run(batch: list[int]) -> list[int]:
        if len(batch) > 2:
            raise RuntimeError("NPU out of memory. Tried to allocate 2.00 GiB")
        return [x * 10 for x in batch]

    got = [out for pairs, _ in backend._batches(list(range(7)), run) for out in pairs]
    assert got == [(i, i * 10) for i in range(7)] and backend.batch_size == 2
    assert fake.calls.count(("empty_cache", "")) == 2  # 8 -> 4 -> 2
    assert fake.calls.count(("synchronize", "xpu:0")) == 4  # after each batch that ran: 2 + 2 + 2 + 1 items

    def broken(batch: list[int]) -> list[int]:
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        list(backend._batches([1], broken))
    backend.batch_size = 1
    with pytest.raises(HarnessError, match="even at batch size 1"):
        list(backend._batches([1], lambda b: (_ for _ in ()).throw(torch.OutOfMemoryError("CUDA out of memory"))))


def test_device_not_torchs_current_accelerator_uses_its_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plug-in device on a build whose torch.accelerator reports none: torch.get_device_module's functions."""
    mod = FakeDeviceModule([types.SimpleNamespace(name="MLU370-X8", total_memory=1)])
    fake_plugin(monkeypatch, "mlu", "torch_mlu", mod)
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: False)
    device = types.SimpleNamespace(type="mlu")
    accel.synchronize(device)  # type: ignore[arg-type]
    assert accel.peak_memory_bytes([device]) == 3 * 2**30  # type: ignore[list-item]
    accel.empty_cache(device)  # type: ignore[arg-type]
    assert mod.calls == [f"synchronize {device}", f"max_memory_allocated {device}", "empty_cache"]
