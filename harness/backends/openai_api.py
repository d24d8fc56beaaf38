"""OpenAI-compatible HTTP backend: any server that speaks /v1/completions and /v1/chat/completions (`vllm serve`,
SGLang, LMDeploy, a vendor's API), for evaluated models and for judges. Standard library only (urllib and a
thread pool): no new dependency. httpx and the openai SDK were weighed (issue 15 item 8) and not taken: the HTTP
part here is ~110 of ~790 lines (open, retry, map errors, parse server-sent events); httpx would still need our
retry rules (429/5xx with Retry-After), our one-line errors and an SSE parser, so it saves a few lines for a
dependency, and the SDK would hide the raw fields this module reads (echoed prompt logprobs, reasoning_content,
streamed tool-call deltas) behind typed models that vary across servers. The rest is protocol logic any client needs.

Connection. `base_url` is the API root as the OpenAI SDK takes it (`http://host:8000/v1`; a bare
`http://host:8000` gets `/v1` appended; any other path is kept, for APIs rooted elsewhere). The API key is read
from the environment variable whose *name* the user gives (`api_key_env`); the key itself is never taken from a
flag, never logged, never put in describe() or an error message. `GET /models` is probed once at start: an
unreachable server or a refused key fails at once with one line, and the served models are recorded. Requests
are retried with exponential backoff on 429, 5xx and connection errors (`Retry-After` is honoured).

Generation. A request with `messages` goes to /chat/completions (the server applies the model's chat template);
otherwise its prompt text goes to /completions. max_tokens, temperature, seed and stop strings are sent, and when
sampling (temperature > 0) the request's top_p, and its top_k to a server that takes it (vLLM, SGLang: with their
own value for "off"; another server gets top_k only when one is asked for, and a server that rejects the field is
asked again without it, once for all). A chat request's `template_kwargs` (chat-template variables such as
Qwen3's enable_thinking) go as `chat_template_kwargs`, as vLLM and SGLang take them. Up to `max_concurrency`
requests are in flight at once and results are yielded as they complete. Responses are
streamed (`stream: true`, `stream_options.include_usage`) so time to first token and time per output token are
measured per request by the client: TTFT = from sending the request to the first chunk carrying generated
output, TPOT = (last chunk - first chunk) / (generated tokens - 1). `Cost.seconds` is the request's share of the
time requests were in flight (every moment split evenly over the requests in flight then), as the local backends
give each request its share of a batch: the shares add up to the busy wall time, so per-task throughput is
right although requests overlap. Token counts come from the server's `usage` (generated tokens include any
reasoning tokens; `usage.completion_tokens_details.reasoning_tokens` is not kept apart).

Reasoning. A server with a reasoning parser (vLLM --reasoning-parser, SGLang, the DeepSeek API) returns a chat
reply's reasoning apart from its content, as `reasoning_content` or `reasoning` (newer vLLM, OpenRouter), in the
message or, streamed, in each delta. It becomes GenerateResult.reasoning (None when the server sent none) and is
never put in `text`. With reasoning apart, `text` is the server's content even where token ids came back: the ids
cover the reasoning too. Text from a server is taken as it is, except that lone surrogates (which cannot be
written as UTF-8) become U+FFFD and undecodable bytes are replaced.

finish_reason. OpenAI servers say "stop" both for EOS and for a stop string. vLLM adds `stop_reason`: the matched
stop string (-> "stop"), or a token id / null for EOS (-> "eos"). Without `stop_reason`, "stop" is reported only
when a stop string is seen in the returned text (the client also cuts there), else "eos".

vLLM extensions, sent only to a vLLM server (recognised by `owned_by: "vllm"` in /models; other servers may
reject unknown fields): `top_p, top_k` always (the request's when sampling, else 1 and 0, i.e. off),
`min_p=0, repetition_penalty=1` (vLLM otherwise applies the model's generation_config defaults, e.g. Qwen's
repetition penalty or top_k, where the in-process backends do not),
`add_special_tokens=false` for prompts that already hold the chat template's special tokens, and, with a local
tokenizer, `return_token_ids`: the generated ids are then decoded by the harness exactly as the transformers and
vLLM backends decode them (an incomplete multi-byte character at the end shows the same way), and max_tokens is
clamped to the room left in the server's max_model_len.

Likelihood. /completions with `echo: true, logprobs: 1, max_tokens: 1`, one HTTP request per question with every
context+continuation in the `prompt` list. With a local `tokenizer` (the model's folder), prompts are sent as
token ids tokenized by the harness (context and continuation together, split at the longest common prefix with
the context, as the other backends do), so the server scores byte-identical sequences. Without one, prompts go
as text and the continuation is found by `text_offset`: the tokens whose offset is at or past the end of the
context, plus a token that starts inside the context and ends inside the continuation (a merge across the
boundary, scored as the other backends score it). Tokens past the prompt (the one generated token) are dropped.
A server that returns no prompt log-probabilities gets a one-line error suggesting --mode generate.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from harness.backends.base import continuation_start, decode_generation, encode_batch, encode_requests
from harness.errors import HarnessError
from harness.types import Cost, FinishReason, GenerateRequest, GenerateResult, LoglikelihoodRequest, LoglikelihoodResult

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
_SURROGATE = re.compile("[\ud800-\udfff]")
_TOP_K_OFF = {"vllm": 0, "sglang": -1}  # servers known to take top_k in the body, and their value for "off"
_NO_LOGPROBS = "--backend openai: the server at {url} does not return prompt log-probabilities{why}; use --mode generate"


class _HTTPFailure(HarnessError):
    """A final HTTP error answer (4xx other than 408/409/425/429): the status is kept for the caller."""

    def __init__(self, message: str, status: int, server_message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.server_message = server_message


class _Retryable(Exception):
    """A failure worth another try (429, 5xx, connection trouble); `final` is the error if tries run out."""

    def __init__(self, final: str, wait_s: float | None = None) -> None:
        super().__init__(final)
        self.final = final
        self.wait_s = wait_s


@dataclass
class _Reply:
    """One generation as the server returned it, before the harness decodes and classifies it."""

    text: str = ""
    reasoning: str = ""  # reasoning_content / reasoning, returned apart from the text
    token_ids: list[int] = field(default_factory=list)
    finish_reason: str | None = None
    stop_reason: Any = None
    usage: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    ttft_s: float | None = None
    tpot_s: float | None = None
    chunks: int = 0
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # a chat reply's tool_calls, streamed ones joined


class _BusyShares:
    """Splits wall time among the requests in flight: between two events (a start or an end), each of the k
    requests then running is charged 1/k of the interval. The charges add up to the time any request ran."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, float] = {}
        self._last = 0.0

    def _advance(self, now: float) -> None:
        if self._running:
            step = (now - self._last) / len(self._running)
            for k in self._running:
                self._running[k] += step
        self._last = now

    def start(self, i: int) -> None:
        with self._lock:
            self._advance(time.perf_counter())
            self._running[i] = 0.0

    def stop(self, i: int) -> float:
        with self._lock:
            self._advance(time.perf_counter())
            return self._running.pop(i)


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str,
        api_key_env: str | None = None,
        max_concurrency: int = 8,
        timeout_s: float = 600,
        max_retries: int = 3,
        tokenizer: str | None = None,
        *,
        stream: bool = True,
        retry_backoff_s: float = 1.0,
        trust_remote_code: bool = False,
        **ignored: Any,
    ) -> None:
        if not base_url or not str(base_url).strip():
            raise HarnessError("--backend openai needs the server's URL (--base-url), e.g. http://127.0.0.1:8000/v1")
        self.model = model
        self.base_url = normalise_url(str(base_url).strip())
        self.display_url = _display_url(self.base_url)
        self.max_concurrency = max(1, int(max_concurrency))
        self.timeout_s = float(timeout_s)
        self.max_retries = max(0, int(max_retries))
        self.retry_backoff_s = float(retry_backoff_s)
        self.stream = bool(stream)
        self.api_key_env = api_key_env
        self._key = read_key(api_key_env)
        self._opener = _opener(self.base_url)
        self.tokenizer_path = tokenizer
        self.tokenizer: Any = None
        if tokenizer:
            from harness.models.chat import load_tokenizer

            try:
                self.tokenizer = load_tokenizer(tokenizer, None, trust_remote_code)
            except (OSError, ValueError) as e:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
                raise HarnessError(f"--backend openai: could not load the tokenizer from {tokenizer}: {first}") from None
        self.server_models: list[str] | None = None
        self.server_engine: str | None = None
        self.max_model_len: int | None = None
        self.send_top_k = True  # False once a server has rejected the field
        self._probe_models()

    # ---- identity --------------------------------------------------------------------------------------
    @property
    def is_vllm(self) -> bool:
        return self.server_engine == "vllm"

    def describe(self) -> dict[str, Any]:
        return {
            "engine": "openai-compatible",
            "base_url": self.display_url,
            "served_model": self.model,
            "server_models": self.server_models,
            "server_engine": self.server_engine,
            "max_model_len": self.max_model_len,
            "max_concurrency": self.max_concurrency,
            "batch_size": f"{self.max_concurrency} concurrent requests",
            "streaming": self.stream,
            "tokenizer": self.tokenizer_path,
            "api_key_env": self.api_key_env,  # the variable's name only, never its value
            "seconds_note": "per-request seconds are shares of the time requests were in flight (they add up to it)",
        }

    @property
    def context_length(self) -> int | None:
        """The server's max_model_len where it reports one; prompts are measured only with a local tokenizer."""
        return self.max_model_len

    def peak_memory_bytes(self) -> int | None:
        return None  # the server's memory is not visible from here

    def close(self) -> None:
        pass  # one HTTP request per connection: nothing is held open between calls

    def apply_chat_template(self, user_message: str) -> str:
        if self.tokenizer is None:
            raise HarnessError(
                "--backend openai: no local tokenizer to render a chat template with; an API backend sends chat models "
                "their messages and the server applies the template (or give the model's tokenizer folder)"
            )
        from harness.models.chat import ChatFormatter

        return ChatFormatter(self.tokenizer, None, self.model)(user_message)

    # ---- generation ------------------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerateRequest]) -> Iterator[tuple[int, GenerateResult]]:
        prompt_lens: list[int | None] = [None] * len(requests)
        if self.tokenizer is not None and self.max_model_len:
            for special in (True, False):
                idx = [i for i, r in enumerate(requests) if not r.messages and r.add_special_tokens is special]
                for i, ids in zip(idx, encode_batch(self.tokenizer, [requests[i].prompt for i in idx], special)):
                    prompt_lens[i] = len(ids)
        bodies = [self._generate_body(r, n) for r, n in zip(requests, prompt_lens)]
        jobs = [(lambda b=b, r=r: self._post_generation(b, bool(r.messages))) for b, r in zip(bodies, requests)]
        for i, reply in self._run(jobs):
            yield i, self._finish(requests[i], reply)

    def _generate_body(self, r: GenerateRequest, prompt_len: int | None) -> dict[str, Any]:
        max_tokens = r.max_new_tokens
        if self.max_model_len:
            room = self.max_model_len - (prompt_len or 0)
            if prompt_len is not None and room < 1:
                raise HarnessError(
                    f"a generation prompt of {prompt_len} tokens leaves no room in the server's max_model_len {self.max_model_len}")
            max_tokens = max(1, min(max_tokens, room))
        body: dict[str, Any] = {"model": self.model}
        if r.messages:
            body["messages"] = [{"role": role, "content": content} for role, content in r.messages]
        else:
            body["prompt"] = r.prompt
        body.update(max_tokens=max_tokens, temperature=r.temperature, seed=r.seed)
        if r.stop:
            body["stop"] = list(r.stop)
        sampling = r.temperature > 0
        if sampling:
            body["top_p"] = r.top_p
            off = _TOP_K_OFF.get(self.server_engine or "")
            if off is not None:
                body["top_k"] = r.top_k if r.top_k > 0 else off
            elif r.top_k > 0 and self.send_top_k:
                body["top_k"] = r.top_k
        if r.messages and r.template_kwargs:
            body["chat_template_kwargs"] = dict(r.template_kwargs)
        if r.messages and r.tools:  # the server's chat template (and tool parser) get the tools
            body["tools"] = json.loads(r.tools)
        if self.is_vllm:
            if not sampling:
                body.update(top_p=1.0, top_k=0)
            body.update(min_p=0.0, repetition_penalty=1.0)
            if self.tokenizer is not None:
                body["return_token_ids"] = True
            if not r.messages and not r.add_special_tokens:
                body["add_special_tokens"] = False
        if self.stream:
            body.update(stream=True, stream_options={"include_usage": True})
        return body

    def _post_generation(self, body: dict[str, Any], chat: bool) -> _Reply:
        path = "/chat/completions" if chat else "/completions"
        if "top_k" in body and not self.send_top_k:
            body = {k: v for k, v in body.items() if k != "top_k"}
        try:
            return self._post_generation_once(path, body, chat)
        except _HTTPFailure as e:  # a server that does not take top_k: ask without it (and never send it again)
            if "top_k" not in body or _TOP_K_OFF.get(self.server_engine or "") is not None or e.status not in (400, 422) \
                    or "top_k" not in e.server_message.lower():
                raise
            self.send_top_k = False
            return self._post_generation_once(path, {k: v for k, v in body.items() if k != "top_k"}, chat)

    def _post_generation_once(self, path: str, body: dict[str, Any], chat: bool) -> _Reply:
        if body.get("stream"):
            try:
                return self._with_retries(lambda: self._stream_once(path, body, chat), path)
            except _HTTPFailure as e:  # a server that cannot stream (or stream usage): ask without streaming
                if e.status not in (400, 422) or "stream" not in e.server_message.lower():
                    raise
                self.stream = False
                body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
        start = time.perf_counter()
        data = self._with_retries(lambda: self._json_once("POST", path, body), path)
        reply = _Reply(seconds=time.perf_counter() - start, usage=data.get("usage") or {})
        choices = data.get("choices") or []
        if not choices:
            raise HarnessError(f"--backend openai: {self.display_url}{path} returned no choices")
        c = choices[0]
        message = (c.get("message") or {}) if chat else {}
        reply.text = _text(message.get("content") if chat else c.get("text"))
        reply.reasoning = _reasoning(message)
        reply.tool_calls = [_tool_call(tc) for tc in message.get("tool_calls") or [] if isinstance(tc, dict)]
        reply.token_ids = list(c.get("token_ids") or [])
        reply.finish_reason = c.get("finish_reason")
        reply.stop_reason = c.get("stop_reason")
        metrics = data.get("metrics") or {}  # vLLM with per-request metrics switched on
        if isinstance(metrics, dict) and metrics.get("time_to_first_token_ms") is not None:
            reply.ttft_s = metrics["time_to_first_token_ms"] / 1000
            if metrics.get("mean_itl_ms") is not None:
                reply.tpot_s = metrics["mean_itl_ms"] / 1000
        return reply

    def _stream_once(self, path: str, body: dict[str, Any], chat: bool) -> _Reply:
        reply = _Reply()
        start = time.perf_counter()
        first = last = None
        with self._open("POST", path, body) as resp:
            for data in _sse_events(resp):
                if data == "[DONE]":
                    break
                try:
                    chunk = json.loads(data)
                except json.JSONDecodeError:
                    raise HarnessError(f"--backend openai: {self.display_url}{path} sent a stream chunk that is not JSON: {data[:120]!r}") from None
                if chunk.get("error"):
                    raise HarnessError(f"--backend openai: {self.display_url}{path} failed mid-stream: {self._scrub(_error_text(chunk))}")
                if chunk.get("usage"):
                    reply.usage = chunk["usage"]
                for c in chunk.get("choices") or []:
                    delta = (c.get("delta") or {}) if chat else c
                    piece = _text(delta.get("content") if chat else delta.get("text"))
                    ids = c.get("token_ids") or []
                    reasoning = _reasoning(delta) if chat else ""
                    reply.text += piece
                    reply.reasoning += reasoning
                    calls = delta.get("tool_calls") if chat else None
                    if calls:
                        _join_tool_call_deltas(reply.tool_calls, calls)
                    reply.token_ids.extend(ids)
                    if piece or ids or reasoning or calls:
                        now = time.perf_counter()
                        first = now if first is None else first
                        last = now
                        reply.chunks += 1
                    if c.get("finish_reason") is not None:
                        reply.finish_reason = c["finish_reason"]
                        reply.stop_reason = c.get("stop_reason")
        end = time.perf_counter()
        reply.seconds = end - start
        if first is not None:
            reply.ttft_s = first - start
            n = int(reply.usage.get("completion_tokens") or len(reply.token_ids) or reply.chunks)
            reply.tpot_s = (last - first) / (n - 1) if n > 1 and last is not None else None
        return reply

    def _finish(self, r: GenerateRequest, reply: _Reply) -> GenerateResult:
        """Decode (with a local tokenizer and the server's token ids) or take the server's text; classify the end.
        Reasoning the server returned apart stays apart: the token ids then cover it too, so the text is the
        server's content."""
        reasoning = _clean(reply.reasoning) or None
        if self.tokenizer is not None and reply.token_ids and reasoning is None:
            text, cut = decode_generation(self.tokenizer, reply.token_ids, r.stop)
        else:
            text, cut = _clean(reply.text), False
            pos = min((text.find(s) for s in r.stop if s and s in text), default=-1)
            if pos >= 0:  # a server that ignored or truncated the stop list
                text, cut = text[:pos], True
        reason: FinishReason
        if reply.finish_reason == "length" and not cut:
            reason = "length"
        elif cut or isinstance(reply.stop_reason, str):
            reason = "stop"
        else:
            reason = "eos"
        generated = reply.usage.get("completion_tokens")
        if generated is None:
            generated = len(reply.token_ids) if reply.token_ids else (
                sum(len(self.tokenizer.encode(t, add_special_tokens=False)) for t in (reasoning or "", text))
                if self.tokenizer is not None else reply.chunks)
        cost = Cost(
            prompt_tokens=int(reply.usage.get("prompt_tokens") or 0),
            generated_tokens=int(generated),
            seconds=reply.seconds,
            ttft_s=reply.ttft_s,
            tpot_s=reply.tpot_s,
        )
        return GenerateResult(text=text, finish_reason=reason, cost=cost, reasoning=reasoning,
                              tool_calls=_clean_tree(reply.tool_calls) or None)

    # ---- likelihood ------------------------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> Iterator[tuple[int, LoglikelihoodResult]]:
        plans: list[tuple[list[Any], list[tuple[int, int]] | None]] = []
        if self.tokenizer is not None:
            for i, (ctx, wholes) in enumerate(encode_requests(self.tokenizer, requests)):
                plans.append((wholes, [(continuation_start(ctx, w, i), len(w)) for w in wholes]))
        else:
            for i, r in enumerate(requests):
                if not r.context or any(not c for c in r.continuations):
                    raise HarnessError(f"likelihood request {i}: empty context or continuation cannot be scored")
                plans.append(([r.context + c for c in r.continuations], None))
        jobs = [(lambda i=i, p=p: self._score(i, requests[i], *p)) for i, p in enumerate(plans)]
        yield from self._run(jobs)

    def _score(self, i: int, r: LoglikelihoodRequest, prompts: list[Any], spans: list[tuple[int, int]] | None) -> LoglikelihoodResult:
        body: dict[str, Any] = {"model": self.model, "prompt": prompts, "max_tokens": 1, "echo": True, "logprobs": 1, "temperature": 0}
        if self.is_vllm and spans is None and not r.add_special_tokens:
            body["add_special_tokens"] = False
        start = time.perf_counter()
        try:
            data = self._with_retries(lambda: self._json_once("POST", "/completions", body), "/completions")
        except _HTTPFailure as e:
            said = e.server_message.lower()
            if (e.status == 404 and "not served" not in str(e)) or (e.status in (400, 422) and ("logprob" in said or "echo" in said)):
                why = f" (HTTP {e.status}{': ' + e.server_message[:200] if e.server_message else ''})"
                raise HarnessError(_NO_LOGPROBS.format(url=self.display_url, why=why)) from None
            raise
        seconds = time.perf_counter() - start
        choices = sorted(data.get("choices") or [], key=lambda c: c.get("index", 0))
        if len(choices) != len(prompts):
            raise HarnessError(
                f"--backend openai: {self.display_url}/completions answered {len(choices)} choices for {len(prompts)} prompts "
                "(a server that does not take a list of prompts cannot score likelihoods here); use --mode generate"
            )
        k = len(prompts)
        res = LoglikelihoodResult([0.0] * k, [0] * k, [True] * k, False, Cost())
        for j, c in enumerate(choices):
            lp = c.get("logprobs") or {}
            token_lps = lp.get("token_logprobs") or []
            if not token_lps:
                raise HarnessError(_NO_LOGPROBS.format(url=self.display_url, why=""))
            if spans is not None:
                first, end = spans[j]
            else:
                first, end = _text_span(lp, len(r.context), len(prompts[j]), i)
            if end > len(token_lps):
                raise HarnessError(_NO_LOGPROBS.format(url=self.display_url, why=" for every prompt token (echo)"))
            total, greedy = 0.0, True
            tops = lp.get("top_logprobs") or []
            for t in range(first, end):
                value = token_lps[t]
                if value is None:
                    raise HarnessError(_NO_LOGPROBS.format(url=self.display_url, why=f" (none for token {t} of likelihood request {i})"))
                total += float(value)
                top = tops[t] if t < len(tops) else None
                if top:
                    greedy = greedy and float(value) >= max(float(v) for v in top.values()) - 1e-6
                else:
                    greedy = False
            res.logprobs[j], res.num_tokens[j], res.is_greedy[j] = total, end - first, greedy
        usage = data.get("usage") or {}
        res.cost = Cost(prompt_tokens=int(usage.get("prompt_tokens") or 0), seconds=seconds)
        return res

    # ---- concurrency -----------------------------------------------------------------------------------
    def _run(self, jobs: Sequence[Callable[[], Any]]) -> Iterator[tuple[int, Any]]:
        """Run jobs on up to max_concurrency threads; yield (index, result) as each completes. The first error
        cancels what has not started and is raised here."""
        if not jobs:
            return
        pool = ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(jobs)), thread_name_prefix="openai-api")
        shares = _BusyShares()

        def timed(i: int, job: Callable[[], Any]) -> Any:
            shares.start(i)
            try:
                result = job()
            finally:
                share = shares.stop(i)
            if hasattr(result, "cost"):
                result.cost.seconds = share
            elif hasattr(result, "seconds"):
                result.seconds = share
            return result

        try:
            futures: dict[Future, int] = {pool.submit(timed, i, job): i for i, job in enumerate(jobs)}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=lambda f: futures[f]):
                    yield futures[fut], fut.result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    # ---- HTTP ------------------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
             "User-Agent": "harness-openai-backend"}
        if self._key:
            h["Authorization"] = f"Bearer {self._key}"
        return h

    def _open(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        """Open one HTTP request; map failures to HarnessError (final) or _Retryable."""
        parts = urllib.parse.urlsplit(self.base_url)  # a query (e.g. an api-version) goes after the endpoint
        url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path + path, parts.query, ""))
        data = _clean(json.dumps(body, ensure_ascii=False)).encode("utf-8") if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers=self._headers())
        try:
            return self._opener.open(req, timeout=timeout or self.timeout_s)
        except urllib.error.HTTPError as e:
            raise self._http_error(e, path) from None
        except (urllib.error.URLError, ConnectionError, http.client.HTTPException, TimeoutError, OSError) as e:
            reason = getattr(e, "reason", None) or e
            raise _Retryable(
                f"--backend openai: cannot reach {self.display_url} ({_short(reason)}); start the server or check --base-url "
                "(--judge-base-url for a judge)"
            ) from None

    def _json_once(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float | None = None) -> dict[str, Any]:
        with self._open(method, path, body, timeout) as resp:
            try:
                raw = resp.read()
            except (ConnectionError, http.client.HTTPException, TimeoutError, OSError) as e:
                raise _Retryable(f"--backend openai: {self.display_url}{path}: the connection broke ({_short(e)})") from None
        try:
            data = json.loads(raw.decode("utf-8", "replace"))
        except json.JSONDecodeError:
            raise HarnessError(f"--backend openai: {self.display_url}{path} did not answer JSON: {raw[:120]!r}") from None
        if isinstance(data, dict) and data.get("error") and not data.get("choices") and not data.get("data"):
            raise HarnessError(f"--backend openai: {self.display_url}{path} failed: {self._scrub(_error_text(data))}")
        return data

    def _with_retries(self, once: Callable[[], Any], path: str) -> Any:
        attempt = 0
        while True:
            try:
                return once()
            except _Retryable as e:
                if attempt >= self.max_retries:
                    tries = f" (after {attempt + 1} attempts)" if attempt else ""
                    raise HarnessError(self._scrub(e.final) + tries) from None
                delay = e.wait_s if e.wait_s is not None else self.retry_backoff_s * (2 ** attempt)
                time.sleep(min(max(delay, 0.0), 60.0))
                attempt += 1
            except (ConnectionError, http.client.HTTPException, TimeoutError) as e:  # mid-stream
                if attempt >= self.max_retries:
                    raise HarnessError(self._scrub(f"--backend openai: {self.display_url}{path}: the connection broke ({_short(e)})")) from None
                time.sleep(min(self.retry_backoff_s * (2 ** attempt), 60.0))
                attempt += 1

    def _http_error(self, e: urllib.error.HTTPError, path: str) -> Exception:
        try:
            raw = e.read()
        except Exception:  # noqa: BLE001 - the body is only used for the message
            raw = b""
        message = self._scrub(_error_text(raw))
        where = f"{self.display_url}{path}"
        if e.code in (401, 403):
            if self._key:
                hint = f"check the key in ${self.api_key_env}"
            else:
                hint = ("it needs an API key: put it in an environment variable and name that variable with --api-key-env "
                        "(--judge-api-key-env for a judge)")
            said = f": {message}" if message else ""
            return _HTTPFailure(f"--backend openai: {where} refused the request (HTTP {e.code}{said}); {hint}", e.code, message)
        if e.code == 404:
            models = self.server_models if path != "/models" else None
            if models is not None and self.model not in models:
                return _HTTPFailure(
                    f"--backend openai: model '{self.model}' is not served at {self.display_url} (HTTP 404); "
                    f"served models: {', '.join(models) or 'none'}", 404, message,
                )
            return _HTTPFailure(f"--backend openai: {where} not found (HTTP 404{': ' + message if message else ''}); "
                                "check the base URL and the model name", 404, message)
        if e.code in _RETRY_STATUS:
            retry_after = e.headers.get("Retry-After") if e.headers else None
            wait_s = float(retry_after) if retry_after and retry_after.strip().replace(".", "", 1).isdigit() else None
            return _Retryable(f"--backend openai: {where} answered HTTP {e.code}{': ' + message if message else ''}", wait_s)
        return _HTTPFailure(f"--backend openai: {where} rejected the request (HTTP {e.code}): {message or e.reason}", e.code, message)

    def _scrub(self, text: str) -> str:
        if self._key and self._key in text:
            text = text.replace(self._key, "***")
        return text

    def _probe_models(self) -> None:
        try:
            data = self._with_retries(lambda: self._json_once("GET", "/models", timeout=min(self.timeout_s, 60)), "/models")
        except HarnessError as e:
            msg = str(e)
            if "cannot reach" in msg or "refused the request" in msg:
                raise
            return  # no model list here (some vendor APIs): requests will tell
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            return
        entries = [m for m in data["data"] if isinstance(m, dict) and m.get("id")]
        self.server_models = [str(m["id"]) for m in entries]
        mine = next((m for m in entries if m["id"] == self.model), None)
        if mine is not None:
            self.server_engine = mine.get("owned_by")
            if isinstance(mine.get("max_model_len"), int):
                self.max_model_len = mine["max_model_len"]
        if self.server_models and self.model not in self.server_models and all(m.get("owned_by") == "vllm" for m in entries):
            raise HarnessError(
                f"--backend openai: model '{self.model}' is not served at {self.display_url}; served models: "
                f"{', '.join(self.server_models)} (vLLM serves the name given by --served-model-name)"
            )


# ---- helpers -----------------------------------------------------------------------------------------------
def read_key(name: str | None) -> str | None:
    if not name:
        return None
    if not _ENV_NAME.fullmatch(name):
        raise HarnessError("--api-key-env / --judge-api-key-env take the NAME of an environment variable that holds the key "
                           "(like OPENAI_API_KEY), not the key itself")
    key = os.environ.get(name, "").strip()
    if not key:
        raise HarnessError(f"--backend openai: the environment variable {name}, named for the API key, is not set or empty; "
                           f"export {name}=<your key> first")
    return key


def normalise_url(url: str) -> str:
    if "://" not in url:
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HarnessError(f"--base-url: '{_display_url(url)}' is not an http(s) URL (e.g. http://127.0.0.1:8000/v1)")
    path = parts.path.rstrip("/")
    for suffix in ("/chat/completions", "/completions"):  # a full endpoint URL pasted by mistake
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    if not path:
        path = "/v1"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _display_url(url: str) -> str:
    """The URL without credentials or query (where a key might hide)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _opener(url: str) -> urllib.request.OpenerDirector:
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    if host in ("localhost", "::1") or host.startswith("127."):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never send loopback through a proxy
    return urllib.request.build_opener()


def _sse_events(resp: Any) -> Iterator[str]:
    """The data payloads of a server-sent event stream."""
    lines: list[str] = []
    for raw in resp:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if lines:
                yield "\n".join(lines)
                lines = []
            continue
        if line.startswith(":"):
            continue
        if line.startswith("data:"):
            lines.append(line[5:].lstrip(" "))
        elif line.startswith("{"):  # a server that answered plain JSON (an error) to a streaming request
            lines.append(line)
    if lines:
        yield "\n".join(lines)


def _clean(text: str) -> str:
    """Text that can be written as UTF-8: lone surrogates (a server's JSON may escape half a pair) become U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def _text(value: Any) -> str:
    """A content or text field: a string, or nothing (null, or a shape this client does not read)."""
    return value if isinstance(value, str) else ""


def _clean_tree(value: Any) -> Any:
    """`_clean` over every string of a JSON-like value."""
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, dict):
        return {_clean_tree(k): _clean_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_tree(v) for v in value]
    return value


def _tool_call(tc: dict[str, Any]) -> dict[str, Any]:
    """One tool call of a reply in the OpenAI shape, arguments as JSON text (a server may send an object)."""
    fn = tc.get("function")
    if not isinstance(fn, dict):
        fn = {}
    args = fn.get("arguments")
    if not isinstance(args, str):
        args = json.dumps(args if args is not None else {}, ensure_ascii=False)
    return {"type": "function", "function": {"name": str(fn.get("name") or ""), "arguments": args}}


def _join_tool_call_deltas(calls: list[dict[str, Any]], deltas: list[Any]) -> None:
    """Streamed tool calls come in pieces: each delta names its call by `index`; the name arrives once, the
    arguments' JSON text in fragments, joined in order."""
    for d in deltas:
        if not isinstance(d, dict):
            continue
        k = d.get("index", len(calls) - 1 if calls and "id" not in d else len(calls))
        k = k if isinstance(k, int) and 0 <= k < 1024 else len(calls)
        while len(calls) <= k:
            calls.append({"type": "function", "function": {"name": "", "arguments": ""}})
        fn = d.get("function")
        if not isinstance(fn, dict):
            fn = {}
        if fn.get("name"):
            calls[k]["function"]["name"] += str(fn["name"])
        if fn.get("arguments") is not None:
            piece = fn["arguments"]
            calls[k]["function"]["arguments"] += piece if isinstance(piece, str) else json.dumps(piece, ensure_ascii=False)


def _reasoning(message: dict[str, Any]) -> str:
    """The reasoning in a message or a stream delta: `reasoning_content` (vLLM with a reasoning parser, SGLang,
    the DeepSeek API) or `reasoning` (newer vLLM, OpenRouter); a server that sends both sends the same text."""
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _error_text(raw: Any) -> str:
    """The server's error message, one line."""
    data: Any = raw
    if isinstance(raw, (bytes, bytearray)):
        text = raw.decode("utf-8", "replace")
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = text
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            data = err.get("message") or err.get("detail") or json.dumps(err, ensure_ascii=False)
        elif isinstance(err, str) and data.get("message"):
            data = data["message"]
        else:
            data = data.get("message") or data.get("detail") or err
    return _short(data, 300)


def _short(value: Any, n: int = 200) -> str:
    text = " ".join(str(value).split())
    return text[:n]


def _text_span(lp: dict[str, Any], ctx_len: int, prompt_len: int, request: int) -> tuple[int, int]:
    """(first, end) token indices of the continuation from text offsets: tokens from the one that covers the
    first continuation character (a token straddling the boundary is scored, as a merge is by the other backends)
    to the last token that starts inside the prompt (the generated token is dropped)."""
    offsets = lp.get("text_offset") or []
    tokens = lp.get("tokens") or []
    if not offsets:
        raise HarnessError("--backend openai: the server returned log-probabilities without text offsets; give the backend the model's tokenizer")
    end = sum(1 for o in offsets if o < prompt_len)
    first = next((t for t in range(end) if offsets[t] >= ctx_len), end)
    if first > 0 and first - 1 < len(tokens) and offsets[first - 1] + len(tokens[first - 1]) > ctx_len:
        first -= 1  # starts in the context and ends in the continuation
    if first >= end:
        raise HarnessError(f"likelihood request {request}: no continuation tokens found in the server's echo (text offsets)")
    if first == 0:
        raise HarnessError(f"likelihood request {request}: the continuation's first token starts the prompt; it has no log-probability")
    return first, end
