"""Likelihood scoring on tiny models that tokenize exactly like Qwen3 and DeepSeek-V3 (the real tokenizers from
../shared/tokenizers): every path the backend may take (one pass over the context, one forward per option, a shared
prefix for many options) against a plain unbatched forward pass, raw and inside the chat template; numbered options
with digit-splitting and digit-grouping tokenizers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.backends.base import encode_requests, is_one_pass
from harness.backends.hf import HFBackend
from harness.models.chat import ChatFormatter
from harness.tasks.task import Task, discover_tasks
from harness.types import LoglikelihoodRequest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["qwen3", "deepseek_v3"])
def backend(request: pytest.FixtureRequest) -> HFBackend:
    folder = request.getfixturevalue(f"tiny_{request.param}")
    return HFBackend(str(folder), device="cpu", dtype="float32", batch_size=8)


def _requests(data_dir: Path, name: str, backend: HFBackend, n: int, shots: int) -> list[LoglikelihoodRequest]:
    task = Task.load(discover_tasks()[name])
    pool = task.fewshot_pool(data_dir, shots)
    prompts = [task.prompt(s, pool, shots, "likelihood") for s in task.plan(data_dir, limit=n, seed=3)]
    chat = ChatFormatter(backend.tokenizer)
    return ([LoglikelihoodRequest(p.prompt, p.continuations) for p in prompts]
            + [LoglikelihoodRequest(chat(p.prompt), p.continuations, add_special_tokens=False) for p in prompts])


def _manual(backend: HFBackend, r: LoglikelihoodRequest, options: list[int] | None = None) -> list[float]:
    """Each option (or the listed ones) from one unpadded forward pass over context+option, split where the
    context's ids end."""
    (ctx, wholes), = encode_requests(backend.tokenizer, [r])
    out = []
    for whole in (wholes if options is None else [wholes[j] for j in options]):
        n = 0
        while n < min(len(ctx), len(whole) - 1) and ctx[n] == whole[n]:
            n += 1
        with torch.no_grad():
            logp = torch.log_softmax(backend.model(torch.tensor([whole])).logits[0].float(), dim=-1)
        out.append(sum(logp[k - 1, whole[k]].item() for k in range(n, len(whole))))
    return out


def test_ceval_every_path_equals_a_plain_forward(backend: HFBackend, data_dir: Path) -> None:
    reqs = _requests(data_dir, "ceval", backend, 6, 1)
    fast = dict(backend.loglikelihood(reqs))
    backend.one_pass = False
    try:
        slow = dict(backend.loglikelihood(reqs))
    finally:
        backend.one_pass = True
    for i, r in enumerate(reqs):
        manual = _manual(backend, r)
        assert fast[i].logprobs == pytest.approx(manual, abs=1e-4)
        assert slow[i].logprobs == pytest.approx(manual, abs=1e-4)


def test_single_letter_labels_take_the_one_pass_path(backend: HFBackend, data_dir: Path) -> None:
    """With both real tokenizers 答案： and a letter stay apart, raw and after the chat template's assistant tag."""
    reqs = _requests(data_dir, "ceval", backend, 4, 0)
    assert all(is_one_pass(*e) for e in encode_requests(backend.tokenizer, reqs))
    assert all(r.one_pass for _, r in backend.loglikelihood(reqs))


def test_numbered_options_shared_prefix_equals_whole_sequences(backend: HFBackend, data_dir: Path) -> None:
    """IFLYTEK's 119 numbered options ("1\\n" .. "119\\n"): the shared-prefix path against whole sequences and a
    plain forward pass, with a tokenizer that splits digits (Qwen3) and one that groups them (DeepSeek-V3)."""
    reqs = _requests(data_dir, "iflytek", backend, 1, 0)[:1]
    shared = dict(backend.loglikelihood(reqs))
    backend.shared_prefix = False
    try:
        whole = dict(backend.loglikelihood(reqs))
    finally:
        backend.shared_prefix = True
    for i in range(len(reqs)):
        assert shared[i].logprobs == pytest.approx(whole[i].logprobs, abs=1e-4)
        assert shared[i].num_tokens == whole[i].num_tokens
    picked = [0, 8, 9, 10, 98, 99, 118]  # one digit, the first two-digit ones, the last two-digit, three digits
    manual = _manual(backend, reqs[0], picked)
    assert [shared[0].logprobs[j] for j in picked] == pytest.approx(manual, abs=1e-4)
