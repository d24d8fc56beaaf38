"""Tiny random models: loadable by transformers, deterministic, and faithful to each family's tokens."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from harness.models.tiny import ARCHS, build_tiny_model, train_tokenizer

EXAM = "以下是中国关于会计考试的单项选择题\nA. 甲\n答案：A"
TEXTS = [
    EXAM,
    "中国的首都是北京。",
    "已知函数 f(x) = 2x + 3，则 f(5) 的值为（　）。",
    "Please answer with A, B, C or D only. 今天天气很好！",
    "生僻字：龘靐齉爩，emoji 🙂，全角ＡＢＣ，数字 12345。",
]
USER_HELLO = [{"role": "user", "content": "你好"}]
EXPECTED_PROMPT = {
    "qwen2": "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n",
    "llama": "<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n",
    "glm4": "[gMASK]<sop><|user|>\n你好<|assistant|>",
}
EXPECTED_STOPS = {
    "qwen2": ["<|im_end|>", "<|endoftext|>"],
    "llama": ["<|im_end|>", "<|endoftext|>"],
    "glm4": ["<|endoftext|>", "<|user|>", "<|observation|>"],
}
EXPECTED_CLASS = {"qwen2": "Qwen2ForCausalLM", "llama": "LlamaForCausalLM", "glm4": "Glm4ForCausalLM"}


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {arch: build_tiny_model(arch, root / arch) for arch in ARCHS}


@pytest.fixture(scope="session")
def loaded(built: dict[str, Path]) -> dict[str, tuple]:
    return {
        arch: (AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path).eval())
        for arch, path in built.items()
    }


@pytest.mark.parametrize("arch", ARCHS)
def test_folder_and_config(built: dict[str, Path], loaded: dict[str, tuple], arch: str) -> None:
    path = built[arch]
    names = {p.name for p in path.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    cfg = AutoConfig.from_pretrained(path)
    assert cfg.architectures == [EXPECTED_CLASS[arch]]
    assert json.loads((path / "config.json").read_text())["dtype"] == "float32"
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    assert head_dim >= 32
    assert cfg.num_key_value_heads < cfg.num_attention_heads  # GQA exercised
    assert cfg.max_position_embeddings >= 2048
    tok, model = loaded[arch]
    assert type(model).__name__ == EXPECTED_CLASS[arch]
    assert model.dtype == torch.float32
    assert cfg.vocab_size == len(tok) <= 3000  # every id the model can emit decodes


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_and_greedy_generate(loaded: dict[str, tuple], arch: str) -> None:
    tok, model = loaded[arch]
    enc = tok(EXAM, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits
    assert logits.shape == (1, enc["input_ids"].shape[1], model.config.vocab_size)
    assert torch.isfinite(logits).all()
    runs = [
        model.generate(**enc, max_new_tokens=5, min_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
        for _ in range(2)
    ]
    assert runs[0].shape == (1, enc["input_ids"].shape[1] + 5)
    assert torch.equal(runs[0], runs[1])
    assert isinstance(tok.decode(runs[0][0, -5:]), str)


@pytest.mark.parametrize("arch", ARCHS)
def test_build_is_byte_identical(built: dict[str, Path], tmp_path: Path, arch: str) -> None:
    again = build_tiny_model(arch, tmp_path / "again")
    assert _hashes(again) == _hashes(built[arch])
    other = _hashes(build_tiny_model(arch, tmp_path / "seed1", seed=1))
    assert other["model.safetensors"] != _hashes(again)["model.safetensors"]
    assert other["tokenizer.json"] == _hashes(again)["tokenizer.json"]


@pytest.mark.parametrize("arch", ARCHS)
def test_tokenizer_ids_match_raw_bpe(loaded: dict[str, tuple], arch: str) -> None:
    tok, _ = loaded[arch]
    raw = train_tokenizer(arch)
    for text in TEXTS:
        ids = tok(text)["input_ids"]
        assert ids == raw.encode(text).ids, text
        assert tok.decode(ids) == text
    assert len(tok(EXAM)["input_ids"]) < len(EXAM.encode())  # Chinese merges were learned
    assert tok.bos_token_id is None or tok(EXAM)["input_ids"][0] != tok.bos_token_id  # no BOS added


@pytest.mark.parametrize("arch", ARCHS)
def test_answer_labels_are_single_tokens(loaded: dict[str, tuple], arch: str) -> None:
    tok, _ = loaded[arch]
    prompt_ids = tok("答案：")["input_ids"]
    for label in "ABCD":
        label_ids = tok(label)["input_ids"]
        assert len(label_ids) == 1
        assert tok.convert_ids_to_tokens(label_ids) == [label]
        assert tok("答案：" + label)["input_ids"] == prompt_ids + label_ids  # no "：A" merge


@pytest.mark.parametrize("arch", ARCHS)
def test_special_tokens_and_generation_config(built: dict[str, Path], loaded: dict[str, tuple], arch: str) -> None:
    tok, model = loaded[arch]
    assert tok.pad_token == "<|endoftext|>"
    assert tok.eos_token == EXPECTED_STOPS[arch][0]
    gen = json.loads((built[arch] / "generation_config.json").read_text())
    assert gen["do_sample"] is False
    assert gen["eos_token_id"] == tok.convert_tokens_to_ids(EXPECTED_STOPS[arch])
    assert gen["pad_token_id"] == tok.pad_token_id
    for special in tok.all_special_tokens:
        assert len(tok(special)["input_ids"]) == 1


@pytest.mark.parametrize("arch", ARCHS)
def test_chat_template(loaded: dict[str, tuple], arch: str) -> None:
    tok, _ = loaded[arch]
    text = tok.apply_chat_template(USER_HELLO, tokenize=False, add_generation_prompt=True)
    assert text == EXPECTED_PROMPT[arch]
    encoded = tok.apply_chat_template(USER_HELLO, tokenize=True, add_generation_prompt=True)
    ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded  # a dict in transformers 5
    assert list(ids) == tok(text, add_special_tokens=False)["input_ids"]


def test_chat_template_with_system_and_history(loaded: dict[str, tuple]) -> None:
    msgs = [
        {"role": "system", "content": "你是助手。"},
        {"role": "user", "content": "1+1=?"},
        {"role": "assistant", "content": "2"},
        {"role": "user", "content": "再加1呢？"},
    ]
    render = {a: loaded[a][0].apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) for a in ARCHS}
    assert render["qwen2"] == (
        "<|im_start|>system\n你是助手。<|im_end|>\n<|im_start|>user\n1+1=?<|im_end|>\n"
        "<|im_start|>assistant\n2<|im_end|>\n<|im_start|>user\n再加1呢？<|im_end|>\n<|im_start|>assistant\n"
    )
    assert render["llama"] == (  # Yi-1.5 emits the system prompt raw
        "你是助手。<|im_start|>user\n1+1=?<|im_end|>\n<|im_start|>assistant\n2<|im_end|>\n"
        "<|im_start|>user\n再加1呢？<|im_end|>\n<|im_start|>assistant\n"
    )
    assert render["glm4"] == (
        "[gMASK]<sop><|system|>\n你是助手。<|user|>\n1+1=?<|assistant|>\n2<|user|>\n再加1呢？<|assistant|>"
    )


def test_base_model_has_no_chat_template(tmp_path: Path) -> None:
    path = build_tiny_model("qwen2", tmp_path / "base", chat=False)
    tok = AutoTokenizer.from_pretrained(path)
    assert tok.chat_template is None
    assert tok.eos_token == "<|endoftext|>"
    assert json.loads((path / "generation_config.json").read_text())["eos_token_id"] == [tok.eos_token_id]


def test_sizes_and_errors(tmp_path: Path) -> None:
    path = build_tiny_model("llama", tmp_path / "wide", hidden_size=128, num_layers=1, vocab_size=500)
    cfg = AutoConfig.from_pretrained(path)
    assert (cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.num_hidden_layers) == (128, 4, 2, 1)
    assert cfg.vocab_size == 500
    with pytest.raises(ValueError):
        build_tiny_model("gpt2", tmp_path / "bad")
    with pytest.raises(ValueError):
        build_tiny_model("qwen2", tmp_path / "bad", hidden_size=48)
    with pytest.raises(ValueError):
        build_tiny_model("qwen2", tmp_path / "bad", vocab_size=100)


def test_caller_rng_untouched(tmp_path: Path) -> None:
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    build_tiny_model("glm4", tmp_path / "rng", seed=7)
    assert torch.equal(torch.rand(3), expected)
