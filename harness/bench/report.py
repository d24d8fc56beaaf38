"""A bench results document as a summary table on the terminal, and as a JSON file checked against its schema
(harness/results/bench_schema.py) before it is written."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from harness.errors import HarnessError


def _f(value: Any, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def summary_table(doc: dict[str, Any]) -> Any:
    """One row per scenario: request rate/concurrency, throughput, goodput and the latency percentiles."""
    from rich.table import Table

    acc = doc.get("accelerator") or {}
    where = acc.get("name") or acc.get("kind") or "?"
    wl = doc["workload"]
    ins, outs = wl.get("input_len") or {}, wl.get("output_len") or {}
    title = (f"harness bench: {doc['model']['name']} ({doc['model']['backend']}) on {where}; {wl['num_prompts']} prompts "
             f"({wl['source']}), input {_f(ins.get('mean'), 0)} / output {_f(outs.get('mean'), 0)} tokens on average")
    table = Table(title=title)
    has_goodput = any("goodput" in s for s in doc["scenarios"])
    cols = ["scenario", "done", "req/s", "out tok/s", *(["goodput req/s"] if has_goodput else []),
            "TTFT p50/p90/p99 ms", "TPOT p50/p90/p99 ms", "ITL p50/p90/p99 ms", "J/tok"]
    for c in cols:
        table.add_column(c, justify="left" if c == "scenario" else "right")
    def pcts(s: dict[str, Any], key: str) -> str:
        d = s.get(key)
        return "–" if not d else f"{d['p50']:.1f}/{d['p90']:.1f}/{d['p99']:.1f}"

    for s in doc["scenarios"]:
        done = f"{s['completed']}/{s['requests']}"
        row = [s["name"], done, _f(s["request_throughput"], 2), _f(s["output_tokens_per_s"]),
               *([_f(s.get("goodput"), 2)] if has_goodput else []), pcts(s, "ttft_ms"), pcts(s, "tpot_ms"), pcts(s, "itl_ms"),
               _f(s.get("joules_per_output_token"), 3)]
        table.add_row(*row)
    return table


def print_summary(doc: dict[str, Any], path: Path | None) -> None:
    from rich.console import Console

    console = Console(stderr=False)
    if not console.is_terminal:
        console = Console(width=160)
    console.print(summary_table(doc))
    for s in doc["scenarios"]:
        for e in s.get("errors") or []:
            console.print(f"[red]{s['name']}: {s['failed']} failed; first error: {e}[/red]", markup=True, highlight=False)
            break
    if path is not None:
        console.print(f"results: {path}")


def write_bench(doc: dict[str, Any], output: Path) -> Path:
    """Validate and write the document: `output` is a .json file, or a folder (a file named after the model and
    the time goes in it). Atomic: a reader never sees half a file."""
    from harness.results.bench_schema import validate_bench

    validate_bench(doc)
    if output.suffix != ".json":
        stamp = doc["finished_at"].replace(":", "").replace("-", "")[:15]
        name = "".join(c if c.isalnum() or c in "._-" else "_" for c in doc["model"]["name"].split("/")[-1])
        output = output / f"bench-{name}-{stamp}.json"
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=".bench-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        os.replace(tmp, output)
    except OSError as e:
        raise HarnessError(f"bench --output {output}: cannot write it ({e.strerror or e})") from None
    return output
