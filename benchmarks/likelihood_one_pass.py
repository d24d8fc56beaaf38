"""C-Eval val on a tiny model: one-pass likelihood scoring against one forward pass per option.

Why it matters: a four-option multiple-choice question whose options are single letters can be scored
from ONE forward pass over the question (read the four letters' log-probabilities at the last position).
Harnesses without a logits cache instead send every option as a separate full prompt ("question + A",
"question + B", ...); lm-evaluation-harness's vLLM path does exactly this, so it runs the shared question
four times. This script runs the harness's HF backend both ways on the same requests with the same batch
size and reports forward tokens (tokens actually run through the model), wall time, and whether the two
paths pick the same answer.

    .venv/bin/python benchmarks/likelihood_one_pass.py [--limit N] [--num-fewshot K] [--batch-size B]

`--compare shared-prefix --task iflytek` measures the other optimisation the same way: requests with many
multi-token options (IFLYTEK's 119 numbered classes) scored against one shared run of their context versus
the whole prompt once per option.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_CACHE", "/tmp/bench-hfds")

import torch  # noqa: E402

from harness.backends.hf import HFBackend  # noqa: E402
from harness.models.tiny import build_tiny_model  # noqa: E402
from harness.tasks.task import Task, discover_tasks  # noqa: E402
from harness.types import LoglikelihoodRequest, LoglikelihoodResult  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
VARIANTS = {"one-pass": ("one-pass", "per-option"), "shared-prefix": ("shared-prefix", "whole-sequences")}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run(backend: HFBackend, reqs: list[LoglikelihoodRequest]) -> tuple[float, list[LoglikelihoodResult]]:
    """Wall seconds to consume the whole iterator, and the results in request order."""
    out: list[LoglikelihoodResult | None] = [None] * len(reqs)
    start = time.perf_counter()
    for i, res in backend.loglikelihood(reqs):
        out[i] = res
    seconds = time.perf_counter() - start
    assert all(r is not None for r in out)
    return seconds, out  # type: ignore[return-value]


def measure(backends: dict[str, HFBackend], reqs: list[LoglikelihoodRequest], repeats: int) -> dict[str, dict[str, Any]]:
    """Warm up each backend on one batch, then run the variants interleaved (ABBA...), so that load from other
    processes on a shared machine falls on both alike; report the median wall time of each."""
    for backend in backends.values():
        run(backend, reqs[: backend.batch_size])
    times: dict[str, list[float]] = {name: [] for name in backends}
    results: dict[str, list[LoglikelihoodResult]] = {}
    names = list(backends)
    for rep in range(repeats):
        for name in names if rep % 2 == 0 else names[::-1]:
            seconds, results[name] = run(backends[name], reqs)
            times[name].append(seconds)
    rows = {}
    for name, res in results.items():
        wall = statistics.median(times[name])
        rows[name] = {
            "requests": len(reqs),
            "forward_tokens": sum(r.cost.prompt_tokens for r in res),
            "one_pass_requests": sum(r.one_pass for r in res),
            "wall_s": wall,
            "wall_s_all": times[name],
            "requests_per_s": len(reqs) / wall,
            "_results": res,
        }
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--limit", type=int, default=None, help="questions (default: the whole eval split)")
    ap.add_argument("--num-fewshot", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--task", default="ceval", help="any likelihood task (default: ceval, its val split)")
    ap.add_argument("--compare", choices=list(VARIANTS), default="one-pass")
    ap.add_argument("--output", type=Path, default=None, help="default: benchmarks/results/likelihood_<compare>.json")
    args = ap.parse_args()
    fast, slow = VARIANTS[args.compare]
    output = args.output or REPO / "benchmarks" / "results" / f"likelihood_{args.compare.replace('-', '_')}.json"

    task = Task.load(discover_tasks()[args.task])
    samples = task.samples(args.data_dir, args.limit)
    prompts = task.prompts(samples, task.fewshot_pool(args.data_dir, args.num_fewshot), args.num_fewshot, "likelihood")
    reqs = [LoglikelihoodRequest(p.prompt, p.continuations) for p in prompts]

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-tiny-") as tmp:
        model_path = build_tiny_model("qwen2", tmp, num_layers=4, hidden_size=256)
        backends = {}
        for name, shared in ((fast, True), (slow, False)):
            backends[name] = HFBackend(str(model_path), device="cpu", dtype="float32", batch_size=args.batch_size,
                                       one_pass=args.compare != "one-pass" or shared)
            backends[name].shared_prefix = args.compare != "shared-prefix" or shared
        rows = measure(backends, reqs, args.repeats)
        cfg = backends[fast].model.config
        model_cfg = {k: getattr(cfg, k) for k in ("model_type", "num_hidden_layers", "hidden_size", "intermediate_size",
                                                  "num_attention_heads", "num_key_value_heads", "vocab_size")}

    a, b = rows[fast].pop("_results"), rows[slow].pop("_results")
    pred = lambda r: max(range(len(r.logprobs)), key=r.logprobs.__getitem__)  # noqa: E731
    agree = sum(pred(x) == pred(y) for x, y in zip(a, b))
    max_diff = max(abs(p - q) for x, y in zip(a, b) for p, q in zip(x.logprobs, y.logprobs))
    op, po = rows[fast], rows[slow]
    summary = {
        "forward_token_ratio": po["forward_tokens"] / op["forward_tokens"],
        "wall_time_ratio": po["wall_s"] / op["wall_s"],
        "predictions_agree": agree,
        "predictions_identical": agree == len(reqs),
        "max_abs_logprob_diff": max_diff,
    }
    machine = {"cpu": cpu_name(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
               "torch": torch.__version__, "python": platform.python_version(),
               "loadavg_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)]}

    print(f"{args.task}, {len(reqs)} questions, {args.num_fewshot}-shot, batch size {args.batch_size}, "
          f"median of {args.repeats}; {machine['cpu']}, {machine['cores']} cores, {machine['torch_threads']} torch threads, "
          f"load average {machine['loadavg_1m_before_after'][0]} -> {machine['loadavg_1m_before_after'][1]}")
    print(f"model: {model_cfg}")
    print(f"{'path':<12}{'requests':>10}{'forward tokens':>16}{'wall s':>10}{'requests/s':>12}")
    for name, r in rows.items():
        print(f"{name:<12}{r['requests']:>10}{r['forward_tokens']:>16}{r['wall_s']:>10.2f}{r['requests_per_s']:>12.1f}")
    print(f"{slow} / {fast}: forward tokens {summary['forward_token_ratio']:.2f}x, wall time {summary['wall_time_ratio']:.2f}x")
    print(f"predictions agree: {agree}/{len(reqs)}; max |logprob diff| {max_diff:.2e}")

    output.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": f"likelihood_{args.compare}", "task": args.task, "num_fewshot": args.num_fewshot,
               "limit": args.limit, "batch_size": args.batch_size, "repeats": args.repeats, "machine": machine,
               "model": model_cfg, "rows": rows, "summary": summary}
    output.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
