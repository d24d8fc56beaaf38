"""The request's top_p / top_k reach the in-process engines when sampling (temperature > 0): transformers'
generate() gets them, and requests that differ in them never share a batch; greedy decoding is unchanged (and
greedy requests are not split by settings they do not use). vLLM's SamplingParams are checked against a stand-in
engine (the real one runs in tests_vllm)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.backends.hf import HFBackend
from harness.types import GenerateRequest


@pytest.fixture(scope="module")
def hf(tiny_models: dict[str, Path]) -> HFBackend:
    return HFBackend(str(tiny_models["qwen2"]), device="cpu", dtype="float32", batch_size=8)


@pytest.fixture
def calls(hf: HFBackend, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every model.generate call's keyword arguments (the real generate still runs)."""
    seen: list[dict[str, Any]] = []
    real = hf.model.generate

    def spy(**kw: Any) -> Any:
        seen.append(kw)
        return real(**kw)

    monkeypatch.setattr(hf.model, "generate", spy)
    return seen


def test_sampling_settings_reach_generate_and_split_batches(hf: HFBackend, calls: list[dict[str, Any]]) -> None:
    reqs = [GenerateRequest("题目一", max_new_tokens=3, temperature=0.7, top_p=0.9, top_k=20),
            GenerateRequest("题目二", max_new_tokens=3, temperature=0.7, top_p=0.5),
            GenerateRequest("题目三很长", max_new_tokens=3, temperature=0.7, top_p=0.9, top_k=20)]
    out = dict(hf.generate(reqs))
    assert sorted(out) == [0, 1, 2]
    got = sorted((c["input_ids"].shape[0], c["top_p"], c["top_k"], c["do_sample"], c["temperature"]) for c in calls)
    assert got == [(1, 0.5, 0, True, 0.7), (2, 0.9, 20, True, 0.7)]  # one batch per (top_p, top_k); 0: off


def test_greedy_is_unchanged_and_not_split_by_unused_settings(hf: HFBackend, calls: list[dict[str, Any]]) -> None:
    reqs = [GenerateRequest("题目一", max_new_tokens=3, top_p=0.9, top_k=20), GenerateRequest("题目二", max_new_tokens=3)]
    dict(hf.generate(reqs))
    (c,) = calls  # one batch: greedy ignores top_p / top_k
    assert c["input_ids"].shape[0] == 2
    assert (c["do_sample"], c["temperature"], c["top_p"], c["top_k"]) == (False, None, None, None)


def test_vllm_sampling_params_follow_the_request(hf: HFBackend) -> None:
    from harness.backends.vllm_engine import VLLMBackend

    made: list[dict[str, Any]] = []

    def sampling_params(**kw: Any) -> dict[str, Any]:
        made.append(kw)
        return kw

    def llm_generate(prompts: list, params: list, use_tqdm: bool = False) -> list:
        out = SimpleNamespace(token_ids=[hf.tokenizer.eos_token_id], finish_reason="stop", stop_reason=None)
        return [SimpleNamespace(outputs=[out], num_cached_tokens=0, metrics=None) for _ in prompts]

    b = object.__new__(VLLMBackend)  # the engine itself is not needed to build the requests' parameters
    b._vllm = SimpleNamespace(SamplingParams=sampling_params)
    b.llm = SimpleNamespace(generate=llm_generate)
    b.tokenizer, b.max_length = hf.tokenizer, 256
    reqs = [GenerateRequest("p", temperature=0.6, top_p=0.95, top_k=20, seed=5), GenerateRequest("p", temperature=0.6),
            GenerateRequest("p", top_p=0.95, top_k=20)]
    assert sorted(i for i, _ in b.generate(reqs)) == [0, 1, 2]
    assert [(m["temperature"], m["top_p"], m["top_k"], m["seed"]) for m in made] == [
        (0.6, 0.95, 20, 5), (0.6, 1.0, 0, 1234), (0.0, 1.0, -1, None)]  # sampling "off" is 0, greedy as before
