"""Reasoning models over the OpenAI-compatible backend, against the fake server of test_openai_backend.py: the
reasoning a server returns apart (`reasoning_content`, `reasoning`; whole or streamed) becomes
GenerateResult.reasoning and never enters the text; sampling settings (top_p, top_k with each server's "off") and
chat-template variables (`chat_template_kwargs`) reach the request body; text a server mangles (lone surrogates,
undecodable bytes) does not crash the client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_openai_backend import FakeServer, backend

from harness.types import GenerateRequest

CHAT = (("user", "1+1=?"),)
THOUGHT = "先想一想：一加一等于二。"
ANSWER = "答案是2"


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


@pytest.fixture
def engine_server(request: pytest.FixtureRequest):
    """A fake server that says it is the named engine (owned_by in /models)."""
    s = FakeServer(models=(("tiny", request.param),))
    yield s
    s.close()


def _one(b: Any, req: GenerateRequest) -> Any:
    (i, res), = list(b.generate([req]))
    assert i == 0
    return res


# ---- reasoning returned apart -----------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("keys", [("reasoning_content",), ("reasoning",), ("reasoning_content", "reasoning")])
def test_reasoning_is_read_apart_and_never_in_the_text(server: FakeServer, stream: bool, keys: tuple[str, ...]) -> None:
    reply = {"text": ANSWER, "finish_reason": "stop", "stop_reason": None, **{k: THOUGHT for k in keys}}
    server.reply = lambda body: reply
    res = _one(backend(server, stream=stream), GenerateRequest(prompt="", messages=CHAT))
    assert res.text == ANSWER and res.reasoning == THOUGHT  # both names at once: read once, not twice
    assert "想" not in res.text and res.finish_reason == "eos"


@pytest.mark.parametrize("stream", [True, False])
def test_no_reasoning_from_the_server_is_none(server: FakeServer, stream: bool) -> None:
    server.reply = lambda body: {"text": ANSWER, "finish_reason": "stop", "stop_reason": None}
    assert _one(backend(server, stream=stream), GenerateRequest(prompt="", messages=CHAT)).reasoning is None
    assert _one(backend(server, stream=stream), GenerateRequest(prompt="1+1=")).reasoning is None  # /completions


@pytest.mark.parametrize("stream", [True, False])
def test_empty_or_null_reasoning_is_none(server: FakeServer, stream: bool) -> None:
    server.reply = lambda body: {"text": ANSWER, "finish_reason": "stop", "reasoning_content": "", "reasoning": None}
    res = _one(backend(server, stream=stream), GenerateRequest(prompt="", messages=CHAT))
    assert res.text == ANSWER and res.reasoning is None


@pytest.mark.parametrize("stream", [True, False])
def test_thinking_cut_by_the_budget_has_reasoning_and_no_text(server: FakeServer, stream: bool) -> None:
    server.reply = lambda body: {"text": "", "finish_reason": "length", "stop_reason": None, "reasoning_content": THOUGHT,
                                 "completion_tokens": 64, "reasoning_tokens": 64}
    res = _one(backend(server, stream=stream), GenerateRequest(prompt="", messages=CHAT, max_new_tokens=64))
    assert res.text == "" and res.reasoning == THOUGHT and res.finish_reason == "length"
    assert res.cost.generated_tokens == 64  # usage's completion tokens, reasoning included


def test_streamed_deltas_mixing_reasoning_content_and_nulls(server: FakeServer) -> None:
    """vLLM's shapes: reasoning-only deltas with content null, one delta carrying the end of the reasoning and the
    start of the content, the newer `reasoning` name, and a chunk with the same text under both names."""
    def delta(d: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"choices": [{"index": 0, "delta": d, "finish_reason": finish}]}

    server.raw_stream = [
        delta({"role": "assistant", "content": ""}),
        delta({"reasoning_content": "一", "content": None}),
        delta({"reasoning": "二"}),
        delta({"reasoning_content": "三", "reasoning": "三"}),
        delta({"reasoning_content": "。", "content": "答"}),
        delta({"content": "案"}, "stop"),
        {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11}},
        b"data: [DONE]\n\n",
    ]
    res = _one(backend(server), GenerateRequest(prompt="", messages=CHAT))
    assert (res.text, res.reasoning) == ("答案", "一二三。")
    assert res.cost.generated_tokens == 6 and res.cost.ttft_s is not None  # the first reasoning chunk is output


@pytest.fixture(scope="module")
def tiny_qwen2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from harness.models.tiny import build_tiny_model

    return build_tiny_model("qwen2", tmp_path_factory.mktemp("openai-reasoning-tok") / "tiny-qwen2")


def test_token_ids_decode_the_text_unless_reasoning_came_apart(tiny_qwen2: Path) -> None:
    """With a local tokenizer a vLLM server returns token ids; they cover the whole output, reasoning included, so
    with reasoning apart the text is the server's content; without, the ids are decoded as before."""
    from harness.backends.base import decode_generation
    from harness.models.chat import load_tokenizer

    tok = load_tokenizer(str(tiny_qwen2), None, False)
    ids = tok.encode("<think>" + THOUGHT + "</think>" + ANSWER, add_special_tokens=False)
    s = FakeServer(models=(("tiny", "vllm"),))
    try:
        b = backend(s, stream=False, tokenizer=str(tiny_qwen2))
        s.reply = lambda body: {"text": ANSWER, "finish_reason": "stop", "stop_reason": None, "token_ids": ids,
                                "reasoning_content": THOUGHT}
        res = _one(b, GenerateRequest(prompt="", messages=CHAT))
        assert (res.text, res.reasoning) == (ANSWER, THOUGHT)
        assert s.requests[-1]["body"]["return_token_ids"] is True
        s.reply = lambda body: {"text": "not read: the ids win", "finish_reason": "stop", "stop_reason": None, "token_ids": ids}
        res = _one(b, GenerateRequest(prompt="", messages=CHAT))
        assert (res.text, res.reasoning) == (decode_generation(tok, ids, ())[0], None)
        assert THOUGHT in res.text  # the model's own think tags: harness/run/reasoning.py splits them
    finally:
        s.close()


# ---- sampling settings and chat-template variables ------------------------------------------------------------
def _body(s: FakeServer, req: GenerateRequest, **kw: Any) -> dict[str, Any]:
    list(backend(s, **kw).generate([req]))
    return s.requests[-1]["body"]


def test_sampling_settings_reach_any_server(server: FakeServer) -> None:
    body = _body(server, GenerateRequest(prompt="p", temperature=0.6, top_p=0.95, top_k=20))
    assert (body["temperature"], body["top_p"], body["top_k"]) == (0.6, 0.95, 20)  # top_k asked for: sent
    body = _body(server, GenerateRequest(prompt="p", temperature=0.6, top_p=0.8))
    assert body["top_p"] == 0.8 and "top_k" not in body  # top_k off: not sent where it may be unknown
    body = _body(server, GenerateRequest(prompt="p", top_p=0.8, top_k=20))  # greedy: as before, neither sent
    assert body["temperature"] == 0.0 and "top_p" not in body and "top_k" not in body
    assert "min_p" not in body and "repetition_penalty" not in body


@pytest.mark.parametrize("engine_server", ["vllm"], indirect=True)
def test_vllm_gets_the_requests_sampling_settings(engine_server: FakeServer) -> None:
    body = _body(engine_server, GenerateRequest(prompt="p", temperature=0.6, top_p=0.95, top_k=20))
    assert (body["top_p"], body["top_k"], body["min_p"], body["repetition_penalty"]) == (0.95, 20, 0.0, 1.0)
    body = _body(engine_server, GenerateRequest(prompt="p", temperature=0.6, top_p=0.95))
    assert (body["top_p"], body["top_k"]) == (0.95, 0)  # off, in vLLM's words
    body = _body(engine_server, GenerateRequest(prompt="p", top_p=0.5, top_k=20))  # greedy: unchanged
    assert (body["top_p"], body["top_k"], body["min_p"], body["repetition_penalty"]) == (1.0, 0, 0.0, 1.0)


@pytest.mark.parametrize("engine_server", ["sglang"], indirect=True)
def test_sglang_gets_top_k_with_its_own_off(engine_server: FakeServer) -> None:
    body = _body(engine_server, GenerateRequest(prompt="p", temperature=0.6, top_p=0.95, top_k=20))
    assert (body["top_p"], body["top_k"]) == (0.95, 20)
    body = _body(engine_server, GenerateRequest(prompt="p", temperature=0.6))
    assert (body["top_p"], body["top_k"]) == (1.0, -1)  # SGLang refuses 0; -1 is its "off"
    body = _body(engine_server, GenerateRequest(prompt="p", top_k=20))
    assert "top_k" not in body and "top_p" not in body and "min_p" not in body


@pytest.mark.parametrize("stream", [True, False])
def test_a_server_that_rejects_top_k_is_asked_again_without_it(server: FakeServer, stream: bool) -> None:
    server.forced = [(400, {"error": {"message": "Unrecognized request argument supplied: top_k"}}, {})]
    b = backend(server, stream=stream)
    req = GenerateRequest(prompt="p", temperature=0.7, top_p=0.9, top_k=20)
    assert _one(b, req).text == "好的"
    first, second = server.posts("/v1/completions")
    assert first["top_k"] == 20 and "top_k" not in second and second["top_p"] == 0.9
    assert b.send_top_k is False
    _one(b, req)
    assert "top_k" not in server.posts("/v1/completions")[-1]  # never sent again
    assert len(server.posts("/v1/completions")) == 3


def test_other_bad_requests_with_top_k_still_fail(server: FakeServer) -> None:
    from harness.errors import HarnessError

    server.forced = [(400, {"error": {"message": "prompt too long"}}, {})]
    with pytest.raises(HarnessError, match="prompt too long"):
        _one(backend(server), GenerateRequest(prompt="p", temperature=0.7, top_k=20))
    assert len(server.posts("/v1/completions")) == 1


@pytest.mark.parametrize("engine_server", ["vllm", "sglang", "fake-engine"], indirect=True)
def test_template_kwargs_go_as_chat_template_kwargs(engine_server: FakeServer) -> None:
    kw = (("enable_thinking", False), ("thinking_budget", 128))
    body = _body(engine_server, GenerateRequest(prompt="<rendered>", messages=CHAT, template_kwargs=kw))
    assert body["chat_template_kwargs"] == {"enable_thinking": False, "thinking_budget": 128}
    assert "chat_template_kwargs" not in _body(engine_server, GenerateRequest(prompt="", messages=CHAT))  # none: not sent
    # raw text: the harness rendered the template with them already; /completions takes no template variables
    body = _body(engine_server, GenerateRequest(prompt="<rendered>", template_kwargs=kw))
    assert "chat_template_kwargs" not in body and engine_server.requests[-1]["path"] == "/v1/completions"


# ---- text a server mangles ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [True, False])
def test_lone_surrogates_from_a_server_become_replacement_characters(server: FakeServer, stream: bool) -> None:
    server.ascii_json = True  # "\ud800" escapes: valid JSON, but half a UTF-16 pair
    server.reply = lambda body: {"text": "答\ud800案", "finish_reason": "stop", "stop_reason": None,
                                 "reasoning_content": "想\udfff"}
    b = backend(server, stream=stream)
    res = _one(b, GenerateRequest(prompt="", messages=CHAT))
    assert (res.text, res.reasoning) == ("答\ufffd案", "想\ufffd")
    json.dumps({"text": res.text, "reasoning": res.reasoning}, ensure_ascii=False).encode("utf-8")  # writable
    res = _one(b, GenerateRequest(prompt="x\udc80y"))  # /completions, and a prompt holding one itself is sent
    assert res.text == "答\ufffd案" and res.reasoning is None
    assert server.requests[-1]["body"]["prompt"] == "x\ufffdy"


def test_a_turn_holding_a_lone_surrogate_is_sent(server: FakeServer) -> None:
    msgs = (("user", "问"), ("assistant", "半个\ud83d"), ("user", "再答"))
    assert _one(backend(server), GenerateRequest(prompt="", messages=msgs)).text == "好的"
    assert server.requests[-1]["body"]["messages"][1]["content"] == "半个\ufffd"


def test_undecodable_bytes_in_a_stream_are_replaced(server: FakeServer) -> None:
    server.raw_stream = [
        b'data: {"choices":[{"index":0,"delta":{"reasoning_content":"\xe6\x83"},"finish_reason":null}]}\n\n',
        b'data: {"choices":[{"index":0,"delta":{"content":"ok\xff"},"finish_reason":"stop"}]}\n\n',
        b"data: [DONE]\n\n",
    ]
    res = _one(backend(server), GenerateRequest(prompt="", messages=CHAT))
    assert res.text == "ok\ufffd" and res.reasoning is not None and "\ufffd" in res.reasoning
