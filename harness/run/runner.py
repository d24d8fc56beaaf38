"""`harness eval` from start to end: tasks -> prompts -> requests -> backend -> scores -> results file.

Requests of all tasks are pooled by kind and handed to the backend in one call, which sorts and batches them;
each sample is scored and written to the JSONL file the moment its result arrives.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import platform
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import __version__
from harness.errors import HarnessError
from harness.models.presets import ModelRef, resolve_commit, resolve_model, tokenizer_fingerprint, weights_fingerprint
from harness.results.files import write_results
from harness.results.prices import cost_of_results, load_prices
from harness.results.schema import SCHEMA_VERSION
from harness.results.throughput import (
    EnergyMeter,
    Usage,
    accelerator_info,
    devices_used,
    parallel_sizes,
    per_accelerator,
    process_peak_rss_bytes,
    run_figures,
)
from harness.run.decoding import DecodingFlags, settings_for
from harness.run.dispatch import Dispatcher, Planned
from harness.run.reasoning import ThinkingPlan, plan_thinking
from harness.scoring.evaluate_metric import load_evaluate_metrics
from harness.scoring.metrics import TaskTally, three_way
from harness.tasks.spec import DERIVED
from harness.tasks.suites import Suite, aggregate_suite, load_suite
from harness.tasks.task import Task, resolve_task_files
from harness.types import Mode

if TYPE_CHECKING:
    from harness.backends.base import Backend


@dataclass
class EvalConfig:
    model: str
    tasks: list[str]
    suite: str | None = None
    data_dir: Path | None = None
    output_dir: Path = Path("results")
    backend: str = "auto"  # auto: vllm with a CUDA GPU and vLLM installed, else hf
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float | None = None
    max_model_len: int | None = None
    enforce_eager: bool = False
    dtype: str = "auto"
    device: str = "auto"
    batch_size: str = "auto"
    num_fewshot: int | None = None
    limit: int | None = None
    seed: int = 1234
    mode: Mode | None = None
    chat_template: str = "auto"  # auto | on | off
    trust_remote_code: bool = False
    revision: str | None = None
    max_new_tokens: int | None = None
    base_url: str | None = None  # --backend openai: the server
    tokenizer: str | None = None  # --backend openai: a local tokenizer for token-exact prompts and scoring
    api_key_env: str | None = None  # name of the environment variable holding its key
    judge_model: str | None = None
    judge_backend: str = "auto"
    judge_base_url: str | None = None
    judge_api_key_env: str | None = None
    context_policy: str | None = None  # skip | fewer_shots for prompts longer than the context (default: each task's)
    thinking: str = "auto"  # on | off | auto (the preset's or chat template's default), see harness/run/reasoning.py
    samples: int | None = None  # generations per item (avg@N); default: each task's
    temperature: float | None = None  # default: the model card's for the mode (preset), else the task's
    top_p: float | None = None
    top_k: int | None = None
    judge_sees_reasoning: bool = False  # show judges each answer's reasoning (default: the answer only)
    sandbox_workers: int | None = None  # sandboxed checks at once (execution tasks); None: the cores
    # run untrusted code although a sandbox layer or limit is missing here (recorded); part of the config so that
    # Ray workers and harness.evaluate() callers get it as the CLI's --allow-weak-sandbox does
    allow_weak_sandbox: bool = False
    cache: str = "on"  # on: reuse and store responses; fresh: recompute, store; off: neither
    cache_dir: Path | None = None
    progress: bool = True
    prices: Path | None = None  # a prices file: the run's cost from its time and energy (harness/results/prices.py)
    command: list[str] = field(default_factory=lambda: list(sys.argv))


def _choose_mode(cfg: EvalConfig, suite: Suite | None, task: Task, notes: list[str]) -> Mode:
    """--mode, else the suite's default, else the task's own. With --tasks an unsupported --mode is an error;
    within a suite, a task that cannot run in the asked mode keeps its own, and the results say so."""
    modes = task.spec.modes
    if cfg.mode is not None:
        if cfg.mode in modes:
            return cfg.mode
        if suite is None:
            raise HarnessError(f"--mode {cfg.mode}: task {task.name} supports only {', '.join(modes)}")
        notes.append(f"{task.name}: --mode {cfg.mode} unsupported, ran in {task.spec.mode} mode")
    if suite is not None and suite.mode in modes:
        return suite.mode
    return task.spec.mode


def _plan_names(cfg: EvalConfig, suite: Suite | None = None) -> list[str]:
    """The task names a run covers: --tasks, else the suite's (checked, so a typo fails before any work)."""
    if suite is None and cfg.suite:
        suite = load_suite(cfg.suite)
    names = cfg.tasks or (suite.tasks if suite else [])
    if not names:
        raise HarnessError("--tasks or --suite: say what to evaluate (see `harness tasks`)")
    resolve_task_files(names)
    return list(names)


def _plan_tasks(cfg: EvalConfig, suite: Suite | None, notes: list[str]) -> list[Planned]:
    """Read every task's data and render every prompt once before a model is loaded: bad input fails in seconds.
    Nothing is kept but the --limit draw; the run streams the items again from the files."""
    planned = []
    for path in resolve_task_files(_plan_names(cfg, suite)):
        task = Task.load(path)
        task.evaluators = load_evaluate_metrics(task, cfg.trust_remote_code)  # code: only with --trust-remote-code
        mode = _choose_mode(cfg, suite, task, notes)
        shots = task.spec.num_fewshot if cfg.num_fewshot is None else cfg.num_fewshot
        items = task.plan(cfg.data_dir, cfg.limit, cfg.seed)
        if len(items) == 0:
            raise HarnessError(_no_rows_message(task, cfg.data_dir))
        p = Planned(task, mode, shots, items, len(items), task.fewshot_pool(cfg.data_dir, shots))
        for _ in p.rendered():
            pass
        planned.append(p)
    return planned


def _no_rows_message(task: Task, data_dir: Path | None) -> str:
    """An evaluated split without a single row: a run would write a results file with n=0 and look successful."""
    ds = task.spec.dataset
    if task.data_origin == "hub" and ds.hub is not None:
        where = f"the hub copy {ds.hub.path} (split {ds.hub.eval_split})"
    else:
        where = str(data_dir / ds.eval) if data_dir is not None else ds.eval
    why = []
    if task.skipped:
        why.append(f"{task.skipped} rows skipped by multi_answer: skip")
    if ds.exclude:
        why.append(f"dataset.exclude {dict(ds.exclude)} may drop them all")
    return (f"task {task.name}: no rows to evaluate in {where}{' (' + '; '.join(why) + ')' if why else ''}; "
            f"check that the file holds data rows (dataset.eval, dataset.format) or leave the task out")


def _use_chat(cfg: EvalConfig, ref: ModelRef) -> bool:
    if cfg.chat_template not in ("auto", "on", "off"):
        raise HarnessError(f"--chat-template: '{cfg.chat_template}' must be auto, on or off")
    return ref.is_chat if cfg.chat_template == "auto" else cfg.chat_template == "on"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


@dataclass
class Opened:
    """A loaded model and how prompts reach it."""

    ref: ModelRef
    backend: Backend
    chat: Any  # the harness's chat formatter, or None
    use_messages: bool  # an API backend that applies the server's own chat template to messages
    load_seconds: float
    describe: dict[str, Any]
    model_block: dict[str, Any] = field(default_factory=dict)


def resolve(cfg: EvalConfig, model: str, backend_name: str, base_url: str | None, flag: str = "--model") -> ModelRef:
    """What a model name refers to, checked without loading anything (a typo fails before any work)."""
    if backend_name == "openai":
        if not base_url:
            raise HarnessError(f"{flag} {model}: --backend openai needs the server's URL ({'--judge-base-url' if flag != '--model' else '--base-url'})")
        # served models are chat models unless told otherwise (the judge: always)
        return ModelRef(name=model, source=base_url, is_local=False,
                        served_chat=cfg.chat_template != "off" or flag != "--model")
    return resolve_model(model, revision=cfg.revision if flag == "--model" else None,
                         trust_remote_code=cfg.trust_remote_code, flag=flag)


def open_model(cfg: EvalConfig, model: str, backend_name: str, base_url: str | None, api_key_env: str | None,
               flag: str = "--model", ref: ModelRef | None = None) -> Opened:
    """Load a model (the evaluated one, or the judge) with the run's engine settings; `ref` if already resolved."""
    from harness.backends import create_backend

    ref = ref or resolve(cfg, model, backend_name, base_url, flag)
    if backend_name == "openai":
        wants_chat = bool(ref.served_chat)
    else:
        # a judge always gets its chat template when it has one; --chat-template is about the evaluated model
        wants_chat = _use_chat(cfg, ref) if flag == "--model" else True
    dtype = cfg.dtype if cfg.dtype != "auto" or ref.preset is None else ref.preset.dtype
    t0 = time.perf_counter()
    backend = _create(create_backend, cfg, ref, dtype, backend_name, base_url, api_key_env, flag)
    load_seconds = time.perf_counter() - t0
    describe = backend.describe()
    chat = None
    use_messages = wants_chat and backend.name == "openai"
    if wants_chat and not use_messages:
        from harness.models.chat import ChatFormatter, load_tokenizer

        tokenizer = getattr(backend, "tokenizer", None) or load_tokenizer(ref.source, ref.revision, cfg.trust_remote_code)
        override = ref.preset.chat_template if ref.preset else None
        if flag == "--model" or override or getattr(tokenizer, "chat_template", None):
            chat = ChatFormatter(tokenizer, override, ref.name)
    opened = Opened(ref, backend, chat, use_messages, load_seconds, describe)
    opened.model_block = _model_block(ref, describe, backend, chat, cfg, server_template=use_messages)
    return opened


def _release(opened: Opened) -> None:
    """Free the evaluated model before the judge loads (one accelerator holds one model at a time): close it (every
    backend releases its engine there), then collect, so the memory is really returned before the judge asks for it."""
    import gc

    opened.backend.close()  # each backend returns its accelerator's cached memory there (any vendor's)
    gc.collect()


def run_eval(cfg: EvalConfig, opened: Opened | None = None, open_judge: Any = None) -> tuple[dict[str, Any], Path]:
    """Run one evaluation; return the results dict and the path of the results file.

    `opened`: a model already loaded (a Ray worker evaluates several task shards with one load); it is then left
    loaded, and the judge (`open_judge`, a callable returning an Opened, also kept by the caller) runs beside it."""
    # bad model names fail before any data is read, and the judge's before the evaluated model runs for hours
    ref = opened.ref if opened is not None else resolve(cfg, cfg.model, cfg.backend, cfg.base_url)
    judge_ref = resolve(cfg, cfg.judge_model, cfg.judge_backend, cfg.judge_base_url, "--judge-model") if cfg.judge_model else None
    prices = load_prices(cfg.prices) if cfg.prices else None  # a bad prices file is one line before the model loads
    suite = load_suite(cfg.suite) if cfg.suite else None
    notes: list[str] = []
    planned = _plan_tasks(cfg, suite, notes)
    if cfg.allow_weak_sandbox and any(p.task.spec.answer_type == "execution" for p in planned):
        from harness.sandbox.core import allow_weak_sandbox

        allow_weak_sandbox()  # in this process: a Ray worker's own, or the caller's
    judged = [p.task.name for p in planned if p.task.spec.answer_type == "judged"]
    if judged and not cfg.judge_model:
        raise HarnessError(f"--judge-model: tasks {', '.join(judged)} are scored by a judge model; name one "
                           f"(or leave them out, e.g. --suite superclue-objective)")
    if judged:
        from harness.run.judge import check_templates

        check_templates(planned, cfg.data_dir)
    keep = opened is not None
    if opened is None:
        opened = open_model(cfg, cfg.model, cfg.backend, cfg.base_url, cfg.api_key_env, ref=ref)
    ref, backend, describe, load_seconds = opened.ref, opened.backend, opened.describe, opened.load_seconds
    device = str(describe.get("device", "remote"))

    started = _dt.datetime.now(_dt.timezone.utc)
    # the random part keeps two runs of one command started in the same second from sharing files
    run_id = (started.strftime("%Y%m%dT%H%M%SZ") + "-" + hashlib.sha256(" ".join(cfg.command).encode()).hexdigest()[:6]
              + "-" + secrets.token_hex(2))
    out_dir = cfg.output_dir / _slug(ref.name)
    results_path = out_dir / f"{run_id}.json"
    samples_path = out_dir / f"{run_id}.samples.jsonl"

    cache = None
    if cfg.cache != "off":
        from harness.run.cache import ResponseCache, default_cache_dir, model_identity

        cache = ResponseCache((cfg.cache_dir or default_cache_dir()) / "responses.sqlite", read=cfg.cache != "fresh")
    thinking = _thinking(cfg, opened, planned, notes)
    flags = DecodingFlags(cfg.max_new_tokens, cfg.temperature, cfg.top_p, cfg.top_k, cfg.samples)
    settings = [settings_for(p.task.spec.generation, ref.preset, thinking.enabled, flags, p.task.name,
                             tuple(p.task.spec.metrics)) for p in planned]
    dispatcher = Dispatcher(planned, opened.chat, opened.use_messages, cfg.seed, settings, cache,
                            model_identity(opened.model_block) if cache else None, cfg.context_policy, thinking,
                            sandbox_workers=cfg.sandbox_workers)
    used = devices_used(describe) if device != "remote" else []  # every device: TP x PP x DP, a device_map
    energy = EnergyMeter(used or device)
    wall0 = time.perf_counter()
    dispatcher.run(backend, samples_path, cfg.progress)
    wall = time.perf_counter() - wall0
    joules = energy.joules()
    usage = dispatcher.usage
    peak = backend.peak_memory_bytes()
    batch_size = describe.get("batch_size")
    judge_block = None
    if judged:
        from harness.run.judge import run_judge

        if not keep:
            del backend  # the engine is released by _release; no other reference keeps it
            _release(opened)
        opened_judges: list[Opened] = []  # a judge this run opens, it closes; one given by the caller, the caller

        def open_own_judge() -> Opened:
            opened_judges.append(open_model(cfg, cfg.judge_model or "", cfg.judge_backend, cfg.judge_base_url,
                                            cfg.judge_api_key_env, "--judge-model", judge_ref))
            return opened_judges[-1]

        try:
            judge_block = run_judge(planned, dispatcher.tallies, cfg.data_dir, open_judge or open_own_judge,
                                    out_dir / f"{run_id}.judge.jsonl", samples_path, cfg.seed, cfg.progress, cache,
                                    cfg.judge_sees_reasoning)
        finally:
            for j in opened_judges:
                j.backend.close()

    tasks_out = {p.task.name: _task_result(p, t, u) for p, t, u in zip(planned, dispatcher.tallies, usage)}
    for p, g, th in zip(planned, settings, dispatcher.think):
        generated = p.mode == "generate"
        tasks_out[p.task.name]["max_new_tokens"] = g.max_new_tokens if generated else None
        tasks_out[p.task.name]["decoding"] = {**g.report(), "seeds": [cfg.seed + j for j in range(g.samples)]} if generated else None
        tasks_out[p.task.name]["thinking"] = th.report() if generated else None
    for p, n, ctx, nf in zip(planned, dispatcher.cached, dispatcher.context, dispatcher.failed):
        tasks_out[p.task.name]["cached_requests"] = n
        tasks_out[p.task.name]["context"] = ctx.report()
        tasks_out[p.task.name]["failed_items"] = nf  # scoring broke on these: each line says why; scored 0
    total = Usage()
    for u in usage:
        total.merge(u)
    accelerator: dict[str, Any] = (accelerator_info(device, used, parallel_sizes(describe)) if device != "remote"
                   else {"kind": "remote", "name": str(describe.get("base_url")), "count": 1})
    n_devices = int(accelerator.get("count") or 1)
    for t in tasks_out.values():
        t["throughput"]["per_accelerator"] = per_accelerator(t["throughput"], n_devices)
    results: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "started_at": started.isoformat(),
        "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(),
        "model": opened.model_block,
        "harness": {"version": __version__, "git_commit": _git_commit()},
        "environment": _environment(describe),
        "judge": judge_block,
        "command": cfg.command,
        "config": {
            "limit": cfg.limit,
            "seed": cfg.seed,
            "num_fewshot": cfg.num_fewshot,
            "mode": cfg.mode,
            "suite": cfg.suite,
            "data_dir": str(cfg.data_dir) if cfg.data_dir else None,
            "max_new_tokens": cfg.max_new_tokens,
            "preset_generation": ref.preset.generation.model_dump() if ref.preset else None,
            "context_policy": cfg.context_policy,
            "thinking": cfg.thinking,
            "samples": cfg.samples,
            "temperature": cfg.temperature,
            "top_p": cfg.top_p,
            "top_k": cfg.top_k,
        },
        "tasks": tasks_out,
        "suite": aggregate_suite(suite, tasks_out) if suite else None,
        "notes": notes,
        "throughput": {
            "model_load_seconds": round(load_seconds, 3),
            "batch_size": batch_size,
            "peak_memory_bytes": peak if peak is not None else process_peak_rss_bytes(),
            "peak_memory_kind": "accelerator_allocated" if peak is not None else "process_rss",
            **energy.report(joules),  # energy_joules summed over every device used, energy_method, energy_devices
            "accelerator": accelerator,
            **total.report(wall_seconds=wall),  # counts, wall seconds, latencies; the rates follow (one definition)
            **run_figures(tasks_out, wall, n_devices, joules),
        },
        "samples_file": samples_path.name,
        "sandbox": dispatcher.sandbox_isolation,
        "cache": cache.stats() if cache else None,
    }
    if prices is not None:
        results["throughput"]["cost"] = cost_of_results(results["throughput"], tasks_out, prices)
    if cache is not None:
        cache.close()
    write_results(results_path, results)  # checked against harness/results/schema.py as it is written
    if not keep:  # the next model of a --models list (or a judge) loads on a free accelerator
        opened.backend.close()
    return results, results_path


def _thinking(cfg: EvalConfig, opened: Opened, planned: list[Planned], notes: list[str]) -> ThinkingPlan:
    """Whether the run thinks (--thinking, the preset, the chat template), told to the chat formatter and recorded in
    the model block. A thinking model's first token is not its answer, so likelihood scoring is never done with
    thinking on: a task that can be generated is, with a note; one that cannot is refused."""
    chat = opened.chat
    render = (lambda kw: chat("你好", **kw)) if chat is not None else None
    plan = plan_thinking(cfg.thinking, opened.ref.name, opened.ref.preset, render,
                         getattr(chat, "template", None), server=opened.use_messages)
    if chat is not None:
        chat.kwargs = dict(plan.template_kwargs)
    opened.model_block["thinking"] = plan.report()
    if plan.enabled:
        for p in planned:
            if p.mode != "likelihood":
                continue
            if cfg.mode == "likelihood" or "generate" not in p.task.spec.modes:
                raise HarnessError(f"--thinking: task {p.task.name} would be scored by likelihood, which reads a "
                                   "thinking model's first token as its answer; use --mode generate or --thinking off")
            p.mode = "generate"
            notes.append(f"{p.task.name}: thinking is on, so it ran in generate mode (likelihood scoring needs the "
                         "answer as the first token)")
    return plan


def _task_result(p: Planned, tally: TaskTally, u: Usage) -> dict[str, Any]:
    """One task's block of the results file: every metric aggregated, the primary one as its score."""
    spec = p.task.spec
    # an item without a value (a judge verdict that could not be read) is left out and counted, never scored 0
    per_metric = {m: tally.metrics[m].result(spec.aggregate) for m in spec.metrics}
    if any(m in DERIVED for m in spec.metrics):  # CGA and F-score come from the correct and incorrect shares
        derived = three_way(per_metric["correct"], per_metric["incorrect"])
        per_metric = {m: derived.get(m, agg) for m, agg in per_metric.items()}
    metrics: dict[str, Any] = {}
    for m, agg in per_metric.items():
        metrics[m], metrics[f"{m}_stderr"] = agg["score"], agg["score_stderr"]
    if spec.answer_type == "execution":
        metrics["statuses"] = dict(sorted(tally.predictions.items()))
    elif spec.answer_type == "judged":
        metrics["judged"] = tally.n - tally.without_metrics
        metrics["judge_unparsed"] = tally.without_metrics
        metrics.update(sorted(tally.flags.items()))  # judge_clamped, judge_defaulted, judge_skipped_empty
    elif p.mode == "generate":
        metrics["unextracted"] = tally.without_prediction
    by_chain: dict[str, Any] = {}
    if tally.chains is not None:  # FollowBench's CSL, from whole chains only (the others are counted)
        chains = tally.chains.result()
        by_chain["csl_by"] = chains.pop("csl_by")  # per file: beside the groups, metrics hold numbers only
        metrics.update(chains)
    across = tally.across_samples()
    if across is not None:  # several generations per item: avg@N and how much a sampled run's score moves
        metrics[f"avg@{across['samples']}"] = across["mean"]
        metrics["across_samples"] = across
    primary = per_metric[spec.metrics[0]]
    return {
        "name": spec.name,
        "version": spec.version,
        "category": spec.category,
        "mode": p.mode,
        "answer_type": spec.answer_type,
        "num_fewshot": p.num_fewshot,
        "n_samples": p.n,
        "primary_metric": spec.metrics[0],
        "score": primary["score"],
        "score_stderr": primary["score_stderr"],
        "metrics": metrics,
        "aggregate": {"rule": spec.aggregate, **primary, **by_chain},
        "template_hash": p.task.template.hash,
        "prompt_hash": p.prompt_hash,
        "data": {"origin": p.task.data_origin, "files": p.task.data_hashes, "skipped_rows": p.task.skipped,
                 "excluded_rows": p.task.excluded},
        "source": spec.source,
        "license": spec.license,
        "description": spec.description,
        "description_zh": spec.description_zh,  # the leaderboard's Chinese pages; without it they show description
        "template": p.task.template.source,  # so a leaderboard built from results alone can show the prompt
        "throughput": u.report(),
        **({"evaluate_modules": {n: e.source for n, e in sorted(p.task.evaluators.items())}} if p.task.evaluators else {}),
    }


def _create(create_backend: Any, cfg: EvalConfig, ref: ModelRef, dtype: str, backend_name: str,
            base_url: str | None, api_key_env: str | None, flag: str) -> Any:
    if backend_name == "openai":
        try:
            tokenizer = cfg.tokenizer if flag == "--model" else None
            return create_backend("openai", model=ref.name, base_url=base_url, api_key_env=api_key_env, tokenizer=tokenizer,
                                  trust_remote_code=cfg.trust_remote_code)
        except HarnessError:
            raise
        except (OSError, ValueError) as e:
            raise HarnessError(f"{flag} {ref.name}: {str(e).splitlines()[0][:300]}") from None
    options: dict[str, Any] = dict(
        model=ref.source,
        revision=ref.revision,
        dtype=dtype,
        device=cfg.device,
        batch_size=cfg.batch_size,
        trust_remote_code=cfg.trust_remote_code,
    )
    vllm_options = dict(
        tensor_parallel_size=cfg.tensor_parallel_size,
        gpu_memory_utilization=cfg.gpu_memory_utilization,
        max_model_len=cfg.max_model_len,
        enforce_eager=cfg.enforce_eager,
        seed=cfg.seed,
    )
    try:
        return create_backend(backend_name, **options, vllm_options=vllm_options)
    except HarnessError:
        raise
    except (OSError, ValueError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise HarnessError(f"{flag} {ref.name}: could not load it: {first[:300]}") from None


def _model_block(ref: ModelRef, describe: dict[str, Any], backend: Any, chat: Any, cfg: EvalConfig,
                 server_template: bool = False) -> dict[str, Any]:
    """`server_template`: messages went to an API server, which applied the model's chat template itself."""
    config = getattr(getattr(backend, "model", None), "config", None)
    block: dict[str, Any] = {
        "name": ref.name,
        "source": ref.source,
        "is_local": ref.is_local,
        "preset": ref.preset.name if ref.preset else None,
        "family": ref.preset.family if ref.preset else ref.config.get("model_type"),
        "type": "chat" if ref.is_chat else "base",
        "revision": ref.revision or getattr(config, "_commit_hash", None),
        "architecture": (ref.config.get("architectures") or [None])[0] or describe.get("model_class"),
        "dtype": describe.get("dtype"),
        "backend": backend.name,
        "engine": describe,
        "chat_template_applied": chat is not None or server_template,
        "chat_template_hash": chat.hash if chat else None,
        "trust_remote_code": cfg.trust_remote_code,
    }
    block.update(_output_settings(ref, describe, backend, cfg, config))
    if ref.is_local:
        block["weights"] = weights_fingerprint(Path(ref.source))
    n_params = getattr(getattr(backend, "model", None), "num_parameters", None)
    if callable(n_params):
        block["num_parameters"] = int(n_params())
    return block


def _output_settings(ref: ModelRef, describe: dict[str, Any], backend: Any, cfg: EvalConfig, config: Any) -> dict[str, Any]:
    """Settings besides the weights that change a model's outputs, so results record them and the response cache
    keys on them (harness.run.cache.model_identity): the context length the engine runs with (vLLM's --max-model-len,
    or a server's), the local tokenizer of the OpenAI backend (--tokenizer: a hash of its files, not only its path),
    and the commit a hub model's revision resolved to (a moving `main` never reuses older answers)."""
    max_model_len = describe.get("max_model_len")  # what the engine runs with (vLLM's own default without the flag)
    if max_model_len is None and backend.name == "vllm":
        max_model_len = cfg.max_model_len
    out: dict[str, Any] = {"max_model_len": max_model_len}
    tokenizer = describe.get("tokenizer")
    out["tokenizer"] = tokenizer_fingerprint(str(tokenizer)) if tokenizer else None
    if not ref.is_local and backend.name != "openai":
        commit, how = resolve_commit(ref.source, ref.revision, getattr(config, "_commit_hash", None))
        out["commit"] = commit
        out["commit_source"] = how if commit else None
        if commit is None:
            out["commit_note"] = how
    return out


def _environment(describe: dict[str, Any]) -> dict[str, Any]:
    import transformers

    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "transformers": transformers.__version__,
        "torch": describe.get("torch_version"),
    }
    try:
        import datasets

        env["datasets"] = datasets.__version__
    except ImportError:
        pass
    return env
