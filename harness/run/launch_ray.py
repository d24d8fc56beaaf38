"""Many models at once on a Ray cluster: `harness eval --models a,b,c --launcher ray`.

The work is split into (model x task-shard) jobs. Each model gets Ray actors (workers) that load it once and
then evaluate shard after shard; an actor asks Ray for the GPUs its backend needs (`--tensor-parallel-size` for
vLLM, one for transformers on CUDA, none on CPU). A worker that dies mid-shard is restarted by Ray and the shard
retried; every response it had finished is in the shared response cache (harness/run/cache.py), so the retry only
computes what was lost. When all shards of a model are done, their results are merged into the same
`results/<model>/<run>.json` and `.samples.jsonl` a local run writes: scores, per-sample lines and the suite
total are what one process would have produced (throughput adds up the workers' own measurements).

Ray is an optional extra (`pip install 'harness[ray]'`), imported only here. Paths (data, models, results, the
cache) must be the same on every node: a shared filesystem, or identical copies.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import secrets
import signal
import time
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.results.files import write_results
from harness.results.schema import ResultsFile, RunThroughput, SchemaError, validate_results
from harness.run.runner import EvalConfig

FAULT_ENV = "HARNESS_FAULT_KILL_AFTER"  # test hook: a worker SIGKILLs itself once, after N samples of a shard


def shard_tasks(tasks: list[str], shards: int) -> list[list[str]]:
    """Round-robin groups of tasks (so each shard mixes large and small tasks), none empty."""
    shards = max(1, min(shards, len(tasks)))
    return [tasks[i::shards] for i in range(shards)]


def _gpus_for(cfg: EvalConfig) -> float:
    if cfg.backend == "openai":
        return 0
    if cfg.device == "cpu":
        return 0
    if cfg.backend == "vllm":
        return float(cfg.tensor_parallel_size)
    try:
        import ray

        return 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0
    except Exception:
        return 0


def _worker_class() -> Any:
    import ray

    @ray.remote(max_restarts=3, max_task_retries=3)
    class ModelWorker:
        """One loaded model (and, lazily, its judge); evaluates shards of tasks."""

        def __init__(self, cfg: EvalConfig) -> None:
            from harness.run.runner import open_model

            self.cfg = cfg
            self.opened = open_model(cfg, cfg.model, cfg.backend, cfg.base_url, cfg.api_key_env)
            self.judge: Any = None

        def _open_judge(self) -> Any:
            from harness.run.runner import open_model

            if self.judge is None:
                c = self.cfg
                self.judge = open_model(c, c.judge_model or "", c.judge_backend, c.judge_base_url, c.judge_api_key_env,
                                        "--judge-model")
            return self.judge

        def run_shard(self, tasks: list[str], staging: str, fault_marker: str | None) -> dict[str, Any]:
            from harness.run.runner import run_eval

            cfg = dataclasses.replace(self.cfg, tasks=tasks, output_dir=Path(staging), progress=False)
            if fault_marker is not None:
                _arm_fault(Path(staging), Path(fault_marker))
            results, path = run_eval(cfg, self.opened, self._open_judge)
            return {"results": results, "path": str(path)}

        def pid(self) -> int:
            return os.getpid()

    return ModelWorker


def _arm_fault(staging: Path, marker: Path) -> None:
    """Test hook: the first worker to get here kills itself (SIGKILL, no clean-up) after N samples are written."""
    n = int(os.environ.get(FAULT_ENV, "0") or 0)
    if n <= 0:
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # only once, across all workers and retries
    except FileExistsError:
        return
    os.close(fd)
    import threading

    def watch() -> None:
        while True:
            lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in staging.rglob("*.samples.jsonl"))
            if lines >= n:
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(0.01)

    threading.Thread(target=watch, daemon=True).start()


def run_ray(cfg: EvalConfig, models: list[str], address: str | None, shards: int, workers_per_model: int,
            progress: bool = True) -> list[tuple[dict[str, Any], Path]]:
    """Evaluate every model on Ray; return (merged results, path) per model, in the order given."""
    try:
        import ray
    except ImportError:
        raise HarnessError("--launcher ray: Ray is not installed; pip install 'harness[ray]'") from None
    from harness.run.runner import _plan_names

    names = _plan_names(cfg)
    groups = shard_tasks(names, shards)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except Exception as e:  # ray raises many kinds: connection refused, version mismatch, ...
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise HarnessError(f"--ray-address {address or '(local)'}: cannot start or reach a Ray cluster: {first[:300]}") from None
    try:
        Worker = _worker_class()
        staging_root = cfg.output_dir / ".shards" / (_dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2))
        fault_marker = str(staging_root / "fault-fired") if os.environ.get(FAULT_ENV) else None
        staging_root.mkdir(parents=True, exist_ok=True)
        pending: dict[Any, tuple[int, int]] = {}
        per_model: list[list[dict[str, Any] | None]] = [[None] * len(groups) for _ in models]
        for mi, model in enumerate(models):
            mcfg = dataclasses.replace(cfg, model=model)
            gpus = _gpus_for(mcfg)
            n_workers = max(1, min(workers_per_model, len(groups)))
            actors = [Worker.options(num_gpus=gpus, num_cpus=1).remote(mcfg) for _ in range(n_workers)]
            for si, tasks in enumerate(groups):
                staging = staging_root / f"m{mi}-s{si}"
                ref = actors[si % n_workers].run_shard.remote(tasks, str(staging), fault_marker)
                pending[ref] = (mi, si)
        from harness.run.progress import progress as progress_bar

        bar = progress_bar(len(pending), "shards", "shard", progress)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            ref = done[0]
            mi, si = pending.pop(ref)
            try:
                per_model[mi][si] = ray.get(ref)
            except Exception as e:
                first = (str(e).strip().splitlines() or [type(e).__name__])[-1]
                raise HarnessError(f"--launcher ray: model {models[mi]}, shard {si} ({', '.join(groups[si])}) failed "
                                   f"after retries: {first[:300]}") from None
            bar.update(1)
        bar.close()
        out = []
        for mi in range(len(models)):
            shard_results = [r for r in per_model[mi] if r is not None]
            out.append(merge_shards(cfg, shard_results, names))
        return out
    finally:
        if started_here:
            ray.shutdown()


def merge_shards(cfg: EvalConfig, shards: list[dict[str, Any]], task_order: list[str]) -> tuple[dict[str, Any], Path]:
    """One results file and one samples file from a model's shard runs, as a single local run writes them. The
    shards' results files are read back as written and checked against the results schema (so the merge adds up
    what is on disk, not what a worker held in memory); the merged file is checked again when it is written."""
    from harness.results.throughput import Latencies, Usage, run_figures
    from harness.tasks.suites import aggregate_suite, load_suite

    read = [_read_shard(Path(s["path"])) for s in shards]
    runs = [data for data, _ in read]
    first = runs[0]
    started = min(r["started_at"] for r in runs)
    run_id = (_dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-"
              + hashlib.sha256(" ".join(cfg.command).encode()).hexdigest()[:6] + "-" + secrets.token_hex(2))
    out_dir = cfg.output_dir / Path(shards[0]["path"]).parent.name
    out_dir.mkdir(parents=True, exist_ok=True)
    samples_path = out_dir / f"{run_id}.samples.jsonl"
    with open(samples_path, "w", encoding="utf-8") as out:
        for s, r in zip(shards, runs):
            src = Path(s["path"]).parent / r["samples_file"]
            out.write(src.read_text(encoding="utf-8"))
    tasks = {}
    for name in task_order:
        for r in runs:
            if name in r["tasks"]:
                tasks[name] = r["tasks"][name]
    total = Usage()
    seconds = 0.0
    measured = [typed.throughput or RunThroughput() for _, typed in read]
    for tp in measured:
        total.samples += tp.samples or 0
        total.prompt_tokens += tp.prompt_tokens or 0
        total.generated_tokens += tp.generated_tokens or 0
        seconds += tp.seconds or 0.0
        total.ttft.merge(Latencies.from_report(tp.ttft_s.model_dump() if tp.ttft_s else None))
        total.tpot.merge(Latencies.from_report(tp.tpot_s.model_dump() if tp.tpot_s else None))
    throughput = {k: v for k, v in first["throughput"].items() if k not in ("ttft_s", "tpot_s")}
    throughput.update(total.report(wall_seconds=seconds))
    throughput["model_load_seconds"] = max(tp.model_load_seconds or 0.0 for tp in measured)
    throughput["peak_memory_bytes"] = max(tp.peak_memory_bytes or 0 for tp in measured) or None
    energies = [tp.energy_joules for tp in measured]  # a sum over some workers is not the run's
    throughput["energy_joules"] = None if any(e is None for e in energies) else sum(e or 0.0 for e in energies)
    throughput["energy_devices"] = sum(tp.energy_devices or 0 for tp in measured) if None not in energies else 0
    if None in energies:
        throughput["energy_method"] = None
        throughput["energy_note"] = f"not measured on {energies.count(None)} of {len(runs)} workers"
    throughput["seconds_are"] = "summed over workers"
    # the rates, as a single run defines them (harness.results.throughput.run_figures), from the merged task blocks;
    # accelerator.count is each worker's, so per-accelerator rates are per device of a worker
    accelerator = measured[0].accelerator
    throughput.update(run_figures(tasks, seconds, int((accelerator.count if accelerator else None) or 1),
                                  throughput["energy_joules"]))
    throughput.pop("cost", None)  # a shard's cost is not the run's: priced again over the merged figures, where
    if cfg.prices:  # seconds summed over workers x each worker's devices = the device-hours of the whole run
        from harness.results.prices import cost_of_results, load_prices

        throughput["cost"] = cost_of_results(throughput, tasks, load_prices(cfg.prices))
    results = {
        **first,
        "run_id": run_id,
        "started_at": started,
        "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(),
        "command": cfg.command,
        "tasks": tasks,
        "suite": aggregate_suite(load_suite(cfg.suite), tasks) if cfg.suite else None,
        "notes": sorted({n for r in runs for n in r.get("notes") or []}),
        "throughput": throughput,
        "samples_file": samples_path.name,
        "judge": _merge_judges([r.get("judge") for r in runs]),
        "cache": _merge_caches([r.get("cache") for r in runs]),
        "launcher": {"kind": "ray", "shards": [{"tasks": list(r["tasks"]), "run_id": r["run_id"],
                                                "throughput": {k: r["throughput"].get(k) for k in ("samples", "seconds", "generated_tokens_per_s")}}
                                               for r in runs]},
    }
    judge_lines = [Path(s["path"]).parent / r["judge"]["judgements_file"] for s, r in zip(shards, runs) if r.get("judge")]
    if judge_lines and results["judge"]:
        jpath = out_dir / f"{run_id}.judge.jsonl"
        jpath.write_text("".join(p.read_text(encoding="utf-8") for p in judge_lines), encoding="utf-8")
        results["judge"]["judgements_file"] = jpath.name
    path = out_dir / f"{run_id}.json"
    write_results(path, results)
    return results, path


def _read_shard(path: Path) -> tuple[dict[str, Any], ResultsFile]:
    """A shard's results file as written, and as checked against the results schema."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        typed = validate_results(data)
    except (OSError, ValueError) as e:  # SchemaError and JSONDecodeError are ValueErrors
        why = str(e) if isinstance(e, SchemaError) else f"{type(e).__name__}: {e}"
        raise HarnessError(f"--launcher ray: shard results {path} cannot be merged: {why[:300]}") from None
    return data, typed


def _merge_judges(blocks: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    got = [b for b in blocks if b]
    if not got:
        return None
    counts = ("unparsed_verdicts", "inexact_verdicts", "rule_scored")  # per task
    merged = {**got[0], "prompts": {}, **{c: {} for c in counts}, "requests": 0, "cached_requests": 0}
    for b in got:
        merged["prompts"].update(b["prompts"])
        merged["requests"] += b["requests"]
        merged["cached_requests"] += b.get("cached_requests", 0)
        for c in counts:
            for k, v in b.get(c, {}).items():
                merged[c][k] = merged[c].get(k, 0) + v
    return merged


def _merge_caches(blocks: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    got = [b for b in blocks if b]
    if not got:
        return None
    out = dict(got[0])
    for k in ("hits", "misses", "corrupt_entries"):
        out[k] = sum(b[k] for b in got)
    return out

