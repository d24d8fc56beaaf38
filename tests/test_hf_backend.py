"""The transformers backend against independent computations: a plain unbatched forward pass per option,
the per-option path, other batch sizes. Tiny fp32 models, so agreement is expected to ~1e-6."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.backends.hf import HFBackend
from harness.tasks.task import Task, discover_tasks
from harness.types import GenerateRequest, LoglikelihoodRequest

ARCHS = ["qwen2", "llama", "glm4"]


@pytest.fixture(scope="module")
def ceval_requests(data_dir: Path) -> list[LoglikelihoodRequest]:
    task = Task.load(discover_tasks()["ceval"])
    samples = task.samples(data_dir, limit=16, seed=7)
    prompts = task.prompts(samples, task.fewshot_pool(data_dir, 1), 1, "likelihood")
    return [LoglikelihoodRequest(p.prompt, p.continuations) for p in prompts]


@pytest.fixture(scope="module")
def backends(tiny_models: dict[str, Path]) -> dict[str, HFBackend]:
    return {arch: HFBackend(str(tiny_models[arch]), device="cpu", dtype="float32", batch_size=8) for arch in ARCHS}


def _manual_logprob(backend: HFBackend, context: str, continuation: str) -> float:
    """log P(continuation | context) from one unpadded forward pass over context+continuation."""
    tok, model = backend.tokenizer, backend.model
    ids = tok(context + continuation)["input_ids"]
    n_ctx = len(tok(context)["input_ids"])
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), dim=-1)
    return sum(logp[k - 1, ids[k]].item() for k in range(n_ctx, len(ids)))


def _run(backend: HFBackend, requests: list) -> dict:
    return dict(backend.loglikelihood(requests))


@pytest.mark.parametrize("arch", ARCHS)
def test_one_pass_equals_manual_forward(backends: dict[str, HFBackend], ceval_requests: list, arch: str) -> None:
    backend = backends[arch]
    results = _run(backend, ceval_requests)
    assert all(r.one_pass for r in results.values()), "single-token labels must take the one-pass path"
    for i, req in enumerate(ceval_requests[:4]):
        for j, cont in enumerate(req.continuations):
            assert results[i].logprobs[j] == pytest.approx(_manual_logprob(backend, req.context, cont), abs=1e-5)


@pytest.mark.parametrize("arch", ARCHS)
def test_one_pass_equals_per_option_path(backends: dict[str, HFBackend], ceval_requests: list, arch: str) -> None:
    backend = backends[arch]
    fast = _run(backend, ceval_requests)
    backend.one_pass = False
    try:
        slow = _run(backend, ceval_requests)
    finally:
        backend.one_pass = True
    assert not any(r.one_pass for r in slow.values())
    for i in fast:
        assert fast[i].logprobs == pytest.approx(slow[i].logprobs, abs=1e-5)
        assert fast[i].is_greedy == slow[i].is_greedy
    # the point of the fast path: one forward over the context instead of one per option
    fast_tokens = sum(r.cost.prompt_tokens for r in fast.values())
    slow_tokens = sum(r.cost.prompt_tokens for r in slow.values())
    assert slow_tokens > 3.9 * fast_tokens


def test_scores_independent_of_batch_size(backends: dict[str, HFBackend], ceval_requests: list) -> None:
    backend = backends["qwen2"]
    reference = None
    for bs in (1, 3, 8, 32):
        backend.batch_size = bs
        got = _run(backend, ceval_requests)
        lps = [got[i].logprobs for i in range(len(ceval_requests))]
        if reference is None:
            reference = lps
        else:
            for a, b in zip(lps, reference):
                assert a == pytest.approx(b, abs=1e-5)
                assert max(range(4), key=a.__getitem__) == max(range(4), key=b.__getitem__)
    backend.batch_size = 8


def test_multi_token_continuations_match_manual(backends: dict[str, HFBackend]) -> None:
    """Continuations longer than one token (and merged with the context's end) take the per-option path."""
    backend = backends["qwen2"]
    reqs = [
        LoglikelihoodRequest("中国的首都是", ("北京", "上海市", "广州和深圳")),
        LoglikelihoodRequest("答案：", ("A. 甲", "B. 乙")),
        LoglikelihoodRequest("The answer is", (" yes", " no")),
    ]
    results = _run(backend, reqs)
    for i, req in enumerate(reqs):
        assert not results[i].one_pass
        for j, cont in enumerate(req.continuations):
            assert results[i].logprobs[j] == pytest.approx(_manual_logprob(backend, req.context, cont), abs=1e-5)
            assert results[i].num_tokens[j] >= 1


def test_results_come_back_for_every_request_once(backends: dict[str, HFBackend], ceval_requests: list) -> None:
    mixed = ceval_requests[:5] + [LoglikelihoodRequest("你好", ("世界", "朋友们"))] + ceval_requests[5:9]
    seen = [i for i, _ in backends["llama"].loglikelihood(mixed)]
    assert sorted(seen) == list(range(len(mixed)))


def test_windows_change_nothing_but_memory(backends: dict[str, HFBackend], ceval_requests: list,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests are handled a window at a time (memory stays flat); indices and scores are those of one window."""
    import harness.backends.hf as hf

    mixed = ceval_requests + [LoglikelihoodRequest("你好", ("世界", "朋友们"))]
    whole = _run(backends["qwen2"], mixed)
    monkeypatch.setattr(hf, "LIKELIHOOD_WINDOW", 3)
    windowed = _run(backends["qwen2"], mixed)
    assert sorted(windowed) == list(range(len(mixed)))
    for i, res in whole.items():
        assert windowed[i].logprobs == pytest.approx(res.logprobs, abs=1e-5), i


@pytest.mark.parametrize("arch", ARCHS)
def test_greedy_generation_independent_of_batch_size(backends: dict[str, HFBackend], ceval_requests: list, arch: str) -> None:
    backend = backends[arch]
    reqs = [GenerateRequest(r.context, max_new_tokens=10) for r in ceval_requests[:6]]
    backend.batch_size = 6
    batched = dict(backend.generate(reqs))
    backend.batch_size = 1
    single = dict(backend.generate(reqs))
    backend.batch_size = 8
    assert [batched[i].text for i in range(6)] == [single[i].text for i in range(6)]
    for r in batched.values():
        assert 1 <= r.cost.generated_tokens <= 10
        assert r.finish_reason in ("eos", "length", "stop")


def test_generation_matches_manual_greedy_loop(backends: dict[str, HFBackend]) -> None:
    """Left-padded batched generation equals a hand-written argmax loop on the unpadded prompt."""
    backend = backends["qwen2"]
    prompts = ["以下是中国关于会计考试的单项选择题", "答案："]
    got = dict(backend.generate([GenerateRequest(p, max_new_tokens=6) for p in prompts]))
    tok, model = backend.tokenizer, backend.model
    for i, p in enumerate(prompts):
        ids = tok(p)["input_ids"]
        new: list[int] = []
        for _ in range(6):
            with torch.no_grad():
                nxt = int(model(torch.tensor([ids + new])).logits[0, -1].argmax())
            new.append(nxt)
            if nxt in backend.eos_ids:
                break
        assert got[i].text == tok.decode(new, skip_special_tokens=True)


def test_stop_strings_cut_the_output(backends: dict[str, HFBackend]) -> None:
    backend = backends["glm4"]
    base = dict(backend.generate([GenerateRequest("题目：", max_new_tokens=12)]))[0].text
    assert len(base) >= 3
    stop = base[2:4]
    cut = dict(backend.generate([GenerateRequest("题目：", max_new_tokens=12, stop=(stop,))]))[0]
    assert cut.text == base[: base.find(stop)]
    assert cut.finish_reason == "stop"


@pytest.mark.parametrize("arch", ARCHS)
def test_shared_prefix_equals_whole_sequences_and_manual(backends: dict[str, HFBackend], data_dir: Path, arch: str) -> None:
    """Requests with many multi-token options (IFLYTEK's numbered classes) score every option against one run
    of the shared context; the numbers must equal whole-sequence scoring and a plain forward pass."""
    task = Task.load(discover_tasks()["iflytek"])
    prompts = task.prompts(task.samples(data_dir, limit=2, seed=3), {}, 0, "likelihood")
    reqs = [LoglikelihoodRequest(p.prompt, p.continuations) for p in prompts]
    reqs.append(LoglikelihoodRequest("类别：", ("体育", "体育新闻", "财经", "社会新闻频道", "科技")))  # uneven lengths
    backend = backends[arch]
    backend.batch_size = 16
    shared = _run(backend, reqs)
    backend.shared_prefix = False
    try:
        whole = _run(backend, reqs)
    finally:
        backend.shared_prefix = True
        backend.batch_size = 8
    for i in range(len(reqs)):
        assert shared[i].logprobs == pytest.approx(whole[i].logprobs, abs=1e-5)
        assert shared[i].is_greedy == whole[i].is_greedy and shared[i].num_tokens == whole[i].num_tokens
    assert sum(r.cost.prompt_tokens for r in shared.values()) * 20 < sum(r.cost.prompt_tokens for r in whole.values())
    last = reqs[-1]
    for j, cont in enumerate(last.continuations):
        assert shared[len(reqs) - 1].logprobs[j] == pytest.approx(_manual_logprob(backend, last.context, cont), abs=1e-5)


def test_generated_tokens_counted_to_the_stop_string(backends: dict[str, HFBackend]) -> None:
    """Inside a batch, a row that stops on a stop string is padded until the longest row ends, and the pad token
    is also an EOS token for these models: the count must end at the token that completed the stop string (as
    vLLM counts), not at the padding; a real EOS is counted."""
    backend = backends["qwen2"]
    tok = backend.tokenizer
    pad = tok.pad_token_id
    assert pad in backend.eos_ids
    ids = tok("中国的首都是北京。上海是直辖市", add_special_tokens=False)["input_ids"]
    expected = next(k for k in range(1, len(ids) + 1) if "。" in tok.decode(ids[:k]))
    padded = backend._finish(ids[:expected] + [pad] * 5, ("。",), 32)
    assert (padded.finish_reason, padded.cost.generated_tokens, padded.text) == ("stop", expected, "中国的首都是北京")
    eos = backend._finish(ids[:3] + [pad] * 4, (), 32)  # no stop string: the first pad is a real EOS, counted
    assert (eos.finish_reason, eos.cost.generated_tokens) == ("eos", 4)
    full = backend._finish(ids[:6], (), 6)
    assert (full.finish_reason, full.cost.generated_tokens) == ("length", 6)


def test_batch_encoding_equals_the_tokenizer_even_after_a_padded_call(backends: dict[str, HFBackend]) -> None:
    """encode_batch calls the Rust tokenizer directly; its ids must equal tokenizer(text) exactly, also after a
    padded call (generation) has left padding switched on in the backend."""
    from harness.backends.base import encode_batch

    for arch, backend in backends.items():
        tok = backend.tokenizer
        texts = ["以下是中国关于会计考试的单项选择题\nA. 甲\n答案：A", "短", "<|im_start|>user\n你好<|im_end|>\n", "[gMASK]<sop><|user|>\n题"]
        for special in (True, False):
            tok(texts, padding=True)  # what generation does: padding left switched on in the Rust backend
            state = tok.backend_tokenizer.padding
            assert state is not None
            got = encode_batch(tok, texts, special)
            assert tok.backend_tokenizer.padding == state  # restored
            assert got == [tok(t, add_special_tokens=special)["input_ids"] for t in texts], arch


def test_stop_strings_match_generated_text_only(tiny_models: dict[str, Path]) -> None:
    """transformers' stop_strings also matched across the end of the prompt (a prompt ending in "\n\n" stopped at
    a generated "\n" for the stop "\n\n\n"), unlike vLLM: the harness's criterion reads generated tokens only."""
    from transformers import AutoTokenizer

    from harness.backends.hf import _StopInGenerated

    tok = AutoTokenizer.from_pretrained(tiny_models["qwen2"])
    prompt = tok.encode("答案：\n\n", add_special_tokens=False)
    stop = _StopInGenerated(tok, ["\n\n\n"], len(prompt))
    one = torch.tensor([prompt + tok.encode("\n", add_special_tokens=False)])
    three = torch.tensor([prompt + tok.encode("好\n\n\n", add_special_tokens=False)])
    assert not bool(stop(one, None)[0]) and bool(stop(three, None)[0])
