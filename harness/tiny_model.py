"""Deterministic tiny random-weight causal LMs, saved as ordinary Hugging Face model folders.

Tests and the quick start need real ``from_pretrained``-loadable checkpoints (config, fp32
safetensors, tokenizer, chat template, generation config) without a model hub. Each folder
mimics one Chinese model family closely enough that the harness's family-specific code paths
(chat templates, stop tokens, GQA, GLM's partial rotary) run for real, just on noise weights.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import GenerationConfig, PretrainedConfig, PreTrainedModel, PreTrainedTokenizerFast
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM
from transformers.utils import logging as transformers_logging

try:  # GLM-4 proper (transformers >= 4.51); the installed 5.x has it
    from transformers import Glm4Config, Glm4ForCausalLM
except ImportError:  # pragma: no cover - older transformers: GLM-4-9B's architecture is "Glm"
    from transformers import GlmConfig as Glm4Config, GlmForCausalLM as Glm4ForCausalLM

from harness.tiny_corpus import TINY_CORPUS

ARCHS = ("qwen2", "llama", "glm4")
HEAD_DIM = 32  # vLLM's CPU attention kernels need head_dim >= 32
MAX_POSITIONS = 4096
_STALE_FILES = (
    "chat_template.jinja", "special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt",
    "tokenizer.model", "model.safetensors.index.json", "pytorch_model.bin",
)

# Qwen2's pre-tokenizer regex. transformers rebuilds exactly this pipeline (NFC + Split + ByteLevel)
# for any folder whose config says qwen2, so every arch uses it to keep ids identical on reload.
QWEN2_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# Special tokens in the families' own order; they get the lowest ids (0, 1, ...).
SPECIAL_TOKENS: dict[str, tuple[str, ...]] = {
    "qwen2": ("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
    "llama": ("<|endoftext|>", "<|startoftext|>", "<|im_start|>", "<|im_end|>"),  # Yi-1.5 names
    "glm4": (
        "<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>",
        "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>",
    ),
}

# Qwen2.5-Instruct's template minus the tool-calling branches: default system prompt when none is given.
QWEN2_CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message['role'] != 'system' or not loop.first %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

# Yi-1.5-Chat's template, verbatim in behaviour: a system message is emitted raw (no ChatML wrapper),
# no default system prompt, and every user turn already opens the assistant turn.
YI_CHAT_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set system_message = messages[0]['content'] %}{% endif %}"
    "{% if system_message is defined %}{{ system_message }}{% endif %}"
    "{% for message in messages %}{% set content = message['content'] %}"
    "{% if message['role'] == 'user' %}{{ '<|im_start|>user\\n' + content + '<|im_end|>\\n<|im_start|>assistant\\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ content + '<|im_end|>' + '\\n' }}{% endif %}{% endfor %}"
)

# GLM-4-9B-Chat (HF format) without tools: "[gMASK]<sop>" once, then "<|role|>\n{content}" per turn,
# and a bare "<|assistant|>" as the generation prompt.
GLM4_CHAT_TEMPLATE = (
    "[gMASK]<sop>"
    "{% for message in messages %}"
    "{% if message['role'] in ('system', 'user', 'assistant', 'observation') %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def _family(arch: str) -> dict:
    """Per-family settings: tokenizer eos, generation stop tokens, bos, chat template, tokenizer class.

    The tokenizer classes are the ones the real checkpoints name; they are also understood by
    transformers 4.x (which does not know transformers 5's default ``TokenizersBackend``).
    """
    if arch == "qwen2":
        return {"eos": "<|im_end|>", "stops": ["<|im_end|>", "<|endoftext|>"], "bos": None,
                "template": QWEN2_CHAT_TEMPLATE, "tokenizer_class": "Qwen2Tokenizer"}
    if arch == "llama":
        return {"eos": "<|im_end|>", "stops": ["<|im_end|>", "<|endoftext|>"], "bos": "<|startoftext|>",
                "template": YI_CHAT_TEMPLATE, "tokenizer_class": "PreTrainedTokenizerFast"}
    if arch == "glm4":
        return {"eos": "<|endoftext|>", "stops": ["<|endoftext|>", "<|user|>", "<|observation|>"], "bos": None,
                "template": GLM4_CHAT_TEMPLATE, "tokenizer_class": "PreTrainedTokenizerFast"}
    raise ValueError(f"unknown arch {arch!r}; expected one of {ARCHS}")


def _patch_json(path: Path, **updates: object) -> None:
    """Rewrite a saved JSON file with `updates`, keeping transformers' stable key order and format."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(updates)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def _training_texts() -> list[str]:
    """Corpus lines, with answer labels cut off ``答案：`` so BPE never learns a ``：A`` merge.

    That keeps ``tok("答案：" + label) == tok("答案：") + tok(label)``, which answer scoring relies on.
    """
    texts: list[str] = []
    for line in TINY_CORPUS.splitlines(keepends=True):
        texts.extend(re.split(r"(?<=[：:])(?=\s*[A-D]\s*$)", line))
    return texts


def train_tokenizer(arch: str, vocab_size: int = 3000) -> Tokenizer:
    """Train the byte-level BPE for `arch` on the built-in corpus (deterministic, ~10 ms).

    ``vocab_size`` is an upper bound: merges stop when no pair occurs twice, which for the
    built-in corpus happens well below 3000 tokens.
    """
    _family(arch)  # validates arch
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, show_progress=False,
        special_tokens=list(SPECIAL_TOKENS[arch]), initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_training_texts(), trainer=trainer)
    if tok.get_vocab_size() > vocab_size:
        raise ValueError(f"vocab_size={vocab_size} is below the byte alphabet plus special tokens")
    return tok


def _model_config(
    arch: str, vocab: int, hidden: int, layers: int, ids: dict[str, int | list[int] | None]
) -> tuple[type[PreTrainedModel], PretrainedConfig]:
    """A tiny config of the family: head_dim 32 and num_key_value_heads < heads (GQA) when possible."""
    if hidden % HEAD_DIM:
        raise ValueError(f"hidden_size must be a multiple of {HEAD_DIM}, got {hidden}")
    heads = hidden // HEAD_DIM
    common = dict(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=max(1, heads // 2), head_dim=HEAD_DIM,
        max_position_embeddings=MAX_POSITIONS, rms_norm_eps=1e-6, tie_word_embeddings=False,
        bos_token_id=ids["bos"], eos_token_id=ids["eos"], pad_token_id=ids["pad"],
        torch_dtype=torch.float32,  # transformers 5 saves it as "dtype", 4.x as "torch_dtype"
    )
    if arch == "qwen2":
        return Qwen2ForCausalLM, Qwen2Config(**common)
    if arch == "llama":
        return LlamaForCausalLM, LlamaConfig(**common)
    # GLM-4: rotary on half of each head, biased qkv projections (as in glm-4-9b-chat-hf).
    return Glm4ForCausalLM, Glm4Config(**common, partial_rotary_factor=0.5, attention_bias=True)


def build_tiny_model(
    arch: str,
    out_dir: str | Path,
    *,
    seed: int = 0,
    num_layers: int = 2,
    hidden_size: int = 64,
    vocab_size: int = 3000,
    chat: bool = True,
) -> Path:
    """Write a tiny random model of `arch` with a Chinese byte-level BPE tokenizer and that family's chat template to out_dir; return the path.

    Same arguments give byte-identical files. The embedding has exactly as many rows as the
    tokenizer has tokens (at most ``vocab_size``), so every id a model can emit decodes.
    ``chat=False`` gives a base model: no chat template and ``<|endoftext|>`` as the only stop token.
    """
    fam = _family(arch)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in _STALE_FILES:  # a rebuild into an old folder must not pick up e.g. an old template
        (out / name).unlink(missing_ok=True)

    raw = train_tokenizer(arch, vocab_size)
    eos = fam["eos"] if chat else "<|endoftext|>"
    stops = fam["stops"] if chat else ["<|endoftext|>"]
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, eos_token=eos, pad_token="<|endoftext|>", bos_token=fam["bos"],
        add_bos_token=False, add_eos_token=False, clean_up_tokenization_spaces=False,
        model_max_length=MAX_POSITIONS, chat_template=fam["template"] if chat else None,
    )
    tokenizer.save_pretrained(out, save_jinja_files=False)  # template inside tokenizer_config.json
    _patch_json(out / "tokenizer_config.json", tokenizer_class=fam["tokenizer_class"])

    ids = {
        "bos": raw.token_to_id(fam["bos"]) if fam["bos"] else None,
        "eos": [raw.token_to_id(t) for t in stops],
        "pad": raw.token_to_id("<|endoftext|>"),
    }
    model_cls, config = _model_config(arch, raw.get_vocab_size(), hidden_size, num_layers, ids)
    with torch.random.fork_rng(devices=[]):  # seed locally; leave the caller's RNG untouched
        torch.manual_seed(seed)
        model = model_cls(config).to(torch.float32).eval()
    model.generation_config = GenerationConfig(
        do_sample=False, bos_token_id=ids["bos"], eos_token_id=ids["eos"], pad_token_id=ids["pad"],
    )
    transformers_logging.disable_progress_bar()
    model.save_pretrained(out, safe_serialization=True)
    return out
