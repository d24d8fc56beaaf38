#!/usr/bin/env bash
# Create (or reuse) a virtual environment and install the harness with CPU torch.
# Usage: scripts/install.sh [VENV_DIR] [EXTRAS]   (defaults: .venv, "test")
# The constraints file pins torch to its CPU build: an unpinned torch pulls several GB of CUDA packages.
# On a GPU machine, install the CUDA torch you need first and pass HARNESS_TORCH=keep to leave it alone.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv}"
extras="${2:-test}"
python3 -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
# the editable install writes metadata into this checkout: one at a time (.ci/run installs two environments at once)
editable=("${pip[@]}"); ! command -v flock >/dev/null || editable=(flock . "${pip[@]}")
if [ "${HARNESS_TORCH:-}" = keep ]; then
  "${editable[@]}" install -e ".[$extras]"
else
  "${pip[@]}" install -c .ci/constraints.txt "torch==2.13.0+cpu"
  "${editable[@]}" install -c .ci/constraints.txt -e ".[$extras]"
fi
echo "installed into $venv"
