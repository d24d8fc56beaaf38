"""Wall time of HumanEval-zh's sandboxed checks, one at a time against --sandbox-workers (issue 14, item 4).

Whole `harness eval` runs (each in its own process) against a local fake OpenAI-compatible server
(tests/test_openai_backend.py's FakeServer), so the time is the dispatcher's, sandbox and all; the model costs
nothing. Two kinds of answers:

  canonical  every problem answered with its canonical solution (164 items; all pass)
  sleeping   every answer sleeps for a minute (4 items; each check ends at the task's 10 s time limit)

Each kind runs with --sandbox-workers 1 and with the default (the cores), and, with --before SRC (a source tree
of an earlier harness, e.g. `git archive <commit> | tar -x -C SRC`), with that code too: its checks ran one after
another, one process per program, exit status 0 = pass. Prints a table and writes JSON.

    .venv/bin/python benchmarks/sandbox_parallel.py [--before /tmp/harness-before] [--repeats 1] \
        [--workers 1,default,4] [--output benchmarks/results/sandbox_parallel.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SLEEPING = "    import time\n    time.sleep(60)\n    return None\n"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def _server(data_dir: Path, kind: str):
    sys.path.insert(0, str(ROOT / "tests"))
    from test_openai_backend import FakeServer

    rows = [json.loads(x) for x in (data_dir / "humaneval_zh" / "humaneval_python_cn.jsonl").read_text(encoding="utf-8").splitlines()]
    def key(prompt: str) -> str:  # entry names repeat across problems; prompts do not (the task's repairs aside)
        return re.sub(r'[\s"]', "", prompt)

    canonical = {key(r["prompt"]): r["canonical_solution"] for r in rows}
    server = FakeServer()

    def reply(body: dict) -> dict:
        text = SLEEPING if kind == "sleeping" else canonical[key(body["messages"][-1]["content"])]
        return {"text": text, "finish_reason": "stop", "stop_reason": None}

    server.reply = reply
    return server


def _run(src: Path, url: str, data_dir: Path, limit: int, workers: str | None, out: Path) -> dict:
    """One `harness eval` in a fresh process with `src` first on the path; wall time and what it scored."""
    args = ["eval", "--backend", "openai", "--base-url", url, "--model", "tiny", "--tasks", "humaneval_zh",
            "--limit", str(limit), "--data-dir", str(data_dir), "--output-dir", str(out), "--no-progress", "--no-cache"]
    if workers is not None:
        args += ["--sandbox-workers", workers]
    env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1"}
    code = "import sys; from harness.cli import main; sys.exit(main(sys.argv[1:]))"
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=src, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"harness eval failed ({src}):\n{proc.stderr[-2000:]}")
    (path,) = out.rglob("*.json")
    results = json.loads(path.read_text(encoding="utf-8"))
    t = results["tasks"]["humaneval_zh"]
    lines = [json.loads(x) for x in (path.parent / results["samples_file"]).read_text(encoding="utf-8").splitlines()]
    seconds = [e["seconds"] for s in lines for e in s["execution"]]
    return {"wall_s": wall, "pass@1": t["metrics"]["pass@1"], "statuses": t["metrics"]["statuses"],
            "check_s_sum": sum(seconds), "sandbox": results.get("sandbox"), "load_before": load}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--before", type=Path, default=None, help="source tree of an earlier harness to time too")
    ap.add_argument("--workers", default="1,default", help="comma-separated --sandbox-workers values (default: the cores)")
    ap.add_argument("--repeats", type=int, default=1, help="runs per configuration; the median is reported")
    ap.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "sandbox_parallel.json")
    args = ap.parse_args()

    configs: list[tuple[str, Path, str | None]] = []
    if args.before:
        configs.append(("before (sequential, exit status)", args.before.resolve(), None))
    for w in args.workers.split(","):
        configs.append((f"workers={w}" if w != "default" else f"workers=default ({os.cpu_count()})", ROOT,
                        None if w == "default" else w))
    rows = []
    for kind, limit in (("canonical", 164), ("sleeping", 4)):
        server = _server(args.data_dir, kind)
        try:
            for label, src, workers in configs:
                runs = []
                for _ in range(args.repeats):
                    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
                        runs.append(_run(src, server.url, args.data_dir, limit, workers, Path(tmp)))
                walls = [r["wall_s"] for r in runs]
                last = runs[-1]
                rows.append({"answers": kind, "items": limit, "config": label, "wall_s": round(statistics.median(walls), 2),
                             "walls": [round(w, 2) for w in walls], "items_per_s": round(limit / statistics.median(walls), 2),
                             "pass@1": last["pass@1"], "statuses": last["statuses"],
                             "check_s_sum": round(last["check_s_sum"], 1), "sandbox": last["sandbox"],
                             "load_1min_before": [round(r["load_before"], 2) for r in runs]})
                print(f"  {kind:<10} {label:<34} {rows[-1]['wall_s']:>7.1f} s", file=sys.stderr)
        finally:
            server.close()

    print(f"\n{'answers':<10} {'items':>5} {'config':<34} {'wall s':>8} {'items/s':>8} {'pass@1':>7}  statuses")
    for r in rows:
        print(f"{r['answers']:<10} {r['items']:>5} {r['config']:<34} {r['wall_s']:>8.1f} {r['items_per_s']:>8.2f} "
              f"{r['pass@1']:>7.3f}  {r['statuses']}")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"machine": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
                                       "commit": commit, "before": str(args.before) if args.before else None,
                                       "rows": rows}, indent=2), encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
