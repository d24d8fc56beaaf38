#!/usr/bin/env bash
# From a fresh clone to a finished evaluation in one command.
#   bash quickstart.sh                               # tiny local model, superclue-objective, 20 items per task
#   bash quickstart.sh --judge-model qwen2.5-72b-instruct ...   # with a judge: the whole superclue suite
# Then the leaderboard of everything under results/ is built into site/ (open site/index.html).
#   bash quickstart.sh --model qwen2.5-7b-instruct --data-dir ~/data --limit 0   # a real model, every item
# Data comes from --data-dir, else $HARNESS_DATA_DIR, else the hub copies. Extra flags go to `harness eval`.
set -euo pipefail
cd "$(dirname "$0")"
model="" limit=20 outdir=results suite=superclue-objective args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --limit) limit="$2"; shift 2 ;;
    --output-dir) outdir="$2"; args+=("$1" "$2"); shift 2 ;;
    --judge-model) suite=superclue; args+=("$1" "$2"); shift 2 ;;
    --suite) suite="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[ -x .venv/bin/harness ] || bash scripts/install.sh .venv test 2>&1 | { grep -v "^WARNING: Location" || true; }
if [ -z "$model" ]; then
  model=models/tiny-qwen2
  [ -f "$model/config.json" ] || .venv/bin/harness tiny-model --arch qwen2 -o "$model"
  args+=(--max-new-tokens 64)  # a random model only babbles: keep its generations short
  echo "quickstart: $model has random weights: the run shows the pipeline, its scores mean nothing (--model M for real ones)" >&2
fi
[ "$limit" = 0 ] || args+=(--limit "$limit")
.venv/bin/harness eval --model "$model" --suite "$suite" "${args[@]}"
.venv/bin/harness leaderboard build "$outdir" -o site
