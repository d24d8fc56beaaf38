"""NaturalCodeBench zh, Python half: upstream's reference solutions (reference/reference_ncb_python_zh.jsonl) through
the harness's pytest-mode checks (harness/sandbox/driver_pytest.py: the problem's pytest module in one sandboxed
process, the reference in another), all 70 problems.

Each problem ends as one of: passed; excluded (its tests or reference import a module not installed here, named:
a run leaves these out and counts them); fixture (left out by tasks/code/ncb_python_zh.yaml: its tests need
fixture files not in git, or expect one library version's output; run anyway to show how they fail); version (the
reference fails for a known library-version reason named below); failed (anything else: a harness bug to look at).
Prints a table and writes JSON.

    .venv/bin/python benchmarks/ncb_reference.py [--data-dir ../shared/data] [--workers 2] [--ids 131,132]
        [--output benchmarks/results/ncb_python_reference.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _known_version_failures() -> dict[int, str]:
    """Problems whose reference needs an older library than the one installed here."""
    known = {}
    try:
        import pandas

        if int(pandas.__version__.split(".")[0]) >= 3:
            known[166] = f"the reference calls DataFrame._append, removed in pandas 3 (here {pandas.__version__})"
    except ImportError:
        pass
    return known


def main() -> int:
    import yaml

    from harness.sandbox.core import Limits, refusal
    from harness.sandbox.protocol import Check, run_checks
    from harness.sandbox.pytest_tasks import extract_ncb_code, unavailable_modules

    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ids", default="", help="comma-separated problem ids (default: all)")
    ap.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "ncb_python_reference.json")
    args = ap.parse_args()

    why = refusal()
    if why is not None:
        print(f"error: {why}", file=sys.stderr)
        return 2
    folder = args.data_dir / "naturalcodebench"
    rows = [json.loads(x) for x in (folder / "ncb_python_zh.jsonl").read_text(encoding="utf-8").splitlines()]
    refs = {r["_id"]: r["response"] for r in map(json.loads, (folder / "reference" / "reference_ncb_python_zh.jsonl")
                                                 .read_text(encoding="utf-8").splitlines())}
    spec = yaml.safe_load((ROOT / "tasks" / "code" / "ncb_python_zh.yaml").read_text(encoding="utf-8"))
    fixture = set(spec["dataset"].get("exclude", {}).get("_id", []))
    ex = spec["execution"]
    limits = Limits(timeout_s=ex["timeout_s"], cpu_s=int(ex["timeout_s"]), memory_mb=ex["memory_mb"], files=32768,
                    disk_mb=256)  # as harness/run/dispatch.py gives pytest-mode tasks
    known = _known_version_failures()
    wanted = {int(x) for x in args.ids.split(",") if x.strip()}
    rows = [r for r in rows if not wanted or r["_id"] in wanted]

    out: dict[int, dict] = {}
    runnable = []
    for row in rows:
        missing = unavailable_modules(row)
        if missing:
            out[row["_id"]] = {"id": row["_id"], "outcome": "excluded", "seconds": 0.0,
                               "reason": f"needs {', '.join(missing)} (not installed)"}
        else:
            runnable.append(row)
    start = time.monotonic()
    checks = [Check(r["testcases"], None, extract_ncb_code(refs[r["_id"]]), None, tests="pytest") for r in runnable]
    for row, res in zip(runnable, run_checks(checks, limits, workers=args.workers)):
        i = row["_id"]
        outcome = ("passed" if res.passed else "fixture" if i in fixture else "version" if i in known else "failed")
        reason = res.reason if outcome != "version" else f"{known[i]}; {res.reason}"
        out[i] = {"id": i, "outcome": outcome, "seconds": round(res.seconds, 2), "reason": reason}
    wall = time.monotonic() - start

    print(f"{'id':>4}  {'outcome':8}  {'s':>6}  reason")
    for i in sorted(out):
        e = out[i]
        print(f"{i:>4}  {e['outcome']:8}  {e['seconds']:6.1f}  {e['reason'][:110]}")
    counts: dict[str, int] = {}
    for e in out.values():
        counts[e["outcome"]] = counts.get(e["outcome"], 0) + 1
    print(", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + f"; {len(out)} problems, {wall:.0f} s wall")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "what": "NaturalCodeBench zh Python: upstream reference solutions through the pytest-mode verdict protocol",
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "workers": args.workers},
        "counts": counts, "wall_seconds": round(wall, 1), "problems": [out[i] for i in sorted(out)],
    }, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 0 if counts.get("failed", 0) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
