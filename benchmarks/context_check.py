"""What measuring every prompt against the model's context costs (harness/run/context.py), next to the tokenization the
backend does anyway. Real tokenizers (../shared/tokenizers), real prompts: C-Eval val (likelihood, 5-shot) and
GSM8K-zh (generation prompts). Prints a table and writes JSON.

    .venv/bin/python benchmarks/context_check.py [--num-fewshot 5] [--repeats 3] [--output benchmarks/results/context_check.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--tokenizers", type=Path, default=ROOT.parent / "shared" / "tokenizers")
    ap.add_argument("--num-fewshot", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "context_check.json")
    args = ap.parse_args()

    from harness.backends.base import encode_batch, encode_requests
    from harness.models.chat import load_tokenizer
    from harness.run.context import ContextFit
    from harness.tasks.task import Task, discover_tasks
    from harness.types import LoglikelihoodRequest

    ceval = Task.load(discover_tasks()["ceval"])
    pool = ceval.fewshot_pool(args.data_dir, args.num_fewshot)
    ll = [LoglikelihoodRequest(p.prompt, p.continuations)
          for p in (ceval.prompt(s, pool, args.num_fewshot, "likelihood") for s in ceval.plan(args.data_dir))]
    gsm = Task.load(discover_tasks()["gsm8k_zh"])
    gen = [gsm.prompt(s, {}, 0, "generate").prompt for s in gsm.plan(args.data_dir)]

    rows = []
    for name in ("qwen3", "deepseek_v3"):
        tok = load_tokenizer(str(args.tokenizers / name), None, False)
        for kind, n, measure, backend in (
            ("likelihood (C-Eval val, %d-shot)" % args.num_fewshot, len(ll),
             lambda: ContextFit(tok, 32768).likelihood_lengths(ll), lambda: encode_requests(tok, ll)),
            ("likelihood, 1k context (exact path)", len(ll),
             lambda: ContextFit(tok, 1024).likelihood_lengths(ll), lambda: encode_requests(tok, ll)),
            ("generation (GSM8K-zh)", len(gen),
             lambda: ContextFit(tok, 32768).prompt_lengths(gen, True), lambda: encode_batch(tok, gen, True)),
        ):
            m = _median_seconds(measure, args.repeats)
            b = _median_seconds(backend, args.repeats)
            rows.append({"tokenizer": name, "requests": kind, "n": n, "measure_s": round(m, 4),
                         "backend_encode_s": round(b, 4), "measure_ms_per_1k": round(1000 * m / n * 1000, 2),
                         "ratio_to_backend_encode": round(m / b, 3)})
    print(f"{'tokenizer':<12} {'requests':<38} {'n':>6} {'measure s':>10} {'backend s':>10} {'ms/1k':>8} {'ratio':>6}")
    for r in rows:
        print(f"{r['tokenizer']:<12} {r['requests']:<38} {r['n']:>6} {r['measure_s']:>10.3f} {r['backend_encode_s']:>10.3f} "
              f"{r['measure_ms_per_1k']:>8.1f} {r['ratio_to_backend_encode']:>6.2f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "rows": rows}, indent=2),
                           encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
