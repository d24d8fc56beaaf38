"""Drive a benchmark: open the engine (or the server's client), make the prompts, warm up, run each scenario with
its arrival schedule, measure energy where a meter exists, and return the bench results document
(harness/results/bench_schema.py).

Scenarios, as vLLM's `bench serve` and MLPerf's offline/server runs shape them:
- offline: every request at once, nothing capped: throughput at saturation;
- concurrency=C: a closed loop, C requests in flight at a time (a new one as soon as one finishes);
- rate=R: requests arrive as a Poisson process of R per second (gamma-distributed gaps with --burstiness other
  than 1), capped by --max-concurrency where given."""

from __future__ import annotations

import datetime as _dt
import math
import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from harness.bench.metrics import SLO, RequestRecord, summarize
from harness.bench.workload import BenchPrompt, file_prompts, random_prompts, task_prompts
from harness.errors import HarnessError


@dataclass
class BenchConfig:
    model: str
    backend: str = "hf"  # hf | vllm | openai
    base_url: str | None = None
    api_key_env: str | None = None
    tokenizer: str | None = None
    endpoint: str = "completions"
    tasks: list[str] = field(default_factory=list)
    suite: str | None = None
    data_dir: Path | None = None
    prompts_file: Path | None = None
    input_len: int | None = None
    output_len: int | None = None
    num_prompts: int = 100
    seed: int = 0
    offline: bool = False
    concurrency: list[int] = field(default_factory=list)
    request_rates: list[float] = field(default_factory=list)
    max_concurrency: int | None = None
    burstiness: float = 1.0
    slo: SLO = field(default_factory=SLO)
    temperature: float = 0.0
    ignore_eos: bool = False
    warmup: int = 1
    chat_template: str = "auto"  # tasks' prompts: wrap in the model's chat template (auto: when it has one)
    device: str = "auto"
    dtype: str = "auto"
    batch_size: str = "auto"
    tensor_parallel_size: int = 1
    max_model_len: int | None = None
    gpu_memory_utilization: float | None = None
    enforce_eager: bool = False
    trust_remote_code: bool = False
    progress: bool = True
    command: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Scenario:
    name: str
    request_rate: float  # requests per second; math.inf: all at once
    max_concurrency: int | None


def scenarios(cfg: BenchConfig) -> list[Scenario]:
    out = [Scenario("offline", math.inf, None)] if cfg.offline else []
    out += [Scenario(f"concurrency={c}", math.inf, c) for c in cfg.concurrency]
    out += [Scenario(f"rate={_fmt_rate(r)}", r, cfg.max_concurrency) for r in cfg.request_rates]
    return out or [Scenario("offline", math.inf, None)]


def _fmt_rate(r: float) -> str:
    return "inf" if math.isinf(r) else f"{r:g}"


def arrivals(n: int, rate: float, burstiness: float, seed: int) -> list[float]:
    """Arrival offsets in seconds: all 0 for an infinite rate, else gaps drawn from a gamma distribution of mean
    1/rate and shape `burstiness` (1: exponential gaps, a Poisson process), seeded; the first request at 0."""
    if math.isinf(rate):
        return [0.0] * n
    rng = random.Random(seed)
    t, out = 0.0, []
    for _ in range(n):
        out.append(t)
        t += rng.gammavariate(burstiness, 1.0 / (rate * burstiness))
    return out


# ---- engines -------------------------------------------------------------------------------------------
@dataclass
class Target:
    """What the prompts are sent to: `run(prompts, arrivals, cap, on_done) -> duration_s`."""

    run: Callable[[Sequence[BenchPrompt], Sequence[float], int | None, Callable[[RequestRecord], None]], float]
    describe: dict[str, Any]
    tokenizer: Any
    chat: Any
    device: str  # "remote" for a server
    name: str  # the model's name as `harness eval` records it (so the leaderboard can put the two side by side)
    close: Callable[[], None] = lambda: None


def open_target(cfg: BenchConfig) -> Target:
    if cfg.backend == "openai":
        from harness.bench.client import OpenAIClient

        if not cfg.base_url:
            raise HarnessError("bench --backend openai needs the server's URL: --base-url http://127.0.0.1:8000/v1")
        client = OpenAIClient(cfg.base_url, cfg.model, cfg.api_key_env, cfg.endpoint, cfg.temperature, cfg.ignore_eos)
        describe = {**client.describe(), **client.check()}
        tokenizer = chat = None
        if cfg.tokenizer:
            from harness.models.chat import ChatFormatter, load_tokenizer

            try:
                tokenizer = load_tokenizer(cfg.tokenizer, None, cfg.trust_remote_code)
            except (OSError, ValueError) as e:
                raise HarnessError(f"bench --tokenizer {cfg.tokenizer}: cannot load it ({str(e).splitlines()[0][:200]})") from None
            if cfg.chat_template == "on" or (cfg.chat_template == "auto" and getattr(tokenizer, "chat_template", None)
                                             and cfg.endpoint != "chat"):
                chat = ChatFormatter(tokenizer, None, cfg.model)
        return Target(lambda p, a, c, d: _run_threads(client, p, a, c, d), describe, tokenizer, chat, "remote",
                      cfg.model)
    from harness.run.runner import EvalConfig, open_model

    ecfg = EvalConfig(model=cfg.model, tasks=[], backend=cfg.backend, device=cfg.device, dtype=cfg.dtype,
                      batch_size=cfg.batch_size, tensor_parallel_size=cfg.tensor_parallel_size,
                      max_model_len=cfg.max_model_len, gpu_memory_utilization=cfg.gpu_memory_utilization,
                      enforce_eager=cfg.enforce_eager, trust_remote_code=cfg.trust_remote_code,
                      chat_template=cfg.chat_template, seed=cfg.seed)
    opened = open_model(ecfg, cfg.model, cfg.backend, None, None)
    backend = opened.backend
    if backend.name == "vllm":
        from harness.bench.engines import VLLMServer

        server: Any = VLLMServer(backend, cfg.temperature, cfg.ignore_eos, cfg.seed)
    else:
        from harness.bench.engines import HFServer

        server = HFServer(backend, cfg.temperature, cfg.ignore_eos, cfg.seed)
    close = getattr(backend, "close", None) or (lambda: None)
    return Target(server.run, {**opened.describe, "load_seconds": opened.load_seconds}, backend.tokenizer,
                  opened.chat, str(opened.describe.get("device", "cpu")), opened.ref.name, close)


def _run_threads(client: Any, prompts: Sequence[BenchPrompt], arr: Sequence[float], cap: int | None,
                 on_done: Callable[[RequestRecord], None]) -> float:
    """Send each prompt at its arrival time, with at most `cap` in flight (at most 1024 without one): `cap` worker
    threads each take the next prompt in order, wait for its arrival, send it and time it. Taking prompts in order
    makes this the FIFO queue a semaphore gives, without handing each request from a dispatcher to a worker."""
    import threading

    n = len(prompts)
    lock = threading.Lock()
    nxt = [0]
    t0 = time.perf_counter()

    def worker() -> None:
        while True:
            with lock:
                i = nxt[0]
                if i >= n:
                    return
                nxt[0] = i + 1
            delay = t0 + arr[i] - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            try:
                rec = client.send(i, prompts[i])
            except Exception as e:  # noqa: BLE001 - one request's surprise is that request's error, never a lost thread
                rec = RequestRecord(i, error=f"{type(e).__name__}: {e}"[:200])
            on_done(rec)

    threads = [threading.Thread(target=worker, name=f"bench-{k}", daemon=True) for k in range(max(1, min(n, cap or n, 1024)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


# ---- prompts -------------------------------------------------------------------------------------------
def make_prompts(cfg: BenchConfig, target: Target) -> tuple[list[BenchPrompt], dict[str, Any]]:
    n = cfg.num_prompts
    if cfg.prompts_file is not None:
        prompts = file_prompts(cfg.prompts_file, n, cfg.output_len, target.tokenizer)
        source: dict[str, Any] = {"source": "file", "file": str(cfg.prompts_file)}
    elif cfg.tasks or cfg.suite:
        chat = target.chat if cfg.chat_template != "off" else None
        prompts = task_prompts(cfg.tasks, cfg.suite, cfg.data_dir, n, cfg.output_len, cfg.seed, chat, target.tokenizer)
        source = {"source": "tasks", "tasks": sorted({p.source for p in prompts}), "suite": cfg.suite,
                  "chat_template": chat is not None}
    else:
        if cfg.input_len is None or cfg.output_len is None:
            raise HarnessError("bench: say which prompts to send: --input-len N --output-len M (random tokens), "
                               "--prompts FILE.jsonl, or --tasks/--suite with --data-dir")
        prompts = random_prompts(target.tokenizer, n, cfg.input_len, cfg.output_len, cfg.seed)
        source = {"source": "random"}
    if target.device != "remote" and any(p.ids is None for p in prompts):
        raise HarnessError("bench: a local engine needs token ids for every prompt")
    ins = [p.input_len for p in prompts if p.input_len is not None]
    outs = [p.output_len for p in prompts]
    workload = {**source, "num_prompts": len(prompts), "seed": cfg.seed, "temperature": cfg.temperature,
                "ignore_eos": cfg.ignore_eos, "endpoint": cfg.endpoint if cfg.backend == "openai" else None,
                "input_len": _span(ins), "output_len": _span(outs)}
    return prompts, workload


def _span(xs: list[int]) -> dict[str, Any] | None:
    return {"mean": sum(xs) / len(xs), "min": min(xs), "max": max(xs)} if xs else None


# ---- the run -------------------------------------------------------------------------------------------
def run_bench(cfg: BenchConfig) -> dict[str, Any]:
    """Run every scenario; return the results document (not yet written)."""
    from harness import __version__
    from harness.results.throughput import EnergyMeter, accelerator_info, devices_used, parallel_sizes

    plan = scenarios(cfg)
    started = _now()
    target = open_target(cfg)
    try:
        prompts, workload = make_prompts(cfg, target)
        used = devices_used(target.describe) if target.device != "remote" else []
        if target.device == "remote":
            accelerator: dict[str, Any] = {"kind": "remote", "name": target.describe.get("base_url"), "count": None}
        else:
            accelerator = accelerator_info(target.device, used, parallel_sizes(target.describe))
        devices = len(used) or 1
        if cfg.warmup:
            warm = prompts[: cfg.warmup]
            target.run(warm, [0.0] * len(warm), None, lambda r: None)
        results = []
        for sc in plan:
            records: list[RequestRecord] = []
            bar = _bar(len(prompts), sc.name, cfg.progress)
            meter = EnergyMeter(used) if used else None

            def done(r: RequestRecord, records: list[RequestRecord] = records, bar: Any = bar) -> None:
                records.append(r)
                bar.update(1)

            duration = target.run(prompts, arrivals(len(prompts), sc.request_rate, cfg.burstiness, cfg.seed),
                                  sc.max_concurrency, done)
            bar.close()
            joules = meter.joules() if meter is not None else None
            fig = summarize(sorted(records, key=lambda r: r.index), duration, cfg.slo)
            fig.update(name=sc.name, request_rate=None if math.isinf(sc.request_rate) else sc.request_rate,
                       max_concurrency=sc.max_concurrency, burstiness=cfg.burstiness)
            if target.device != "remote":
                fig["per_accelerator"] = {k: (fig[k] / devices if fig[k] is not None else None)
                                          for k in ("request_throughput", "output_tokens_per_s", "total_tokens_per_s")}
            if meter is not None:
                fig.update(meter.report(joules))
                if joules is not None and fig["output_tokens"]:
                    fig["joules_per_output_token"] = joules / fig["output_tokens"]
            results.append(fig)
    finally:
        target.close()
    slo = {k: v for k, v in (("ttft_ms", cfg.slo.ttft_ms), ("tpot_ms", cfg.slo.tpot_ms), ("e2el_ms", cfg.slo.e2el_ms))
           if v is not None}
    return {
        "bench_schema_version": 1, "kind": "harness-bench",
        "harness": {"version": __version__, "git_commit": _git_commit()},
        "command": cfg.command, "started_at": started, "finished_at": _now(),
        "model": {"name": target.name, "source": cfg.model, "backend": cfg.backend, "engine": _jsonable(target.describe)},
        "accelerator": _jsonable(accelerator), "devices": devices if target.device != "remote" else None,
        "workload": workload, "slo": slo or None, "scenarios": results,
    }


def _bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="req", disable=not enabled, dynamic_ncols=True, leave=False)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _jsonable(value: Any) -> Any:
    """describe() blocks hold only JSON types, but make sure (a path, a dtype object): anything else as text;
    non-finite numbers as null."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
