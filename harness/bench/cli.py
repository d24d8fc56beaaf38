"""`harness bench` on the command line: its flags and the call into run.py (kept here, so harness/cli.py only
registers the subcommand)."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.argtypes import positive_float, positive_int, positive_ints, rates
from harness.errors import HarnessError

EXAMPLES = """examples:
  harness bench --backend hf --model models/tiny-qwen2 --input-len 128 --output-len 32 --num-prompts 32 --offline
  harness bench --backend openai --base-url http://127.0.0.1:8000/v1 --model qwen --tokenizer models/qwen \\
      --input-len 512 --output-len 128 --concurrency 1,4,16 --slo-ttft-ms 500 --slo-tpot-ms 50
  harness bench --backend vllm --model qwen2.5-7b-instruct --suite superclue --data-dir ../shared/data \\
      --request-rate 1,2,4 --num-prompts 200
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("bench", help="measure serving performance: throughput, TTFT/TPOT/ITL percentiles, goodput",
                       description="A performance benchmark apart from scoring: offline throughput at saturation and "
                                   "online latency under concurrency levels or Poisson request rates.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("--model", required=True, help="preset, local folder or hub id; with --backend openai the served model's name")
    b.add_argument("--backend", choices=["hf", "vllm", "openai"], default="hf", help="engine (openai: any OpenAI-compatible server)")
    b.add_argument("--base-url", default=None, help="openai: the server, e.g. http://127.0.0.1:8000/v1")
    b.add_argument("--api-key-env", default=None, help="openai: NAME of the environment variable holding the key")
    b.add_argument("--tokenizer", default=None, help="openai: the served model's tokenizer folder (random prompts, chat template, input lengths)")
    b.add_argument("--endpoint", choices=["completions", "chat"], default="completions", help="openai: /v1/completions or /v1/chat/completions")
    w = b.add_argument_group("prompts (one source)")
    w.add_argument("--input-len", type=positive_int, default=None, help="random prompts of this many tokens (with --output-len)")
    w.add_argument("--output-len", type=positive_int, default=None, help="tokens to generate per request (default for --tasks: each task's budget)")
    w.add_argument("--prompts", type=Path, default=None, help="JSONL file of {\"prompt\", \"output_tokens\"} (vLLM's custom dataset format)")
    w.add_argument("--tasks", default=None, help="real prompts of these tasks (comma-separated), rendered by the task code")
    w.add_argument("--suite", default=None, help="real prompts of a suite's tasks")
    w.add_argument("--data-dir", type=Path, default=None, help="the tasks' data folder (default: $HARNESS_DATA_DIR)")
    w.add_argument("--num-prompts", type=positive_int, default=100, help="requests per scenario")
    w.add_argument("--chat-template", choices=["auto", "on", "off"], default="auto", help="wrap task prompts in the model's chat template")
    s = b.add_argument_group("scenarios (offline when none is given)")
    s.add_argument("--offline", action="store_true", help="every request at once: throughput at saturation")
    s.add_argument("--concurrency", type=positive_ints, default=[], help="closed-loop sweep: requests in flight, e.g. 1,4,16")
    s.add_argument("--request-rate", type=rates, default=[], help="Poisson arrivals sweep in requests/s, e.g. 1,2,inf")
    s.add_argument("--max-concurrency", type=positive_int, default=None, help="cap on requests in flight during --request-rate scenarios")
    s.add_argument("--burstiness", type=positive_float, default=1.0, help="gamma shape of the gaps between arrivals (1: Poisson)")
    s.add_argument("--slo-ttft-ms", type=positive_float, default=None, help="goodput: TTFT target in ms")
    s.add_argument("--slo-tpot-ms", type=positive_float, default=None, help="goodput: TPOT target in ms")
    s.add_argument("--slo-e2el-ms", type=positive_float, default=None, help="goodput: end-to-end latency target in ms")
    s.add_argument("--warmup", type=int, default=1, help="requests sent once before measuring (not counted)")
    g = b.add_argument_group("decoding and engine")
    g.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    g.add_argument("--ignore-eos", action="store_true", help="generate exactly the asked lengths (vLLM, SGLang, hf)")
    g.add_argument("--seed", type=int, default=0, help="seed of the prompts and the arrivals")
    g.add_argument("--device", default="auto", help="hf: auto, cpu, cuda, ...")
    g.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    g.add_argument("--batch-size", default="auto", help="hf: the largest static batch")
    g.add_argument("--tensor-parallel-size", type=positive_int, default=1, help="vllm")
    g.add_argument("--max-model-len", type=positive_int, default=None, help="vllm")
    g.add_argument("--gpu-memory-utilization", type=float, default=None, help="vllm")
    g.add_argument("--enforce-eager", action="store_true", help="vllm")
    g.add_argument("--trust-remote-code", action="store_true")
    b.add_argument("-o", "--output", type=Path, default=Path("results") / "bench",
                   help="a .json file, or a folder for bench-<model>-<time>.json (the leaderboard build reads them)")
    b.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from harness.bench.metrics import SLO
    from harness.bench.report import print_summary, write_bench
    from harness.bench.run import BenchConfig, run_bench
    from harness.tasks.data import default_data_dir

    sources = [x for x in (args.prompts, args.tasks or args.suite, args.input_len) if x]
    if len(sources) > 1:
        raise HarnessError("bench: give one prompt source: --input-len/--output-len, --prompts, --tasks or --suite")
    if args.backend != "openai" and (args.base_url or args.tokenizer):
        raise HarnessError(f"bench --backend {args.backend}: --base-url and --tokenizer are for --backend openai")
    data_dir = args.data_dir or default_data_dir()
    cfg = BenchConfig(
        model=args.model, backend=args.backend, base_url=args.base_url, api_key_env=args.api_key_env,
        tokenizer=args.tokenizer, endpoint=args.endpoint,
        tasks=[t.strip() for t in (args.tasks or "").split(",") if t.strip()], suite=args.suite, data_dir=data_dir,
        prompts_file=args.prompts, input_len=args.input_len, output_len=args.output_len, num_prompts=args.num_prompts,
        seed=args.seed, offline=args.offline, concurrency=args.concurrency, request_rates=args.request_rate,
        max_concurrency=args.max_concurrency, burstiness=args.burstiness,
        slo=SLO(args.slo_ttft_ms, args.slo_tpot_ms, args.slo_e2el_ms), temperature=args.temperature,
        ignore_eos=args.ignore_eos, warmup=max(0, args.warmup), chat_template=args.chat_template, device=args.device,
        dtype=args.dtype, batch_size=args.batch_size, tensor_parallel_size=args.tensor_parallel_size,
        max_model_len=args.max_model_len, gpu_memory_utilization=args.gpu_memory_utilization,
        enforce_eager=args.enforce_eager, trust_remote_code=args.trust_remote_code, progress=not args.no_progress,
        command=["harness", *argv])
    doc = run_bench(cfg)
    path = write_bench(doc, args.output)
    print_summary(doc, path)
    return 0
