"""NaturalCodeBench zh, Java half: upstream's reference solutions (reference/reference_ncb_java_zh.jsonl) through the
harness's Java checks (harness/sandbox/java.py: the sandboxed JVM, the trusted JUnit launcher), all 70 problems.

Each problem ends as one of: passed; excluded (its tests or reference import a library not installed here, the
reason named: the run leaves these out and counts them); fixture (left out by tasks/code/ncb_java_zh.yaml because
its tests need fixture files not in git; run anyway to show they fail for that reason); failed (anything else: a
harness bug to look at). Prints a table and writes JSON.

    .venv/bin/python benchmarks/ncb_java_reference.py [--data-dir ../shared/data] [--workers 2] [--ids 131,132]
        [--output benchmarks/results/ncb_java_reference.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    import yaml

    from harness.sandbox import java
    from harness.sandbox.java import JavaCheck, extract_java, java_limits, missing_libraries, run_java_check

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ids", default="", help="comma-separated problem ids (default: all)")
    ap.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "ncb_java_reference.json")
    args = ap.parse_args()

    why = java.refusal()
    if why is not None:
        print(f"error: {why}", file=sys.stderr)
        return 2
    folder = args.data_dir / "naturalcodebench"
    rows = [json.loads(x) for x in (folder / "ncb_java_zh.jsonl").read_text(encoding="utf-8").splitlines()]
    refs = {r["_id"]: r["response"] for r in map(json.loads, (folder / "reference" / "reference_ncb_java_zh.jsonl")
                                                 .read_text(encoding="utf-8").splitlines())}
    spec = yaml.safe_load((ROOT / "tasks" / "code" / "ncb_java_zh.yaml").read_text(encoding="utf-8"))
    fixture = set(spec["dataset"].get("exclude", {}).get("_id", []))
    wanted = {int(x) for x in args.ids.split(",") if x.strip()}
    rows = [r for r in rows if not wanted or r["_id"] in wanted]

    def one(row: dict) -> dict:
        i = row["_id"]
        missing = missing_libraries(row["testcases"], refs[i])
        if missing:
            return {"id": i, "outcome": "excluded", "reason": f"needs {', '.join(missing)} (not installed)",
                    "seconds": 0.0, "tests": 0}
        r = run_java_check(JavaCheck(tuple(extract_java(refs[i])), row["testcases"], str(i)), java_limits(60))
        outcome = "passed" if r.passed else "fixture" if i in fixture else "failed"
        return {"id": i, "outcome": outcome, "reason": r.reason[:300], "seconds": round(r.seconds, 2),
                "tests": r.found}

    start = time.monotonic()
    with ThreadPoolExecutor(max(1, args.workers)) as pool:
        results = list(pool.map(one, rows))
    wall = time.monotonic() - start
    counts = {k: sum(r["outcome"] == k for r in results) for k in ("passed", "excluded", "fixture", "failed")}
    print(f"{'id':>4}  {'outcome':<9} {'tests':>5} {'s':>6}  reason")
    for r in results:
        print(f"{r['id']:>4}  {r['outcome']:<9} {r['tests']:>5} {r['seconds']:>6.2f}  "
              f"{'' if r['outcome'] == 'passed' else r['reason'][:100]}")
    print(f"\n{len(results)} problems: " + ", ".join(f"{v} {k}" for k, v in counts.items())
          + f"; {wall:.1f} s wall at {args.workers} workers")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    rt = java.runtime()
    args.output.write_text(json.dumps({
        "counts": counts, "wall_s": round(wall, 1), "workers": args.workers, "java": getattr(rt, "major", None),
        "jars": list(getattr(rt, "jars", ())), "machine": platform.machine(), "results": results},
        ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
