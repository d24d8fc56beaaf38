"""The OpenAI-compatible HTTP backend against an in-process fake server (vLLM's response shapes): endpoints and
request bodies, streaming, finish reasons, usage, the API key's handling, retries, one-line errors, concurrency,
and likelihood spans from echoed prompt log-probabilities."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import pytest

from harness.backends import create_backend
from harness.backends.openai_api import OpenAIBackend
from harness.errors import HarnessError
from harness.types import GenerateRequest, LoglikelihoodRequest

MISSING = object()
REASONING_KEYS = ("reasoning_content", "reasoning")


class FakeServer:
    """A small OpenAI-compatible server: /v1/models, /v1/completions (echo + logprobs as vLLM returns them),
    /v1/chat/completions, streaming as server-sent events. Every request is recorded. A reply may carry
    `reasoning_content` and/or `reasoning` (a chat message's reasoning, streamed before the content as a reasoning
    parser does) and `reasoning_tokens` (usage.completion_tokens_details); `ascii_json` escapes non-ASCII (lone
    surrogates go out as \\udxxx escapes); `raw_stream`, when set, is streamed instead: dicts as `data:` events,
    bytes as they are."""

    def __init__(self, models: tuple[tuple[str, str], ...] = (("tiny", "fake-engine"),), key: str | None = None) -> None:
        self.models = models
        self.key = key
        self.requests: list[dict[str, Any]] = []
        self.forced: list[tuple[int, dict[str, Any], dict[str, str]]] = []  # answered before anything else, in order
        self.reply: Callable[[dict[str, Any]], dict[str, Any]] = lambda body: {
            "text": "好的", "finish_reason": "stop", "stop_reason": None}
        self.echo: Callable[[str | list[int]], dict[str, Any]] | None = None  # a hand-made echo answer per prompt
        self.delay = 0.0
        self.ascii_json = False
        self.raw_stream: list[dict[str, Any] | bytes] | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def posts(self, path: str) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["path"].split("?")[0] == path]

    # ---- answers ---------------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(payload, ensure_ascii=server.ascii_json).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            def _record(self, body: dict[str, Any] | None) -> None:
                with server.lock:
                    server.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body})

            def _gate(self) -> bool:
                """Forced answers and the key check; True when the request was answered here."""
                with server.lock:
                    forced = server.forced.pop(0) if server.forced and not self.path.startswith("/v1/models") else None
                if forced:
                    self._send(*forced)
                    return True
                if server.key and self.headers.get("Authorization") != f"Bearer {server.key}":
                    self._send(401, {"error": {"message": "Unauthorized", "type": "AuthenticationError", "code": 401}})
                    return True
                return False

            def do_GET(self) -> None:
                self._record(None)
                if self._gate():
                    return
                if self.path.split("?")[0] != "/v1/models":
                    return self._send(404, {"error": {"message": "Not Found"}})
                data = [{"id": m, "object": "model", "owned_by": o, "max_model_len": 2048} for m, o in server.models]
                self._send(200, {"object": "list", "data": data})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8"))
                self._record(body)
                if self._gate():
                    return
                if self.path.split("?")[0] not in ("/v1/completions", "/v1/chat/completions"):
                    return self._send(404, {"error": {"message": "Not Found"}})
                if body["model"] not in [m for m, _ in server.models]:
                    msg = f"The model `{body['model']}` does not exist."
                    return self._send(404, {"error": {"message": msg, "type": "NotFoundError", "param": "model", "code": 404}})
                with server.lock:  # requests being worked on (counted down before the answer goes out)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                time.sleep(server.delay)
                with server.lock:
                    server.in_flight -= 1
                if body.get("echo"):
                    return self._echo(body)
                reply = server.reply(body)
                if body.get("stream"):
                    return self._stream(body, reply)
                self._send(200, self._complete(body, reply))

            def _choice(self, body: dict[str, Any], reply: dict[str, Any], text: str) -> dict[str, Any]:
                choice: dict[str, Any] = {"index": 0, "logprobs": None, "finish_reason": reply["finish_reason"]}
                if "messages" in body:
                    choice["message"] = {"role": "assistant", "content": text}
                    choice["message"].update({k: reply[k] for k in REASONING_KEYS if k in reply})
                else:
                    choice["text"] = text
                if reply.get("stop_reason", MISSING) is not MISSING:
                    choice["stop_reason"] = reply["stop_reason"]
                if reply.get("token_ids") is not None:
                    choice["token_ids"] = reply["token_ids"]
                return choice

            def _usage(self, reply: dict[str, Any]) -> dict[str, int]:
                p, c = reply.get("prompt_tokens", 7), reply.get("completion_tokens", 3)
                usage: dict[str, Any] = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
                if reply.get("reasoning_tokens") is not None:
                    usage["completion_tokens_details"] = {"reasoning_tokens": reply["reasoning_tokens"]}
                return usage

            def _complete(self, body: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
                obj = "chat.completion" if "messages" in body else "text_completion"
                return {"id": "x", "object": obj, "model": body["model"], "choices": [self._choice(body, reply, reply["text"])],
                        "usage": self._usage(reply)}

            def _stream(self, body: dict[str, Any], reply: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                chat = "messages" in body

                def event(payload: dict[str, Any]) -> None:
                    self.wfile.write(f"data: {json.dumps(payload, ensure_ascii=server.ascii_json)}\n\n".encode())
                    self.wfile.flush()

                if server.raw_stream is not None:
                    for item in server.raw_stream:
                        if isinstance(item, bytes):
                            self.wfile.write(item)
                        else:
                            event(item)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                text = reply["text"]
                pieces = [text[k : k + 2] for k in range(0, len(text), 2)] or [""]
                if chat:
                    event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
                    keys = [k for k in REASONING_KEYS if k in reply]  # both: the same text under both names
                    thought = reply[keys[0]] if keys else ""
                    for k in range(0, len(thought), 2):
                        time.sleep(0.005)
                        delta = {"content": None, **{key: thought[k : k + 2] for key in keys}}
                        event({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
                for n, piece in enumerate(pieces):
                    time.sleep(0.01)
                    last = n == len(pieces) - 1
                    c: dict[str, Any] = {"index": 0, "finish_reason": reply["finish_reason"] if last else None}
                    if chat:
                        c["delta"] = {"content": piece}
                    else:
                        c["text"] = piece
                    if last and reply.get("stop_reason", MISSING) is not MISSING:
                        c["stop_reason"] = reply["stop_reason"]
                    event({"choices": [c]})
                self.wfile.write(b": keep-alive comment\n\n")
                if (body.get("stream_options") or {}).get("include_usage"):
                    event({"choices": [], "usage": self._usage(reply)})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _echo(self, body: dict[str, Any]) -> None:
                prompt = body["prompt"]
                many = isinstance(prompt, list) and prompt and not isinstance(prompt[0], int)  # several prompts
                prompts = prompt if many else [prompt]
                choices = []
                for k, prompt in enumerate(prompts):
                    lp = server.echo(prompt) if server.echo else _char_echo(prompt)
                    text = prompt if isinstance(prompt, str) else ""
                    choices.append({"index": k, "text": text + "X", "logprobs": lp, "finish_reason": "length", "stop_reason": None})
                usage = {"prompt_tokens": sum(len(p) for p in prompts), "completion_tokens": len(prompts), "total_tokens": 0}
                self._send(200, {"id": "e", "object": "text_completion", "model": body["model"], "choices": choices, "usage": usage})

        return Handler


def _char_echo(prompt: str | list[int]) -> dict[str, Any]:
    """Echo of a prompt, one token per character (or per id), plus one generated token "X": token t has
    log-probability -(t+1)/10; the greedy token at every position is the prompt's own token at even t only."""
    tokens = [str(t) for t in prompt] if isinstance(prompt, list) else list(prompt)
    tokens.append("X")
    offsets, pos = [], 0
    for tok in tokens:
        offsets.append(pos)
        pos += len(tok)
    lps: list[float | None] = [None] + [-(t + 1) / 10 for t in range(1, len(tokens))]
    tops: list[dict[str, float] | None] = [None]
    for t in range(1, len(tokens)):
        lp = lps[t]
        assert lp is not None
        tops.append({tokens[t]: lp, "其他": lp - 1.0 if t % 2 == 0 else lp + 0.5})
    return {"text_offset": offsets, "token_logprobs": lps, "tokens": tokens, "top_logprobs": tops}


@pytest.fixture(scope="module")
def tiny_qwen2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Only its tokenizer is used (token ids, chat template)."""
    from harness.models.tiny import build_tiny_model

    return build_tiny_model("qwen2", tmp_path_factory.mktemp("openai-tok") / "tiny-qwen2")


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


def backend(server: FakeServer, **kw: Any) -> OpenAIBackend:
    kw.setdefault("retry_backoff_s", 0.01)
    return OpenAIBackend(model=kw.pop("model", "tiny"), base_url=server.url, **kw)


# ---- generation ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [True, False])
def test_messages_go_to_the_chat_endpoint(server: FakeServer, stream: bool) -> None:
    b = backend(server, stream=stream)
    req = GenerateRequest(prompt="<rendered>", messages=(("system", "你是助手"), ("user", "你好")), max_new_tokens=64,
                          stop=("\n\n",), temperature=0.0, seed=7)
    (i, res), = list(b.generate([req]))
    assert i == 0 and res.text == "好的"
    (body,) = server.posts("/v1/chat/completions")
    assert not server.posts("/v1/completions")
    assert body["model"] == "tiny"
    assert body["messages"] == [{"role": "system", "content": "你是助手"}, {"role": "user", "content": "你好"}]
    assert body["max_tokens"] == 64 and body["temperature"] == 0.0 and body["seed"] == 7 and body["stop"] == ["\n\n"]
    assert "prompt" not in body
    assert body.get("stream", False) is stream
    if stream:
        assert body["stream_options"] == {"include_usage": True}
    assert "top_k" not in body and "return_token_ids" not in body  # vLLM-only fields go to vLLM only


def test_prompt_goes_to_completions_and_empty_stop_is_not_sent(server: FakeServer) -> None:
    b = backend(server)
    res = dict(b.generate([GenerateRequest(prompt="答案：", max_new_tokens=5, seed=3)]))
    assert res[0].text == "好的"
    (body,) = server.posts("/v1/completions")
    assert body["prompt"] == "答案：" and body["max_tokens"] == 5 and body["seed"] == 3
    assert "stop" not in body and "messages" not in body


def test_vllm_server_gets_its_extensions(tmp_path: Path) -> None:
    s = FakeServer(models=(("tiny", "vllm"),))
    try:
        b = backend(s)
        assert b.describe()["server_engine"] == "vllm" and b.max_model_len == 2048
        list(b.generate([GenerateRequest(prompt="x", max_new_tokens=99999, add_special_tokens=False)]))
        (body,) = s.posts("/v1/completions")
        assert body["top_k"] == 0 and body["top_p"] == 1.0 and body["repetition_penalty"] == 1.0
        assert body["add_special_tokens"] is False
        assert body["max_tokens"] == 2048  # clamped to the server's max_model_len
    finally:
        s.close()


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(
    "reply, stop, text, reason",
    [
        ({"text": "一二三", "finish_reason": "length", "stop_reason": None}, (), "一二三", "length"),
        ({"text": "答案是B", "finish_reason": "stop", "stop_reason": "\n\n"}, ("\n\n",), "答案是B", "stop"),
        ({"text": "答案是B", "finish_reason": "stop", "stop_reason": None}, ("\n\n",), "答案是B", "eos"),
        ({"text": "答案是B", "finish_reason": "stop", "stop_reason": 151645}, ("\n\n",), "答案是B", "eos"),  # a stop token id
        ({"text": "答案是B\n\n问题：", "finish_reason": "stop"}, ("\n\n",), "答案是B", "stop"),  # no stop_reason: cut here
        ({"text": "答案是B", "finish_reason": "stop"}, ("\n\n",), "答案是B", "eos"),  # no stop_reason, nothing to cut
        ({"text": "答案是B\n\n还有", "finish_reason": "length"}, ("\n\n",), "答案是B", "stop"),
    ],
)
def test_finish_reason_mapping(server: FakeServer, stream: bool, reply: dict, stop: tuple, text: str, reason: str) -> None:
    server.reply = lambda body: reply
    b = backend(server, stream=stream)
    (_, res), = list(b.generate([GenerateRequest(prompt="p", stop=stop)]))
    assert (res.text, res.finish_reason) == (text, reason)


@pytest.mark.parametrize("stream", [True, False])
def test_usage_becomes_cost(server: FakeServer, stream: bool) -> None:
    server.reply = lambda body: {"text": "一二三四五六", "finish_reason": "length", "stop_reason": None,
                                 "prompt_tokens": 41, "completion_tokens": 6}
    b = backend(server, stream=stream)
    (_, res), = list(b.generate([GenerateRequest(prompt="p", messages=(("user", "p"),))]))
    assert res.cost.prompt_tokens == 41 and res.cost.generated_tokens == 6
    assert res.cost.seconds > 0
    if stream:  # three content chunks 10 ms apart: TTFT and TPOT measured by the client
        assert 0 < res.cost.ttft_s <= res.cost.seconds
        assert 0 < res.cost.tpot_s < 0.05  # about (20 ms between first and last chunk) / 5
    else:
        assert res.cost.ttft_s is None and res.cost.tpot_s is None


def test_a_server_that_cannot_stream_is_asked_without_streaming(server: FakeServer) -> None:
    server.forced = [(400, {"error": {"message": "stream_options: extra inputs are not permitted"}}, {})]
    b = backend(server)
    (_, res), = list(b.generate([GenerateRequest(prompt="p")]))
    assert res.text == "好的" and res.cost.ttft_s is None
    first, second = server.posts("/v1/completions")
    assert first["stream"] is True and "stream" not in second and b.stream is False


def test_seconds_are_shares_of_the_busy_time(server: FakeServer) -> None:
    """Overlapping requests: each is charged its share of the time, and the shares add up to the wall time, so
    per-task tokens/s (tokens over summed seconds) is the server's real rate, not understated by overlap."""
    server.delay = 0.2
    b = backend(server, max_concurrency=4, stream=False)
    start = time.perf_counter()
    out = dict(b.generate([GenerateRequest(prompt=f"p{i}") for i in range(8)]))
    wall = time.perf_counter() - start
    total = sum(r.cost.seconds for r in out.values())
    assert total == pytest.approx(wall, rel=0.15)
    assert all(r.cost.seconds < 0.2 for r in out.values())  # each ran ~0.2 s, but with three others beside it


def test_twenty_concurrent_requests_come_back_complete(server: FakeServer) -> None:
    server.delay = 0.05
    server.reply = lambda body: {"text": f"回答{body.get('prompt') or body['messages'][0]['content']}", "finish_reason": "stop",
                                 "stop_reason": None}
    b = backend(server, max_concurrency=5)
    reqs = [GenerateRequest(prompt=f"问{i}") if i % 2 else GenerateRequest(prompt="", messages=(("user", f"问{i}"),)) for i in range(20)]
    out = list(b.generate(reqs))
    assert sorted(i for i, _ in out) == list(range(20))
    assert all(res.text == f"回答问{i}" for i, res in out)
    assert 1 < server.max_in_flight <= 5  # overlapped, never more than asked


# ---- the key and errors ----------------------------------------------------------------------------------
def test_key_comes_from_the_named_variable_and_never_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("MY_LLM_KEY", secret)
    s = FakeServer(key=secret)
    try:
        b = backend(s, api_key_env="MY_LLM_KEY")
        (_, res), = list(b.generate([GenerateRequest(prompt="p")]))
        assert res.text == "好的"
        assert all(r["headers"].get("Authorization") == f"Bearer {secret}" for r in s.requests)
        described = json.dumps(b.describe())
        assert secret not in described and "MY_LLM_KEY" in described
    finally:
        s.close()


def test_missing_key_variable_is_named(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(HarnessError, match="NO_SUCH_KEY_VAR") as e:
        backend(server, api_key_env="NO_SUCH_KEY_VAR")
    assert "\n" not in str(e.value)
    assert not server.requests  # failed before any request


def test_a_key_given_instead_of_a_variable_name_is_refused_without_echoing_it(server: FakeServer) -> None:
    with pytest.raises(HarnessError, match="NAME of an environment variable") as e:
        backend(server, api_key_env="sk-abc-123-secret")
    assert "sk-abc-123-secret" not in str(e.value)


def test_401_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRONG_KEY", "sk-wrong")
    s = FakeServer(key="sk-right")
    try:
        with pytest.raises(HarnessError) as e:
            backend(s, api_key_env="WRONG_KEY")
        msg = str(e.value)
        assert "401" in msg and "$WRONG_KEY" in msg and "\n" not in msg and "sk-wrong" not in msg
        with pytest.raises(HarnessError, match="--api-key-env"):
            backend(s)  # no key at all: says how to give one
    finally:
        s.close()


def test_server_error_then_success_is_retried(server: FakeServer) -> None:
    server.forced = [(500, {"error": {"message": "engine hiccup"}}, {}), (429, {"error": {"message": "slow down"}}, {"Retry-After": "0"})]
    b = backend(server)
    (_, res), = list(b.generate([GenerateRequest(prompt="p")]))
    assert res.text == "好的"
    assert len(server.posts("/v1/completions")) == 3


def test_persistent_server_error_ends_in_one_line(server: FakeServer) -> None:
    b = backend(server, max_retries=2)
    server.forced = [(503, {"error": {"message": "overloaded"}}, {})] * 3
    with pytest.raises(HarnessError) as e:
        list(b.generate([GenerateRequest(prompt="p")]))
    assert "503" in str(e.value) and "overloaded" in str(e.value) and "3 attempts" in str(e.value) and "\n" not in str(e.value)


def test_bad_request_is_not_retried(server: FakeServer) -> None:
    b = backend(server)
    server.forced = [(400, {"error": {"message": "prompt too long\nsecond line"}}, {})]
    with pytest.raises(HarnessError, match="HTTP 400.*prompt too long second line") as e:
        list(b.generate([GenerateRequest(prompt="p")]))
    assert "\n" not in str(e.value)
    assert len(server.posts("/v1/completions")) == 1


def test_unreachable_server_is_one_line() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(HarnessError) as e:
        OpenAIBackend(model="tiny", base_url=f"http://127.0.0.1:{port}", max_retries=1, retry_backoff_s=0.01)
    msg = str(e.value)
    assert f"http://127.0.0.1:{port}/v1" in msg and "start the server" in msg and "--base-url" in msg and "\n" not in msg


def test_unknown_model_lists_the_served_ones(server: FakeServer) -> None:
    server.models = (("tiny", "fake-engine"), ("judge-7b", "fake-engine"))
    b = backend(server, model="qwen-72b")  # not every API lists every model: the request decides
    with pytest.raises(HarnessError) as e:
        list(b.generate([GenerateRequest(prompt="p")]))
    msg = str(e.value)
    assert "404" in msg and "'qwen-72b'" in msg and "tiny, judge-7b" in msg and "\n" not in msg


def test_unknown_model_on_vllm_fails_at_start() -> None:
    s = FakeServer(models=(("tiny", "vllm"),))
    try:
        with pytest.raises(HarnessError, match="'big' is not served .*served models: tiny"):
            backend(s, model="big")
    finally:
        s.close()


def test_key_echoed_by_a_server_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K", "sk-very-secret")
    s = FakeServer()
    try:
        b = backend(s, api_key_env="K")
        s.forced = [(400, {"error": {"message": "bad header Bearer sk-very-secret"}}, {})]
        with pytest.raises(HarnessError) as e:
            list(b.generate([GenerateRequest(prompt="p")]))
        assert "sk-very-secret" not in str(e.value) and "***" in str(e.value)
    finally:
        s.close()


def test_base_url_forms(server: FakeServer) -> None:
    port = server.httpd.server_address[1]
    for url in (f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/", f"127.0.0.1:{port}/v1/", f"http://127.0.0.1:{port}/v1/completions"):
        b = OpenAIBackend(model="tiny", base_url=url)
        assert b.describe()["base_url"] == f"http://127.0.0.1:{port}/v1", url
    b = OpenAIBackend(model="tiny", base_url=f"http://127.0.0.1:{port}/v1?token=abc")  # a query stays on every request
    list(b.generate([GenerateRequest(prompt="p")]))
    assert server.requests[-1]["path"] == "/v1/completions?token=abc"
    assert "abc" not in json.dumps(b.describe())


def test_create_backend_and_describe(server: FakeServer) -> None:
    b = create_backend("openai", model="tiny", base_url=server.url, api_key_env=None, device="auto", vllm_options={})
    d = b.describe()
    assert b.name == "openai" and d["engine"] == "openai-compatible" and d["served_model"] == "tiny"
    assert d["server_models"] == ["tiny"] and d["max_concurrency"] == 8 and d["base_url"] == server.url
    assert b.peak_memory_bytes() is None


def test_chat_template_needs_a_tokenizer(server: FakeServer, tiny_qwen2: Path) -> None:
    with pytest.raises(HarnessError, match="messages"):
        backend(server).apply_chat_template("你好")
    from harness.models.chat import ChatFormatter, load_tokenizer

    tok = load_tokenizer(str(tiny_qwen2), None, False)
    assert backend(server, tokenizer=str(tiny_qwen2)).apply_chat_template("你好") == ChatFormatter(tok)("你好")


# ---- likelihood ------------------------------------------------------------------------------------------
def test_loglikelihood_spans_from_text_offsets(server: FakeServer) -> None:
    b = backend(server)
    reqs = [LoglikelihoodRequest(context="问题：答案", continuations=("A", "是B")), LoglikelihoodRequest(context="ab", continuations=("cde",))]
    out = dict(b.loglikelihood(reqs))
    (body, body2) = sorted(server.posts("/v1/completions"), key=lambda x: len(x["prompt"]))
    assert {tuple(body["prompt"]), tuple(body2["prompt"])} == {("ab" + "cde",), ("问题：答案A", "问题：答案是B")}
    assert body2["echo"] is True and body2["logprobs"] == 1 and body2["max_tokens"] == 1
    # one token per character, token t scores -(t+1)/10; the generated "X" is left out
    assert out[0].logprobs == pytest.approx([-0.6, -0.6 - 0.7])
    assert out[0].num_tokens == [1, 2]
    assert out[0].is_greedy == [False, False]  # t=5 is not greedy (odd t)
    assert out[1].logprobs == pytest.approx([-0.3 - 0.4 - 0.5]) and out[1].num_tokens == [3]
    assert out[1].is_greedy == [False]
    assert out[0].cost.prompt_tokens == len("问题：答案A") + len("问题：答案是B")


def test_loglikelihood_hand_made_echo_with_merges_and_partial_characters(server: FakeServer) -> None:
    echoes = {
        # a token straddling the boundary ("是中") is scored, as a merge is by the other backends
        "以下是中国": {"tokens": ["以下", "是中", "国", "!"], "text_offset": [0, 2, 4, 5],
                      "token_logprobs": [None, -1.0, -2.0, -9.0],
                      "top_logprobs": [None, {"是中": -1.0, "x": -3.0}, {"国": -2.0}, {"!": -9.0}]},
        # vLLM's echo of a character split over byte tokens: "" pieces at the character's offset
        "计算机网络": {"tokens": ["计算机", "", "", "网", "络", ""], "text_offset": [0, 3, 3, 3, 4, 5],
                      "token_logprobs": [None, -0.5, -0.25, -0.125, -1.0, -7.0],
                      "top_logprobs": [None, {"": -0.5}, {"": -0.1}, {"网": -0.125}, {"络": -1.0}, {"": -7.0}]},
    }
    server.echo = lambda prompt: echoes[prompt]
    b = backend(server)
    out = dict(b.loglikelihood([LoglikelihoodRequest(context="以下是", continuations=("中国",)),
                                LoglikelihoodRequest(context="计算机", continuations=("网络",))]))
    assert out[0].logprobs == [-3.0] and out[0].num_tokens == [2] and out[0].is_greedy == [True]
    assert out[1].logprobs == [-1.875] and out[1].num_tokens == [4] and out[1].is_greedy == [False]


def test_loglikelihood_with_a_tokenizer_sends_token_ids(server: FakeServer, tiny_qwen2: Path) -> None:
    from harness.backends.base import continuation_start, encode_requests
    from harness.models.chat import load_tokenizer

    tok = load_tokenizer(str(tiny_qwen2), None, False)
    reqs = [LoglikelihoodRequest(context="以下是中国关于计算机网络考试的单项选择题。\n答案：", continuations=("A", "B", "网络协议")),
            LoglikelihoodRequest(context="<|im_start|>user\n你好<|im_end|>\n", continuations=("好的",), add_special_tokens=False)]
    b = backend(server, tokenizer=str(tiny_qwen2))
    out = dict(b.loglikelihood(reqs))
    sent = {tuple(map(tuple, body["prompt"])) for body in server.posts("/v1/completions")}
    encoded = encode_requests(tok, reqs)
    assert sent == {tuple(map(tuple, wholes)) for _, wholes in encoded}
    for i, (ctx, wholes) in enumerate(encoded):
        for j, whole in enumerate(wholes):
            start = continuation_start(ctx, whole, i)
            assert out[i].num_tokens[j] == len(whole) - start
            assert out[i].logprobs[j] == pytest.approx(sum(-(t + 1) / 10 for t in range(start, len(whole))))


def test_server_without_prompt_logprobs_says_use_generate(server: FakeServer) -> None:
    server.echo = lambda prompt: None  # logprobs: null
    b = backend(server)
    with pytest.raises(HarnessError, match=r"does not return prompt log-probabilities; use --mode generate") as e:
        list(b.loglikelihood([LoglikelihoodRequest(context="问", continuations=("答",))]))
    assert server.url in str(e.value)
    server.forced = [(400, {"error": {"message": "echo is not supported with logprobs"}}, {})]
    with pytest.raises(HarnessError, match=r"does not return prompt log-probabilities \(HTTP 400: echo is not"):
        list(b.loglikelihood([LoglikelihoodRequest(context="问", continuations=("答",))]))
