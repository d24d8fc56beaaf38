"""Tiny random models with the REAL Qwen3 and DeepSeek-V3 tokenizers (../shared/tokenizers): built by the CLI,
loadable by transformers, tied and small, deterministic, and token-for-token and template-for-template identical
to the shipped tokenizer files, then evaluated end to end on slices of the real C-Eval and GSM8K-zh."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from tokenizers import Tokenizer
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from harness.cli import main
from harness.models.tiny import REAL_TOKENIZER_ARCHS, TokenizerFolderError, build_tiny_model
from harness.results.files import read_samples

ARCHS = list(REAL_TOKENIZER_ARCHS)
EXPECTED_CLASS = {"qwen3": "Qwen3ForCausalLM", "deepseek_v3": "LlamaForCausalLM"}
# Chinese with digits, punctuation, full-width forms, English words and an answer label: the places where the
# two families' pre-tokenizers differ (Qwen3: one digit per token; DeepSeek-V3: up to three).
TEXTS = [
    "2024年第3季度营收12345678元，同比增长15.6%。",
    "以下是中国关于会计考试的单项选择题，请选出其中的正确答案。\nA. 100\nB. 2500\n答案：A",
    "已知函数 f(x) = 2x + 3，则 f(5) 的值为（　）。答案是：13",
    "生僻字：龘靐齉爩，全角数字１２３４５，emoji 🙂，Please answer with A, B, C or D only.",
    "  缩进的代码:\n\tfor i in range(1000000):\n        print(i)\n\n",
]
MESSAGES = [
    {"role": "system", "content": "你是一个乐于助人的助手。"},
    {"role": "user", "content": "小明有12个苹果，吃了3个，还剩几个？"},
    {"role": "assistant", "content": "<think>\n12-3=9\n</think>\n\n还剩9个。"},
    {"role": "user", "content": "再买25个呢？"},
]


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _ids(encoded: object) -> list[int]:
    """apply_chat_template(tokenize=True) gives a dict (BatchEncoding) in transformers 5, a list in 4.x."""
    ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
    return list(ids)


@pytest.fixture(scope="module")
def built(tiny_qwen3: Path, tiny_deepseek_v3: Path) -> dict[str, Path]:
    return {"qwen3": tiny_qwen3, "deepseek_v3": tiny_deepseek_v3}


@pytest.fixture(scope="module")
def reference(real_tokenizers: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The tokenizer the real checkpoint gets from AutoTokenizer.

    Qwen3: the shared folder itself. DeepSeek-V3: the shared files beside a config.json saying model_type
    deepseek_v3, as in the real checkpoint. (The shared folder alone, with no config.json, is loaded by
    transformers 5 as a SentencePiece-style LlamaTokenizer, from tokenizer_config.json's LlamaTokenizerFast,
    whose Metaspace pre-tokenizer replaces the byte-level one and drops spaces and Chinese characters:
    github.com/huggingface/transformers/issues/45488. That is not what the real model gets.)"""
    qwen3 = AutoTokenizer.from_pretrained(real_tokenizers["qwen3"])
    stub = tmp_path_factory.mktemp("deepseek-v3-reference")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        os.symlink(real_tokenizers["deepseek_v3"] / name, stub / name)
    (stub / "config.json").write_text(json.dumps({"model_type": "deepseek_v3", "transformers_version": "5.0.0"}))
    return {"qwen3": qwen3, "deepseek_v3": AutoTokenizer.from_pretrained(stub)}


@pytest.fixture(scope="module")
def loaded(built: dict[str, Path]) -> dict[str, tuple]:
    return {
        arch: (AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path).eval())
        for arch, path in built.items()
    }


@pytest.mark.parametrize("arch", ARCHS)
def test_cli_build_is_byte_identical_to_the_fixture(built: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture, arch: str, real_tokenizers: dict[str, Path]) -> None:
    out = tmp_path / f"cli-{arch}"
    assert main(["tiny-model", "--arch", arch, "--tokenizer", str(real_tokenizers[arch]), "-o", str(out)]) == 0
    assert f"wrote a tiny {arch} model to {out}" in capsys.readouterr().out
    assert _hashes(out) == _hashes(built[arch])  # same seed (0): byte-identical, weights included


@pytest.mark.parametrize("arch", ARCHS)
def test_other_seed_changes_only_the_weights(built: dict[str, Path], tmp_path: Path, arch: str, real_tokenizers: dict[str, Path]) -> None:
    other = _hashes(build_tiny_model(arch, tmp_path / "seed1", seed=1, tokenizer_dir=real_tokenizers[arch]))
    same = _hashes(built[arch])
    assert other["model.safetensors"] != same["model.safetensors"]
    assert {k: v for k, v in other.items() if k != "model.safetensors"} == {k: v for k, v in same.items() if k != "model.safetensors"}


@pytest.mark.parametrize("arch", ARCHS)
def test_tokenizer_files_come_from_the_shared_folder(built: dict[str, Path], arch: str, real_tokenizers: dict[str, Path]) -> None:
    shared = real_tokenizers[arch]
    assert (built[arch] / "tokenizer.json").read_bytes() == (shared / "tokenizer.json").read_bytes()
    ours = json.loads((built[arch] / "tokenizer_config.json").read_text(encoding="utf-8"))
    theirs = json.loads((shared / "tokenizer_config.json").read_text(encoding="utf-8"))
    if arch == "qwen3":
        assert (built[arch] / "tokenizer_config.json").read_bytes() == (shared / "tokenizer_config.json").read_bytes()
    else:  # only the class changes, so transformers 5 keeps tokenizer.json's byte-level pipeline
        assert ours.pop("tokenizer_class") == "PreTrainedTokenizerFast"
        assert theirs.pop("tokenizer_class") == "LlamaTokenizerFast"
        assert ours == theirs


@pytest.mark.parametrize("arch", ARCHS)
def test_config_tied_sized_and_ids_match_the_tokenizer(built: dict[str, Path], loaded: dict[str, tuple], arch: str) -> None:
    path = built[arch]
    tok, model = loaded[arch]
    cfg = AutoConfig.from_pretrained(path)
    raw = Tokenizer.from_file(str(path / "tokenizer.json"))
    largest = max(raw.get_vocab(with_added_tokens=True).values())
    assert cfg.architectures == [EXPECTED_CLASS[arch]] and type(model).__name__ == EXPECTED_CLASS[arch]
    assert cfg.vocab_size == largest + 1 == len(tok)  # every id, added special tokens included, has a row
    assert largest > (151_000 if arch == "qwen3" else 128_000)
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.head_dim, cfg.max_position_embeddings) == (64, 2, 32, 4096)
    assert cfg.num_key_value_heads < cfg.num_attention_heads
    assert cfg.tie_word_embeddings is True
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    with safe_open(str(path / "model.safetensors"), "pt") as f:
        assert not [k for k in f.keys() if k.startswith("lm_head")]
        assert f.get_slice("model.embed_tokens.weight").get_shape() == [largest + 1, 64]
    config = json.loads((path / "config.json").read_text())
    gen = json.loads((path / "generation_config.json").read_text())
    assert config["dtype"] == "float32" and gen["do_sample"] is False
    assert config["eos_token_id"] == tok.eos_token_id and config["pad_token_id"] == tok.pad_token_id
    assert config["bos_token_id"] == tok.bos_token_id and gen.get("bos_token_id") == tok.bos_token_id
    assert gen["pad_token_id"] == tok.pad_token_id
    if arch == "qwen3":
        assert (tok.eos_token, tok.pad_token, tok.bos_token) == ("<|im_end|>", "<|endoftext|>", None)
        assert gen["eos_token_id"] == tok.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"]) == [151645, 151643]
        assert config["rope_parameters"]["rope_theta"] == 1_000_000
    else:
        assert (tok.bos_token, tok.eos_token, tok.pad_token) == ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜end▁of▁sentence｜>")
        assert (config["bos_token_id"], gen["eos_token_id"]) == (0, 1)  # as DeepSeek-V3's generation_config.json


@pytest.mark.parametrize("arch", ARCHS)
def test_folder_is_small(built: dict[str, Path], arch: str) -> None:
    weights = (built[arch] / "model.safetensors").stat().st_size
    total = sum(p.stat().st_size for p in built[arch].iterdir())
    assert weights < 45_000_000  # an untied head would double the ~39 MB (Qwen3) / ~33 MB (DeepSeek-V3) embedding
    assert total < 60_000_000


@pytest.mark.parametrize("arch", ARCHS)
def test_ids_identical_to_the_shipped_tokenizer(loaded: dict[str, tuple], reference: dict[str, object], built: dict[str, Path], arch: str, real_tokenizers: dict[str, Path]) -> None:
    tok, _ = loaded[arch]
    ref = reference[arch]
    raw = Tokenizer.from_file(str(real_tokenizers[arch] / "tokenizer.json"))  # the shipped pipeline itself
    for text in TEXTS:
        ids = tok(text)["input_ids"]
        assert ids == ref(text)["input_ids"] == raw.encode(text).ids, text
        assert tok.decode(ids) == text
    for special in ("<|im_start|>", "<|im_end|>", "<think>") if arch == "qwen3" else ("<｜User｜>", "<｜Assistant｜>", "<｜end▁of▁sentence｜>"):
        assert tok(special)["input_ids"] == ref(special)["input_ids"] == [raw.token_to_id(special)]
    digits = tok.convert_ids_to_tokens(tok("营收12345678元")["input_ids"])
    if arch == "qwen3":
        assert digits[1:9] == list("12345678")  # one digit per token
    else:
        assert digits[1:4] == ["123", "456", "78"]  # up to three digits per token


@pytest.mark.parametrize("thinking", [True, False])
def test_qwen3_chat_template_identical(loaded: dict[str, tuple], reference: dict[str, object], thinking: bool) -> None:
    tok, _ = loaded["qwen3"]
    ref = reference["qwen3"]
    assert tok.chat_template == ref.chat_template
    for messages in (MESSAGES[1:2], MESSAGES):
        kw = dict(add_generation_prompt=True, enable_thinking=thinking)
        text = tok.apply_chat_template(messages, tokenize=False, **kw)
        assert text == ref.apply_chat_template(messages, tokenize=False, **kw)
        assert _ids(tok.apply_chat_template(messages, tokenize=True, **kw)) == _ids(ref.apply_chat_template(messages, tokenize=True, **kw))
        assert _ids(tok.apply_chat_template(messages, tokenize=True, **kw)) == tok(text, add_special_tokens=False)["input_ids"]
        assert text.endswith("<|im_start|>assistant\n" if thinking else "<|im_start|>assistant\n<think>\n\n</think>\n\n")
    history = tok.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True, enable_thinking=thinking)
    assert "<|im_start|>assistant\n还剩9个。<|im_end|>" in history  # earlier reasoning is dropped, as Qwen3 does


def test_deepseek_v3_chat_template_identical(loaded: dict[str, tuple], reference: dict[str, object], real_tokenizers: dict[str, Path]) -> None:
    tok, _ = loaded["deepseek_v3"]
    ref = reference["deepseek_v3"]
    shipped = AutoTokenizer.from_pretrained(real_tokenizers["deepseek_v3"])  # the text does not depend on the pre-tokenizer
    assert tok.chat_template == ref.chat_template == shipped.chat_template
    for messages in (MESSAGES[1:2], MESSAGES):
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert text == ref.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert text == shipped.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = _ids(tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=True))
        assert ids == _ids(ref.apply_chat_template(messages, tokenize=True, add_generation_prompt=True))
        assert ids == tok(text, add_special_tokens=False)["input_ids"]
        assert text.startswith("<｜begin▁of▁sentence｜>") and text.endswith("<｜Assistant｜>")
        assert ids[0] == 0 and ids.count(0) == 1  # exactly one BOS: the template's


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_and_greedy_generate(loaded: dict[str, tuple], arch: str) -> None:
    tok, model = loaded[arch]
    prompt = tok.apply_chat_template(MESSAGES[1:2], tokenize=False, add_generation_prompt=True)
    enc = tok(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        logits = model(**enc).logits
    assert logits.shape == (1, enc["input_ids"].shape[1], model.config.vocab_size)
    assert torch.isfinite(logits).all()
    runs = [model.generate(**enc, max_new_tokens=4, min_new_tokens=4, do_sample=False, pad_token_id=tok.pad_token_id)
            for _ in range(2)]
    assert runs[0].shape == (1, enc["input_ids"].shape[1] + 4) and torch.equal(runs[0], runs[1])
    assert isinstance(tok.decode(runs[0][0, -4:]), str)


def test_base_and_context_length_options(tmp_path: Path, real_tokenizers: dict[str, Path]) -> None:
    path = build_tiny_model("qwen3", tmp_path / "base", chat=False, max_position_embeddings=2048,
                            tokenizer_dir=real_tokenizers["qwen3"])
    tok = AutoTokenizer.from_pretrained(path)
    assert tok.chat_template is None and tok.eos_token == "<|endoftext|>"
    assert json.loads((path / "generation_config.json").read_text())["eos_token_id"] == 151643
    assert json.loads((path / "config.json").read_text())["max_position_embeddings"] == 2048
    assert tok(TEXTS[0])["input_ids"] == Tokenizer.from_file(str(path / "tokenizer.json")).encode(TEXTS[0]).ids


def _one_line_error(capsys: pytest.CaptureFixture, argv: list[str], *needles: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.splitlines()) == 1 and err.startswith("error:"), err
    for needle in needles:
        assert needle in err, (needle, err)


def test_tokenizer_folder_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, real_tokenizers: dict[str, Path]) -> None:
    out = str(tmp_path / "out")
    _one_line_error(capsys, ["tiny-model", "--arch", "qwen3", "-o", out], "--tokenizer", "../shared/tokenizers/qwen3")
    _one_line_error(capsys, ["tiny-model", "--arch", "deepseek_v3", "--tokenizer", str(tmp_path / "nope"), "-o", out],
                    "--tokenizer", "is not a folder", "../shared/tokenizers/deepseek_v3")
    _one_line_error(capsys, ["tiny-model", "--arch", "qwen3", "--tokenizer", str(real_tokenizers["deepseek_v3"]), "-o", out],
                    "--tokenizer", "not a Qwen3 tokenizer")
    _one_line_error(capsys, ["tiny-model", "--arch", "deepseek_v3", "--tokenizer", str(real_tokenizers["qwen3"]), "-o", out],
                    "--tokenizer", "not a DeepSeek-V3 tokenizer")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "tokenizer_config.json").write_text("{}")
    _one_line_error(capsys, ["tiny-model", "--arch", "qwen3", "--tokenizer", str(tmp_path / "half"), "-o", out],
                    "--tokenizer", "has no tokenizer.json")
    (tmp_path / "half" / "tokenizer.json").write_text("{not json")
    _one_line_error(capsys, ["tiny-model", "--arch", "qwen3", "--tokenizer", str(tmp_path / "half"), "-o", out],
                    "--tokenizer", "not a readable tokenizer")
    _one_line_error(capsys, ["tiny-model", "--arch", "qwen2", "--tokenizer", str(real_tokenizers["qwen3"]), "-o", out],
                    "--tokenizer is only for --arch qwen3 or deepseek_v3")
    assert not Path(out).exists()  # nothing written on any error
    with pytest.raises(TokenizerFolderError):
        build_tiny_model("qwen3", tmp_path / "lib")


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_eval_end_to_end(built: dict[str, Path], reference: dict[str, object], data_dir: Path, tmp_path: Path, arch: str) -> None:
    """`harness eval` on the tiny model with its real chat template: C-Eval (likelihood) and GSM8K-zh (generate)."""
    out = tmp_path / "results"
    args = ["eval", "--model", str(built[arch]), "--tasks", "ceval,gsm8k_zh", "--data-dir", str(data_dir), "--limit", "3",
            "--max-new-tokens", "8", "--chat-template", "on", "--thinking", "off", "--output-dir", str(out), "--no-progress"]
    assert main(args) == 0
    (results_file,) = out.rglob("*.json")
    results = json.loads(results_file.read_text(encoding="utf-8"))
    model = results["model"]
    assert model["architecture"] == EXPECTED_CLASS[arch] and model["chat_template_applied"] is True
    assert model["chat_template_hash"] == hashlib.sha256(reference[arch].chat_template.encode()).hexdigest()[:16]
    assert results["tasks"]["ceval"]["n_samples"] == 3 and results["tasks"]["ceval"]["mode"] == "likelihood"
    assert results["tasks"]["gsm8k_zh"]["n_samples"] == 3 and results["tasks"]["gsm8k_zh"]["mode"] == "generate"
    # thinking off: Qwen3's template closes an empty think block after the assistant tag (C-Eval stays likelihood)
    assert results["model"]["thinking"]["enabled"] is False
    head, tail = (("<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n") if arch == "qwen3"
                  else ("<｜begin▁of▁sentence｜><｜User｜>", "<｜Assistant｜>"))
    samples = read_samples(results_file.parent / results["samples_file"])
    assert len(samples) == 6
    for s in samples:
        assert s["prompt"].startswith(head) and s["prompt"].endswith(tail), s["prompt"]
        if s["task"] == "ceval":
            assert set(s["logprobs"]) == {"A", "B", "C", "D"} and s["prediction"] in "ABCD"
        else:
            assert isinstance(s["output"], str)
