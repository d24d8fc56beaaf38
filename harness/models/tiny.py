"""Deterministic tiny random-weight causal LMs, saved as ordinary Hugging Face model folders.

Tests and the quick start need real ``from_pretrained``-loadable checkpoints (config, fp32
safetensors, tokenizer, chat template, generation config) without a model hub. Each folder
mimics one Chinese model family closely enough that the harness's family-specific code paths
(chat templates, stop tokens, GQA, GLM's partial rotary) run for real, just on noise weights.

qwen2, llama and glm4 train a toy byte-level BPE on a built-in corpus. qwen3 and deepseek_v3 instead copy a
real tokenizer (tokenizer.json and tokenizer_config.json with its chat template, e.g. ../shared/tokenizers/qwen3)
into the folder, so prompts are tokenized exactly as for the real model: Qwen3 splits numbers into single digits,
DeepSeek-V3 keeps up to three digits per token, and the special and thinking tokens are the real ones. Their
embedding has one row per token id (about 150,000) and is tied to the output head, so a folder is ~40-50 MB.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import (
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)
from transformers.utils import logging as transformers_logging

if TYPE_CHECKING:  # the installed transformers (5.x), whose classes are checked
    from transformers import Glm4Config, Glm4ForCausalLM
else:
    try:  # GLM-4 proper (transformers >= 4.51); the installed 5.x has it
        from transformers import Glm4Config, Glm4ForCausalLM
    except ImportError:  # pragma: no cover - older transformers: GLM-4-9B's architecture is "Glm"
        from transformers import GlmConfig as Glm4Config
        from transformers import GlmForCausalLM as Glm4ForCausalLM

from harness.models.tiny_corpus import TINY_CORPUS

ARCHS = ("qwen2", "llama", "glm4")  # toy BPE trained on the built-in corpus
REAL_TOKENIZER_ARCHS = ("qwen3", "deepseek_v3")  # a real tokenizer folder is copied in (tokenizer_dir)
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


class TokenizerFolderError(ValueError):
    """The tokenizer folder given for a qwen3 or deepseek_v3 model is missing, unreadable, or of another family."""


# What a real tokenizer folder must hold for each arch, and the stop tokens its chat model ships besides
# tokenizer_config.json's eos_token (Qwen3's generation_config.json: eos_token_id [<|im_end|>, <|endoftext|>]).
_REAL_FAMILIES: dict[str, dict] = {
    "qwen3": {
        "name": "Qwen3",
        "tokens": ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"),
        "extra_stops": ("<|endoftext|>",),
        "base_eos": "<|endoftext|>",  # Qwen3-Base stops at <|endoftext|>
        "rope_theta": 1_000_000.0,
    },
    "deepseek_v3": {
        "name": "DeepSeek-V3",
        "tokens": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"),
        "extra_stops": (),
        "base_eos": None,  # DeepSeek-V3-Base keeps <｜end▁of▁sentence｜>
        "rope_theta": 10_000.0,
    },
}


def _token_content(value: object) -> str | None:
    """A special token as tokenizer_config.json writes it: a string, or an AddedToken dict with "content"."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) and value else None


def _read_real_tokenizer(arch: str, tokenizer_dir: str | Path) -> tuple[Tokenizer, dict]:
    """Load and check a real tokenizer folder for `arch`; raise TokenizerFolderError (one line) when it is unusable."""
    family = _REAL_FAMILIES[arch]
    src = Path(tokenizer_dir)
    if not src.is_dir():
        raise TokenizerFolderError(f"{src} is not a folder")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        if not (src / name).is_file():
            raise TokenizerFolderError(f"{src} has no {name}")
    try:
        raw = Tokenizer.from_file(str(src / "tokenizer.json"))
    except Exception as e:  # the Rust side raises plain Exception subclasses with multi-line messages
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise TokenizerFolderError(f"{src / 'tokenizer.json'} is not a readable tokenizer ({first})") from None
    try:
        config = json.loads((src / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TokenizerFolderError(f"{src / 'tokenizer_config.json'} is not valid JSON ({e})") from None
    if not isinstance(config, dict):
        raise TokenizerFolderError(f"{src / 'tokenizer_config.json'} is not a JSON object")
    for token in family["tokens"]:
        if raw.token_to_id(token) is None:
            raise TokenizerFolderError(f"{src} is not a {family['name']} tokenizer: it has no {token} token")
    for key in ("eos_token", "bos_token", "pad_token"):
        token = _token_content(config.get(key))
        if token is not None and raw.token_to_id(token) is None:
            raise TokenizerFolderError(f"{src / 'tokenizer_config.json'}: {key} {token} is not in tokenizer.json")
    if _token_content(config.get("eos_token")) is None:
        raise TokenizerFolderError(f"{src / 'tokenizer_config.json'} names no eos_token")
    return raw, config


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
    arch: str, vocab: int, hidden: int, layers: int, ids: Mapping[str, int | Sequence[int | None] | None],
    max_positions: int = MAX_POSITIONS,
) -> tuple[type[PreTrainedModel], PretrainedConfig]:
    """A tiny config of the family: head_dim 32 and num_key_value_heads < heads (GQA) when possible.

    qwen3 and deepseek_v3 tie the embedding to the output head: with a real ~150k vocabulary that matrix is
    nearly all of the weights, and tying halves the folder.
    """
    if hidden % HEAD_DIM:
        raise ValueError(f"hidden_size must be a multiple of {HEAD_DIM}, got {hidden}")
    if max_positions < 1:
        raise ValueError(f"max_position_embeddings must be positive, got {max_positions}")
    heads = hidden // HEAD_DIM
    # Any: the values are ids, sizes and a dtype for the families' config keywords, each of its own type.
    common: dict[str, Any] = dict(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=max(1, heads // 2), head_dim=HEAD_DIM,
        max_position_embeddings=max_positions, rms_norm_eps=1e-6, tie_word_embeddings=arch in REAL_TOKENIZER_ARCHS,
        bos_token_id=ids["bos"], eos_token_id=ids["eos"], pad_token_id=ids["pad"],
        torch_dtype=torch.float32,  # transformers 5 saves it as "dtype", 4.x as "torch_dtype"
    )
    if arch in REAL_TOKENIZER_ARCHS:
        rope = {"rope_type": "default", "rope_theta": _REAL_FAMILIES[arch]["rope_theta"]}
        if arch == "qwen3":  # q/k RMSNorm per head is built into Qwen3's attention
            return Qwen3ForCausalLM, Qwen3Config(**common, rope_parameters=rope, max_window_layers=layers)
        # DeepSeek-V3 stand-in: see build_tiny_model's docstring for why this is Llama.
        return LlamaForCausalLM, LlamaConfig(**common, rope_parameters=rope)
    if arch == "qwen2":
        return Qwen2ForCausalLM, Qwen2Config(**common)
    if arch == "llama":
        return LlamaForCausalLM, LlamaConfig(**common)
    # GLM-4: rotary on half of each head, biased qkv projections (as in glm-4-9b-chat-hf).
    # transformers 5 takes partial_rotary_factor through Glm4Config.__post_init__'s **kwargs (it lands in
    # rope_parameters); the dataclass signature its stubs show lacks it.
    return Glm4ForCausalLM, Glm4Config(**common, partial_rotary_factor=0.5, attention_bias=True)  # type: ignore[call-arg]


def build_tiny_model(
    arch: str,
    out_dir: str | Path,
    *,
    seed: int = 0,
    num_layers: int = 2,
    hidden_size: int = 64,
    vocab_size: int = 3000,
    chat: bool = True,
    tokenizer_dir: str | Path | None = None,
    max_position_embeddings: int = MAX_POSITIONS,
) -> Path:
    """Write a tiny random model of `arch` with that family's tokenizer and chat template to out_dir; return the path.

    Same arguments give byte-identical files. The embedding has exactly as many rows as the
    tokenizer has token ids, so every id a model can emit decodes.
    ``chat=False`` gives a base model: no chat template and ``<|endoftext|>`` as the only stop token
    (DeepSeek-V3: ``<｜end▁of▁sentence｜>``, as its base model ships).

    qwen2, llama, glm4: a Chinese byte-level BPE trained on the built-in corpus (at most ``vocab_size``
    tokens); ``tokenizer_dir`` must be None.

    qwen3, deepseek_v3 (``tokenizer_dir`` required, ``vocab_size`` unused): the real tokenizer in
    ``tokenizer_dir`` is copied in and the embedding, tied to the output head, is sized to its largest id
    + 1 (Qwen3: 151,669; DeepSeek-V3: 128,815). config.json and generation_config.json carry the
    tokenizer's bos/eos/pad ids; Qwen3's chat model stops at ``<|im_end|>`` or ``<|endoftext|>``.

    - qwen3 is a real Qwen3ForCausalLM (q/k norm, rope_theta 1e6); tokenizer_config.json is copied as
      shipped (its class, Qwen2Tokenizer, is also what transformers picks for model_type qwen3, so ids
      are unchanged on reload).
    - deepseek_v3 is a LlamaForCausalLM, not DeepSeek-V3's architecture: the real model's MLA attention
      (low-rank compressed KV with decoupled rope), 256-expert MoE with shared experts and multi-token
      prediction would make a far larger, slower and more fragile test model, while everything the
      harness sees from the model family (tokenization, special tokens, chat template, stop ids) lives in
      the tokenizer. tokenizer_config.json's ``tokenizer_class`` is changed from ``LlamaTokenizerFast``
      to ``PreTrainedTokenizerFast``: for a model_type llama folder, transformers 5 otherwise builds a
      SentencePiece-style LlamaTokenizer whose Metaspace pre-tokenizer replaces tokenizer.json's
      byte-level one and drops spaces and Chinese text (for the real model, model_type deepseek_v3 makes
      transformers use tokenizer.json as is, which this reproduces).
    """
    if arch in REAL_TOKENIZER_ARCHS:
        if tokenizer_dir is None:
            raise TokenizerFolderError(f"arch {arch} needs a tokenizer folder (tokenizer.json and tokenizer_config.json)")
        return _build_with_real_tokenizer(arch, Path(out_dir), Path(tokenizer_dir), seed=seed, num_layers=num_layers,
                                          hidden_size=hidden_size, chat=chat, max_positions=max_position_embeddings)
    if tokenizer_dir is not None:
        _family(arch)  # an unknown arch is reported as such
        raise ValueError(f"arch {arch} trains its own toy tokenizer; a tokenizer folder is only used by {', '.join(REAL_TOKENIZER_ARCHS)}")
    fam = _family(arch)
    out = _prepare_folder(Path(out_dir))

    raw = train_tokenizer(arch, vocab_size)
    eos = fam["eos"] if chat else "<|endoftext|>"
    stops = fam["stops"] if chat else ["<|endoftext|>"]
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, eos_token=eos, pad_token="<|endoftext|>", bos_token=fam["bos"],
        add_bos_token=False, add_eos_token=False, clean_up_tokenization_spaces=False,
        model_max_length=max_position_embeddings, chat_template=fam["template"] if chat else None,
    )
    tokenizer.save_pretrained(out, save_jinja_files=False)  # template inside tokenizer_config.json
    _patch_json(out / "tokenizer_config.json", tokenizer_class=fam["tokenizer_class"])

    ids = {
        "bos": raw.token_to_id(fam["bos"]) if fam["bos"] else None,
        "eos": [raw.token_to_id(t) for t in stops],
        "pad": raw.token_to_id("<|endoftext|>"),
    }
    model_cls, config = _model_config(arch, raw.get_vocab_size(), hidden_size, num_layers, ids, max_position_embeddings)
    _save_model(out, model_cls, config, seed, ids)
    return out


def _prepare_folder(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for name in _STALE_FILES:  # a rebuild into an old folder must not pick up e.g. an old template
        (out / name).unlink(missing_ok=True)
    return out


def _save_model(out: Path, model_cls: type[PreTrainedModel], config: PretrainedConfig, seed: int, gen_ids: dict) -> None:
    """Initialise `model_cls` from `seed` (without touching the caller's RNG) and save it as fp32 safetensors."""
    with torch.random.fork_rng(devices=[]):  # seed locally; leave the caller's RNG untouched
        torch.manual_seed(seed)
        # transformers wraps PreTrainedModel.to with functools.wraps, which typeshed does not bind as a method
        model = model_cls(config).to(torch.float32).eval()  # type: ignore[arg-type]
    model.generation_config = GenerationConfig(
        do_sample=False, bos_token_id=gen_ids["bos"], eos_token_id=gen_ids["eos"], pad_token_id=gen_ids["pad"],
    )
    transformers_logging.disable_progress_bar()
    model.save_pretrained(out, safe_serialization=True)


def _build_with_real_tokenizer(
    arch: str, out: Path, tokenizer_dir: Path, *, seed: int, num_layers: int, hidden_size: int, chat: bool,
    max_positions: int,
) -> Path:
    family = _REAL_FAMILIES[arch]
    raw, tok_config = _read_real_tokenizer(arch, tokenizer_dir)
    if chat and not tok_config.get("chat_template"):
        raise TokenizerFolderError(f"{tokenizer_dir / 'tokenizer_config.json'} has no chat_template (a base model, built with --base, needs none)")
    if hidden_size % HEAD_DIM:  # checked before anything is written
        raise ValueError(f"hidden_size must be a multiple of {HEAD_DIM}, got {hidden_size}")
    if max_positions < 1:
        raise ValueError(f"max_position_embeddings must be positive, got {max_positions}")

    updates: dict[str, object] = {}
    if arch == "deepseek_v3":
        updates["tokenizer_class"] = "PreTrainedTokenizerFast"
    if not chat and family["base_eos"]:
        updates["eos_token"] = family["base_eos"]
    out = _prepare_folder(out)
    shutil.copyfile(tokenizer_dir / "tokenizer.json", out / "tokenizer.json")
    if updates or (not chat and "chat_template" in tok_config):
        patched = {k: v for k, v in tok_config.items() if chat or k != "chat_template"}  # shipped key order kept
        patched.update(updates)
        text = json.dumps(patched, indent=2, ensure_ascii=False) + "\n"
        (out / "tokenizer_config.json").write_text(text, encoding="utf-8")
    else:
        shutil.copyfile(tokenizer_dir / "tokenizer_config.json", out / "tokenizer_config.json")
    tok_config.update(updates)

    def token_id(key: str) -> int | None:
        token = _token_content(tok_config.get(key))
        return None if token is None else raw.token_to_id(token)

    eos = token_id("eos_token")
    stops = [eos] + [raw.token_to_id(t) for t in (family["extra_stops"] if chat else ()) if raw.token_to_id(t) != eos]
    ids = {"bos": token_id("bos_token"), "eos": eos, "pad": token_id("pad_token")}
    # generation_config.json as the real models ship it: Qwen3 a list of stop ids, DeepSeek-V3 a single id.
    gen_ids = {**ids, "eos": stops if len(stops) > 1 else eos}
    vocab = max(raw.get_vocab(with_added_tokens=True).values()) + 1
    model_cls, config = _model_config(arch, vocab, hidden_size, num_layers, ids, max_positions)
    _save_model(out, model_cls, config, seed, gen_ids)
    return out
