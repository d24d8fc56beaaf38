"""Every option of every likelihood task can win, with the real tokenizers users meet (Qwen3 splits digits one by
one; DeepSeek-V3 keeps up to three digits in a token).

If one option's scored continuation (as token ids, after the prompt) is a proper prefix of another's, the longer
option's log-probability is the shorter one's plus more (negative) terms, so it can never be chosen: IFLYTEK's
classes 10-119 were unreachable on every Qwen model this way. Checked on real items of each task, with the prompt
as raw text and inside each tokenizer's chat template."""

from __future__ import annotations

from pathlib import Path

import pytest
from needs import require

from harness.backends.base import continuation_start, encode_requests
from harness.tasks.task import Task, discover_tasks
from harness.types import LoglikelihoodRequest

TOKENIZERS = Path(__file__).resolve().parents[2] / "shared" / "tokenizers"
LIKELIHOOD_TASKS = sorted(n for n, p in discover_tasks().items() if "likelihood" in Task.load(p).spec.modes)


@pytest.fixture(scope="module", params=["qwen3", "deepseek_v3"])
def real_tokenizer(request: pytest.FixtureRequest):
    from harness.models.chat import load_tokenizer

    folder = TOKENIZERS / request.param
    require((folder / "tokenizer.json").is_file(), f"the real tokenizers are not at {TOKENIZERS}")
    return load_tokenizer(str(folder), None, False)  # DeepSeek-V3's as shipped (see test_faithful_tokenizer)


def _proper_prefix(a: list[int], b: list[int]) -> bool:
    return len(a) < len(b) and b[: len(a)] == a


def test_the_likelihood_tasks_are_found() -> None:
    assert {"ceval", "cmmlu", "iflytek", "csldcp", "tnews", "ocnli", "cluewsc"} <= set(LIKELIHOOD_TASKS)


@pytest.mark.parametrize("name", LIKELIHOOD_TASKS)
def test_no_option_is_a_token_prefix_of_another(name: str, real_tokenizer, data_dir: Path) -> None:
    task = Task.load(discover_tasks()[name])
    shots = task.spec.num_fewshot
    pool = task.fewshot_pool(data_dir, shots)
    items = [task.prompt(s, pool, shots, "likelihood") for s in task.plan(data_dir, limit=12, seed=7)]
    items = [p for p in items if not p.sample.is_multi_choice]
    assert items
    chat = [real_tokenizer.apply_chat_template([{"role": "user", "content": p.prompt}], tokenize=False,
                                               add_generation_prompt=True) for p in items]
    requests = [LoglikelihoodRequest(p.prompt, p.continuations) for p in items]
    requests += [LoglikelihoodRequest(c, p.continuations, add_special_tokens=False) for c, p in zip(chat, items)]
    for k, (ctx, wholes) in enumerate(encode_requests(real_tokenizer, requests)):
        conts = [w[continuation_start(ctx, w, k):] for w in wholes]
        for i, a in enumerate(conts):
            for j, b in enumerate(conts):
                assert not _proper_prefix(a, b), (
                    f"{name} item {items[k % len(items)].sample.sample_id}: option {requests[k].continuations[i]!r} "
                    f"{a} is a token prefix of option {requests[k].continuations[j]!r} {b}")


def test_the_old_iflytek_continuation_fails_the_invariant() -> None:
    """The check has teeth: bare numbers as continuations (the old IFLYTEK format) make "1" a prefix of "10" on
    Qwen3, whose pre-tokenizer splits every digit (DeepSeek-V3 keeps "10" as one token)."""
    from transformers import AutoTokenizer

    require((TOKENIZERS / "qwen3" / "tokenizer.json").is_file(), f"the real tokenizers are not at {TOKENIZERS}")
    tok = AutoTokenizer.from_pretrained(TOKENIZERS / "qwen3")
    ctx, wholes = encode_requests(tok, [LoglikelihoodRequest("答案：", ("1", "10"))])[0]
    a, b = (w[continuation_start(ctx, w, 0):] for w in wholes)
    assert _proper_prefix(a, b)


def test_a_task_with_prefix_options_fails_to_load_its_prompts(tmp_path: Path, data_dir: Path) -> None:
    """By construction: a task whose continuations are not prefix-free as text is refused with one line."""
    from harness.errors import HarnessError

    src = discover_tasks()["iflytek"].read_text(encoding="utf-8")
    bad = src.replace('continuation: "{{ label }}\\n"', 'continuation: "{{ label }}"')
    assert bad != src
    (tmp_path / "iflytek.yaml").write_text(bad, encoding="utf-8")
    for side in ("iflytek.classes.yaml", "classify.jinja"):
        (tmp_path / side).write_text((discover_tasks()["iflytek"].parent / side).read_text(encoding="utf-8"), encoding="utf-8")
    task = Task.load(tmp_path / "iflytek.yaml")
    sample = next(iter(task.plan(data_dir, limit=1)))
    with pytest.raises(HarnessError, match=r"field 'continuation': option '1' is a prefix of option '10'"):
        task.prompt(sample, {}, 0, "likelihood")


def test_faithful_tokenizer_reads_deepseek_v3_as_shipped(tmp_path: Path) -> None:
    """transformers 5 rebuilds a folder that says LlamaTokenizerFast (DeepSeek-V3's, its R1 distills of Llama) and
    loses its pre-tokenizer: Chinese text and spaces vanish from the ids. The harness loads the shipped pipeline."""
    import shutil

    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    from harness.models.chat import load_tokenizer

    src = TOKENIZERS / "deepseek_v3"
    require((src / "tokenizer.json").is_file(), f"the real tokenizers are not at {TOKENIZERS}")
    folder = tmp_path / "ds"
    shutil.copytree(src, folder)
    (folder / "config.json").write_text('{"model_type": "llama", "architectures": ["LlamaForCausalLM"]}', encoding="utf-8")
    text = "2024年第3季度营收12345678元，同比增长 40%。"
    shipped = Tokenizer.from_file(str(src / "tokenizer.json")).encode(text, add_special_tokens=False).ids
    broken = AutoTokenizer.from_pretrained(folder)(text, add_special_tokens=False)["input_ids"]
    assert broken != shipped  # the upstream defect this guards against (if fixed upstream, the guard is a no-op)
    tok = load_tokenizer(str(folder), None, False)
    assert tok(text, add_special_tokens=False)["input_ids"] == shipped
    assert tok.bos_token == "<｜begin▁of▁sentence｜>" and tok.chat_template
