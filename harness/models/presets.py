"""Resolve `--model` to something loadable, and say exactly which weights were evaluated.

A value is a preset name (configs/models/<name>.yaml), a local model folder, or a hub id. The remote-code
decision is made here, before any model code could run: a model whose config maps to custom classes loads
only with --trust-remote-code.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness import hub
from harness.errors import HarnessError, did_you_mean
from harness.resources import bundled

PRESETS_DIR = bundled("configs") / "models"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
_FULL_HASH_LIMIT = 2 << 30  # weight folders up to 2 GiB are hashed whole; larger ones are sampled


class PresetGeneration(BaseModel):
    """A preset's `generation:` block: what this model needs in generate mode, whatever the task.

    `max_new_tokens`: the least generation budget the model gets. Chat models explain before they answer, so a
    task's short budget (32 tokens for a multiple-choice letter) cuts them off before the answer; a task's budget
    becomes max(task's generation.max_new_tokens, this). `--max-new-tokens` overrides both."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_new_tokens: int | None = Field(None, ge=1)


class ThinkingSpec(BaseModel):
    """How a model thinks before it answers, and how the harness switches that (see harness/run/reasoning.py).

    `mode`: hybrid (switchable: Qwen3, DeepSeek-V3.1/3.2, GLM-4.5/4.6, Hunyuan-A13B), always (DeepSeek-R1, QwQ,
    Qwen3-*-Thinking-2507, Kimi-K2-Thinking, MiniMax-M2) or never (Qwen3-*-Instruct-2507, Kimi-K2-Instruct).
    `default`: what `--thinking auto` means. A hybrid model is switched by `toggle`: a chat-template variable
    (`flag`, e.g. Qwen3's enable_thinking, DeepSeek-V3.1's thinking) or a text switch appended to the user turn
    (`switch_on` / `switch_off`, e.g. GLM's /nothink). `prefilled`: the template itself opens the think block
    (`<think>\n` after the assistant tag), so the output starts inside it and only the end tag appears."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mode: Literal["hybrid", "always", "never"]
    default: Literal["on", "off"]
    toggle: Literal["template_flag", "prompt_switch", "none"] = "none"
    flag: str | None = None
    switch_on: str | None = None
    switch_off: str | None = None
    start: str = "<think>"
    end: str = "</think>"
    prefilled: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> ThinkingSpec:
        if self.mode == "hybrid" and self.toggle == "none":
            raise ValueError("a hybrid model needs a toggle (template_flag with flag, or prompt_switch)")
        if self.toggle == "template_flag" and not self.flag:
            raise ValueError("toggle template_flag needs flag (the chat-template variable, e.g. enable_thinking)")
        if self.toggle == "prompt_switch" and self.switch_off is None:
            raise ValueError("toggle prompt_switch needs switch_off (and switch_on, if the default is off)")
        if self.mode != "hybrid" and self.default != ("on" if self.mode == "always" else "off"):
            raise ValueError(f"mode {self.mode} thinks {'always' if self.mode == 'always' else 'never'}: default must say so")
        return self


class Decoding(BaseModel):
    """The model card's recommended decoding for one mode; unset fields leave the task's own."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    temperature: float | None = Field(None, ge=0.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=0)  # 0: off
    max_new_tokens: int | None = Field(None, ge=1)


class Preset(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    hub_id: str
    family: str
    type: Literal["chat", "base"]
    params_b: float | None = None  # total parameters, billions
    active_params_b: float | None = None  # activated per token (mixture-of-experts models)
    context_length: int | None = None  # native context window, tokens
    thinking: ThinkingSpec | None = None  # None: not a reasoning model (thinks never)
    decoding: dict[Literal["thinking", "non_thinking"], Decoding] = Field(default_factory=dict)
    sources: list[str] = Field(default_factory=list)  # model cards / reports the figures come from
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    trust_remote_code: bool = False
    revision: str | None = None
    chat_template: str | None = None  # overrides the tokenizer's template when set
    generation: PresetGeneration = Field(default_factory=PresetGeneration)
    notes: str | None = None


def load_presets() -> dict[str, Preset]:
    out = {}
    for path in sorted(PRESETS_DIR.glob("*.yaml")):
        try:
            out[path.stem] = Preset.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(map(str, first["loc"]))
            fix = ("; the generation block takes only max_new_tokens (the least generation budget for this model)"
                   if where.startswith("generation") else "")
            raise HarnessError(f"{path}: field '{where}': {first['msg']}{fix}") from None
        except yaml.YAMLError as e:
            raise HarnessError(f"{path}: not valid YAML: {e}") from None
    return out


@dataclass
class ModelRef:
    name: str  # what results and the leaderboard call it
    source: str  # local folder or hub id handed to the backend
    is_local: bool
    preset: Preset | None = None
    revision: str | None = None
    needs_remote_code: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    served_chat: bool | None = None  # a model behind an API: chat unless the user says otherwise

    @property
    def is_chat(self) -> bool:
        if self.served_chat is not None:
            return self.served_chat
        if self.preset is not None:
            return self.preset.type == "chat"
        return bool(re.search(r"(instruct|chat|[-_]it\b|[-_]sft)", self.name, re.I))


def resolve_model(value: str, *, revision: str | None, trust_remote_code: bool, flag: str = "--model") -> ModelRef:
    """`flag` names the option the value came from (--model, --judge-model) in every error."""
    presets = load_presets()
    preset = presets.get(value)
    source = preset.hub_id if preset else value
    path = Path(source).expanduser()
    if path.is_dir():
        ref = ModelRef(name=path.resolve().name, source=str(path.resolve()), is_local=True, preset=preset)
        config_path = path / "config.json"
        if not config_path.is_file():
            raise HarnessError(f"{flag} {value}: folder {path} has no config.json; is it a Hugging Face model folder?")
        try:
            ref.config = json.loads(config_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise HarnessError(f"{flag} {value}: {config_path} is not valid JSON ({e.msg} at line {e.lineno})") from None
    elif _HUB_ID.match(source) and not source.startswith((".", "/", "~")) and not path.parent.is_dir():
        ref = ModelRef(name=source, source=source, is_local=False, preset=preset)
        ref.config = _cached_hub_config(source) or {}
    else:
        known = ", ".join(sorted(presets)) or "none"
        raise HarnessError(
            f"{flag} {value}: no such folder, and not a hub id (org/name) or preset{did_you_mean(value, presets)} "
            f"(known presets: {known})"
        )
    if not ref.is_local:
        # asked even when the config is cached: without a network the process goes offline, so the load reads the
        # cache at once instead of retrying every file for minutes; uncached, it is one line now
        why = hub.unavailable()
        if why is not None and not ref.config:
            raise HarnessError(f"{flag} {value}: {why}, and {source} is not in the local hub cache; pass a local "
                               f"model folder to {flag} (`harness tiny-model -o models/tiny` builds a small one), "
                               f"{hub.FIX_ONLINE}")
    ref.revision = revision or (preset.revision if preset else None)
    auto_map = ref.config.get("auto_map") or {}
    ref.needs_remote_code = bool(auto_map) or (preset.trust_remote_code if preset else False)
    if ref.needs_remote_code and not trust_remote_code:
        raise HarnessError(
            f"{flag} {value}: this model ships its own Python code ({'auto_map in config.json' if auto_map else 'per its preset'}), "
            "which would run on this machine; re-run with --trust-remote-code if you trust its authors"
        )
    return ref


def _cached_hub_config(hub_id: str) -> dict[str, Any] | None:
    """config.json of a hub model when it is already in the local cache (never downloads)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(hub_id, "config.json")
        if isinstance(cached, str):
            return json.loads(Path(cached).read_text(encoding="utf-8"))
    except Exception:
        return None
    return None


def weights_fingerprint(folder: Path) -> dict[str, Any]:
    """sha256 over the weight files (names, sizes and bytes). Folders over 2 GiB hash the first and last MiB of
    each file with its size instead, and say so: exact enough to tell checkpoints apart, fast on 100 GB."""
    files = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".pt", ".gguf") and p.is_file())
    total = sum(p.stat().st_size for p in files)
    h = hashlib.sha256()
    sampled = total > _FULL_HASH_LIMIT
    for p in files:
        size = p.stat().st_size
        h.update(f"{p.name}:{size}\n".encode())
        with open(p, "rb") as f:
            if sampled:
                h.update(f.read(1 << 20))
                f.seek(max(0, size - (1 << 20)))
                h.update(f.read(1 << 20))
            else:
                for block in iter(lambda: f.read(1 << 22), b""):
                    h.update(block)
    return {"sha256": h.hexdigest(), "method": "sampled" if sampled else "full", "files": len(files), "bytes": total}


def effective_max_new_tokens(task_budget: int, preset: Preset | None, flag: int | None) -> int:
    """A generate-mode task's budget: --max-new-tokens when given, else the larger of the task's own and the
    preset's generation.max_new_tokens (a chat model's floor)."""
    if flag:
        return flag
    floor = preset.generation.max_new_tokens if preset is not None else None
    return max(task_budget, floor or 0)


_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def resolve_commit(source: str, revision: str | None, loaded: str | None = None,
                   cache_dir: str | Path | None = None) -> tuple[str | None, str]:
    """The commit a hub model's `revision` (None: main) stands for, and where that came from: the commit of the
    files the backend loaded (transformers' config._commit_hash), a revision that is already a commit, else the
    local hub cache (refs/<revision> -> snapshots/<commit>, what an offline load uses and what a fresh download
    just wrote). (None, reason) when none of them knows: offline and not in the cache."""
    if loaded and _COMMIT.match(loaded):
        return loaded, "loaded"
    if revision and _COMMIT.match(revision):
        return revision, "pinned"
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(source, "config.json", cache_dir=cache_dir, revision=revision)
    except Exception:
        cached = None
    if isinstance(cached, str):
        parts = Path(cached).parts
        if "snapshots" in parts[:-1]:
            commit = parts[parts.index("snapshots") + 1]
            if _COMMIT.match(commit):
                return commit, "hub cache"
    return None, (f"revision {revision or 'main'} not resolved to a commit (offline, or not in the local hub cache): "
                  f"cached responses are keyed on the revision name")


_TOKENIZER_FILE = re.compile(r"^(tokenizer.*|special_tokens_map\.json|added_tokens\.json|vocab.*|merges\.txt|.*\.model"
                             r"|.*\.tiktoken|chat_template.*|tokenization_.*\.py|preprocessor_config\.json)$")


def tokenizer_fingerprint(source: str, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """sha256 over a tokenizer's files (names, sizes and bytes: tokenizer.json, vocab, merges, sentencepiece models,
    special tokens, chat template, its Python code): a folder, or a hub id's snapshot in the local cache. Two
    tokenizers under one path that differ in any byte get different fingerprints. Not found locally: the path only,
    and a note that says so."""
    folder = Path(source).expanduser()
    commit = None
    if not folder.is_dir():
        folder = None  # type: ignore[assignment]
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(source, "tokenizer_config.json", cache_dir=cache_dir)
            if isinstance(cached, str):
                folder = Path(cached).parent
                commit = folder.name
        except Exception:
            folder = None  # type: ignore[assignment]
    files = sorted(p for p in folder.iterdir() if p.is_file() and _TOKENIZER_FILE.match(p.name)) if folder else []
    if not files:
        return {"path": source, "sha256": None, "note": "no tokenizer files found locally: keyed on the path only"}
    h = hashlib.sha256()
    for p in files:
        h.update(f"{p.name}:{p.stat().st_size}\n".encode())
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    out: dict[str, Any] = {"path": source, "sha256": h.hexdigest(), "files": [p.name for p in files]}
    if commit:
        out["commit"] = commit
    return out
