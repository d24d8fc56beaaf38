"""The OpenAI-compatible streaming client of `harness bench`: one thread per request in flight, each with its own
kept-alive HTTP connection (standard library only), timing every streamed chunk the way vLLM's own benchmark
client does (vllm/benchmarks/lib/endpoint_request_func.py): a chunk that carries `choices` is output (its text
may be empty), the first one gives TTFT, each later one an inter-chunk gap, the last one the latency; the usage
chunk gives the token counts."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from typing import Any

from harness.backends.openai_api import normalise_url, read_key
from harness.bench.metrics import RequestRecord
from harness.bench.workload import BenchPrompt
from harness.errors import HarnessError

clock = time.perf_counter  # looked up at each call (a test may script it)


class OpenAIClient:
    """Streams completions (or chat completions) from one server; `send` is safe to call from many threads."""

    def __init__(self, base_url: str, model: str, api_key_env: str | None = None, endpoint: str = "completions",
                 temperature: float = 0.0, ignore_eos: bool = False, timeout_s: float = 600.0) -> None:
        self.base = urllib.parse.urlsplit(normalise_url(base_url))
        self.model, self.endpoint, self.temperature, self.ignore_eos = model, endpoint, temperature, ignore_eos
        self.timeout_s = timeout_s
        self.path = self.base.path + ("/chat/completions" if endpoint == "chat" else "/completions")
        self.headers = {"Content-Type": "application/json", "User-Agent": "harness-bench"}
        key = read_key(api_key_env)
        if key:
            self.headers["Authorization"] = f"Bearer {key}"
        self._local = threading.local()

    def describe(self) -> dict[str, Any]:
        return {"engine": "openai-compatible", "base_url": f"{self.base.scheme}://{self.base.hostname}:{self.base.port or ''}{self.base.path}",
                "endpoint": self.path, "served_model": self.model}

    def check(self) -> dict[str, Any]:
        """GET /models once: a server that is down, or does not serve the model, is one line before any timing."""
        conn = self._connection(fresh=True)
        try:
            conn.request("GET", self.base.path + "/models", headers=self.headers)
            resp = conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise HarnessError(f"bench --base-url {self.base.geturl()}: cannot reach the server ({e}); start it or check the URL") from None
        if resp.status in (401, 403):
            raise HarnessError(f"bench --base-url {self.base.geturl()}: the server refused the key (HTTP {resp.status}); check --api-key-env")
        try:
            models = [m for m in json.loads(raw).get("data", []) if isinstance(m, dict)]
        except (ValueError, AttributeError):
            return {}
        ids = [str(m.get("id")) for m in models]
        if ids and self.model not in ids:
            raise HarnessError(f"bench --model {self.model}: not served at {self.base.geturl()}; served models: {', '.join(ids)}")
        mine = next((m for m in models if m.get("id") == self.model), {})
        return {"server_engine": mine.get("owned_by"), "max_model_len": mine.get("max_model_len")}

    def _connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None or fresh:
            cls = http.client.HTTPSConnection if self.base.scheme == "https" else http.client.HTTPConnection
            conn = cls(self.base.hostname or "127.0.0.1", self.base.port, timeout=self.timeout_s)
            self._local.conn = conn
        return conn

    def body(self, p: BenchPrompt) -> bytes:
        body: dict[str, Any] = {"model": self.model, "max_tokens": p.output_len, "temperature": self.temperature,
                                "stream": True, "stream_options": {"include_usage": True}}
        if self.endpoint == "chat":
            body["messages"] = [{"role": "user", "content": p.text}]
        else:
            body["prompt"] = p.text
        if self.ignore_eos:
            body["ignore_eos"] = True  # vLLM and SGLang take it; it keeps output lengths as asked
        return json.dumps(body, ensure_ascii=False).encode("utf-8")

    def send(self, index: int, p: BenchPrompt) -> RequestRecord:
        """One streamed request, timed; a failure is recorded in the record (success False), never raised."""
        rec = RequestRecord(index, prompt_len=p.input_len or 0)
        data = self.body(p)
        for attempt in (0, 1):  # a kept-alive connection the server closed meanwhile: reconnect once
            conn = self._connection(fresh=attempt > 0)
            rec.start = last = clock()
            try:
                conn.request("POST", self.path, data, self.headers)
                resp = conn.getresponse()
                break
            except (ConnectionError, http.client.HTTPException, OSError) as e:
                conn.close()
                if attempt:
                    rec.error = f"cannot reach the server: {e}"
                    return rec
        try:
            if resp.status != 200:
                rec.error = f"HTTP {resp.status}: {resp.read()[:200].decode('utf-8', 'replace')}"
                return rec
            pending = b""
            while True:
                piece = resp.read1(65536)  # what has arrived (one server-sent event, usually): few Python calls a chunk
                if not piece:
                    break
                pending += piece
                if b"\n" not in piece:
                    continue
                lines = pending.split(b"\n")
                pending = lines.pop()
                for line in lines:
                    if not line.startswith(b"data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == b"[DONE]":
                        continue
                    chunk = json.loads(payload)
                    if chunk.get("choices"):
                        now = clock()
                        if rec.ttft is None:
                            rec.ttft = now - rec.start
                        else:
                            rec.itl.append(now - last)
                        last = now
                        rec.output_len += 1  # chunks, until the usage chunk gives the token count
                    elif chunk.get("usage"):
                        usage = chunk["usage"]
                        rec.output_len = int(usage.get("completion_tokens") or rec.output_len)
                        rec.prompt_len = int(usage.get("prompt_tokens") or rec.prompt_len)
                    elif chunk.get("error"):
                        rec.error = str(chunk["error"])[:200]
                        return rec
        except (ConnectionError, http.client.HTTPException, OSError, ValueError) as e:
            conn.close()
            rec.error = f"the stream broke: {e}"
            return rec
        if rec.ttft is None:
            rec.error = "no output chunk came back"
            return rec
        rec.latency = last - rec.start
        rec.success = True
        return rec
