"""The response cache key covers every setting that changes a model's outputs (issue 12, item 8): vLLM's
--max-model-len, the OpenAI backend's --tokenizer (by its files, not its path) and the commit a hub revision
resolved to. Each is recorded in the results' model block, which the key is built from."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.models.presets import ModelRef, resolve_commit, tokenizer_fingerprint
from harness.run.cache import model_identity, request_key
from harness.run.runner import EvalConfig, _model_block
from harness.types import GenerateRequest, LoglikelihoodRequest

REQUESTS = [GenerateRequest("1+1=", 32, ("\n\n",), 0.0, 1234), LoglikelihoodRequest("答案：", ("A", "B"))]
A, B, C = "a" * 40, "b" * 40, "c" * 40


def _keys(block: dict) -> list[str]:
    return [request_key(model_identity(block), r) for r in REQUESTS]


BASE = {
    "source": "Qwen/Qwen2.5-7B-Instruct", "revision": "main", "backend": "vllm", "dtype": "bfloat16",
    "engine": {"engine": "vllm"}, "trust_remote_code": False,
    "max_model_len": 4096, "tokenizer": None, "commit": A,
}


@pytest.mark.parametrize("change", [
    {"max_model_len": 8192},
    {"max_model_len": None},
    {"commit": B},
    {"commit": None},
    {"tokenizer": {"path": "/tok", "sha256": "1" * 64}},
])
def test_each_setting_changes_the_key(change: dict) -> None:
    assert _keys({**BASE, **change}) != _keys(BASE)
    for a, b in zip(_keys({**BASE, **change}), _keys(BASE)):
        assert a != b


def test_same_tokenizer_path_other_files_other_key() -> None:
    one = {**BASE, "tokenizer": {"path": "/tok", "sha256": "1" * 64}}
    two = {**BASE, "tokenizer": {"path": "/tok", "sha256": "2" * 64}}
    assert _keys(one) != _keys(two)
    assert _keys(one) == _keys({**one})


def test_unchanged_local_setup_keeps_its_key() -> None:
    """A local folder on transformers has none of the new settings: its key is the one it had before."""
    block = {"source": "/m", "revision": None, "weights": {"sha256": "w"}, "backend": "hf", "dtype": "float32",
             "engine": {}, "trust_remote_code": False, "max_model_len": None, "tokenizer": None}
    assert model_identity(block) == {"source": "/m", "revision": None, "weights": "w", "backend": "hf",
                                     "dtype": "float32", "served_model": None, "trust_remote_code": False}


# ---------------------------------------------------------------- the model block


def _fake_hub_cache(root: Path, repo: str, main: str, *, files: dict[str, str] | None = None) -> Path:
    """The layout huggingface_hub writes: refs/main -> snapshots/<commit>/..."""
    folder = root / ("models--" + repo.replace("/", "--"))
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(main)
    snap = folder / "snapshots" / main
    snap.mkdir(parents=True, exist_ok=True)
    for name, text in (files or {"config.json": "{}"}).items():
        (snap / name).write_text(text)
    return snap


def _block(ref: ModelRef, backend_name: str, describe: dict, config=None, **cfg) -> dict:
    backend = SimpleNamespace(name=backend_name, model=SimpleNamespace(config=config) if config else None)
    return _model_block(ref, describe, backend, None, EvalConfig(model=ref.name, tasks=[], **cfg))


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import huggingface_hub.constants

    root = tmp_path / "hub"
    root.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(root))
    return root


def test_vllm_max_model_len_is_recorded_and_keyed(hub_cache: Path) -> None:
    _fake_hub_cache(hub_cache, "org/m", A)
    ref = ModelRef(name="org/m", source="org/m", is_local=False)
    short = _block(ref, "vllm", {"engine": "vllm", "dtype": "bfloat16", "max_model_len": 4096})
    long = _block(ref, "vllm", {"engine": "vllm", "dtype": "bfloat16", "max_model_len": 8192})
    assert (short["max_model_len"], long["max_model_len"]) == (4096, 8192)
    assert _keys(short) != _keys(long)
    # an engine that does not report it: the flag's value
    flag = _block(ref, "vllm", {"engine": "vllm", "dtype": "bfloat16"}, max_model_len=2048)
    assert flag["max_model_len"] == 2048


def test_moving_main_changes_the_key(hub_cache: Path) -> None:
    """vLLM loads no transformers config in this process: the commit comes from the hub cache that the download
    (or an offline load) used, refs/main -> snapshots/<commit>."""
    ref = ModelRef(name="org/m", source="org/m", is_local=False, revision="main")
    describe = {"engine": "vllm", "dtype": "bfloat16", "max_model_len": 4096}
    _fake_hub_cache(hub_cache, "org/m", A)
    before = _block(ref, "vllm", describe)
    assert (before["commit"], before["commit_source"]) == (A, "hub cache")
    _fake_hub_cache(hub_cache, "org/m", B)  # main moved upstream and was downloaded again
    after = _block(ref, "vllm", describe)
    assert after["commit"] == B and after["revision"] == before["revision"] == "main"
    assert _keys(before) != _keys(after)


def test_loaded_config_commit_wins(hub_cache: Path) -> None:
    _fake_hub_cache(hub_cache, "org/m", A)
    ref = ModelRef(name="org/m", source="org/m", is_local=False, revision="main")
    block = _block(ref, "hf", {"engine": "transformers", "dtype": "float32"}, config=SimpleNamespace(_commit_hash=C))
    assert (block["commit"], block["commit_source"]) == (C, "loaded")


def test_unresolved_revision_is_keyed_on_what_is_known_and_says_so(hub_cache: Path) -> None:
    ref = ModelRef(name="org/absent", source="org/absent", is_local=False, revision="main")
    block = _block(ref, "vllm", {"engine": "vllm", "dtype": "bfloat16", "max_model_len": 4096})
    assert block["commit"] is None and "not resolved" in block["commit_note"] and "main" in block["commit_note"]
    identity = model_identity(block)
    assert identity["revision"] == "main" and "commit" not in identity
    _fake_hub_cache(hub_cache, "org/absent", A)
    assert _keys(_block(ref, "vllm", {"engine": "vllm", "dtype": "bfloat16", "max_model_len": 4096})) != _keys(block)


def test_local_model_has_no_commit(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    ref = ModelRef(name="m", source=str(folder), is_local=True)
    block = _block(ref, "hf", {"engine": "transformers", "dtype": "float32"})
    assert "commit" not in block and block["weights"]["files"] == 0


def test_openai_tokenizer_is_keyed_by_its_files(tmp_path: Path) -> None:
    tok = tmp_path / "tok"
    tok.mkdir()
    (tok / "tokenizer.json").write_text(json.dumps({"model": {"vocab": {"a": 0}}}))
    (tok / "tokenizer_config.json").write_text("{}")
    (tok / "model.safetensors").write_bytes(b"not a tokenizer file")
    ref = ModelRef(name="served", source="http://x/v1", is_local=False, served_chat=True)
    describe = {"engine": "openai-compatible", "served_model": "served", "max_model_len": 2048, "tokenizer": str(tok)}
    one = _block(ref, "openai", describe)
    assert one["tokenizer"]["path"] == str(tok) and one["tokenizer"]["files"] == ["tokenizer.json", "tokenizer_config.json"]
    assert "commit" not in one  # a served model has no hub revision of ours to resolve
    (tok / "model.safetensors").write_bytes(b"changed, but not part of the tokenizer")
    assert _keys(_block(ref, "openai", describe)) == _keys(one)
    (tok / "tokenizer.json").write_text(json.dumps({"model": {"vocab": {"b": 0}}}))  # same path, other tokenizer
    two = _block(ref, "openai", describe)
    assert two["tokenizer"]["sha256"] != one["tokenizer"]["sha256"]
    assert _keys(two) != _keys(one)
    without = _block(ref, "openai", {**describe, "tokenizer": None})
    assert without["tokenizer"] is None and _keys(without) != _keys(one)


def test_tokenizer_fingerprint_of_a_hub_id_and_of_nothing(tmp_path: Path) -> None:
    _fake_hub_cache(tmp_path, "org/tok", A, files={"tokenizer_config.json": "{}", "tokenizer.json": "{}"})
    fp = tokenizer_fingerprint("org/tok", cache_dir=tmp_path)
    assert fp["sha256"] and fp["commit"] == A and fp["files"] == ["tokenizer.json", "tokenizer_config.json"]
    missing = tokenizer_fingerprint("org/none", cache_dir=tmp_path)
    assert missing["sha256"] is None and "path only" in missing["note"]


def test_resolve_commit(tmp_path: Path) -> None:
    assert resolve_commit("org/m", A, cache_dir=tmp_path) == (A, "pinned")
    assert resolve_commit("org/m", "main", loaded=B, cache_dir=tmp_path) == (B, "loaded")
    assert resolve_commit("org/m", None, cache_dir=tmp_path)[0] is None
    _fake_hub_cache(tmp_path, "org/m", C)
    assert resolve_commit("org/m", None, cache_dir=tmp_path) == (C, "hub cache")
    assert resolve_commit("org/m", "main", cache_dir=tmp_path) == (C, "hub cache")
    assert resolve_commit("org/m", "v2", cache_dir=tmp_path)[0] is None  # a tag the cache does not know
