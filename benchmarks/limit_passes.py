"""How long a --limit run spends reading data: for every task of a suite, the plan's pass (reads and checks every
row, draws the --limit items) and then two more passes over the drawn items, as a run makes (prompts rendered at
planning, then the dispatcher's pass). Prints a table per task and writes JSON.

Compare two harness versions by running this script with each on PYTHONPATH, e.g.
  git archive <commit> | tar -x -C /tmp/before
  PYTHONPATH=/tmp/before .venv/bin/python benchmarks/limit_passes.py --output benchmarks/results/limit_before.json
  .venv/bin/python benchmarks/limit_passes.py --output benchmarks/results/limit_after.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import harness  # noqa: E402
from harness.tasks.roots import task_dirs  # noqa: E402
from harness.tasks.suites import load_suite  # noqa: E402
from harness.tasks.task import Task, resolve_task_files  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="superclue")
    ap.add_argument("--limit", type=int, default=3)
    ap.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    ap.add_argument("--output", type=Path, default=Path("benchmarks/results/limit_passes.json"))
    args = ap.parse_args()
    rows = []
    for path in resolve_task_files(load_suite(args.suite).tasks):
        task = Task.load(path)
        t0 = time.perf_counter()
        stream = task.plan(args.data_dir, args.limit, 1234)
        t1 = time.perf_counter()
        n = [sum(1 for _ in stream) for _ in range(2)]
        t2 = time.perf_counter()
        rows.append({"task": task.name, "items": n[0], "plan_s": t1 - t0, "two_passes_s": t2 - t1})
    print(f"harness from {Path(harness.__file__).parent}; tasks from {task_dirs()[-1]}")
    print(f"{'task':<22} {'items':>5} {'plan s':>8} {'2 passes s':>11}")
    for r in rows:
        print(f"{r['task']:<22} {r['items']:>5} {r['plan_s']:>8.2f} {r['two_passes_s']:>11.2f}")
    total = {k: sum(r[k] for r in rows) for k in ("plan_s", "two_passes_s")}
    print(f"{'total':<22} {'':>5} {total['plan_s']:>8.2f} {total['two_passes_s']:>11.2f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"suite": args.suite, "limit": args.limit, "tasks": rows, "total": total},
                                      indent=2), encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
