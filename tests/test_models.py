"""Model presets, --model resolution and the weights fingerprint."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.models import presets as models
from harness.models.presets import load_presets, resolve_model, weights_fingerprint


def test_presets_cover_the_required_families() -> None:
    presets = load_presets()
    for family in ("qwen2.5", "glm-4", "yi-1.5"):
        types = {p.type for p in presets.values() if p.family == family}
        assert types == {"chat", "base"}, f"{family} needs a chat and a base preset"
    for name, p in presets.items():
        assert p.name == name, f"configs/models/{name}.yaml: name field must match the file name"
        assert "/" in p.hub_id


def test_remote_code_preset_needs_the_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr("harness.hub.unavailable", lambda: None)  # as if online (the tests never reach the hub)
    with pytest.raises(HarnessError, match="--trust-remote-code"):
        resolve_model("chatglm3-6b", revision=None, trust_remote_code=False)
    ref = resolve_model("chatglm3-6b", revision=None, trust_remote_code=True)
    assert ref.needs_remote_code and ref.source == "THUDM/chatglm3-6b" and ref.is_chat


def test_preset_resolves_to_hub_id_offline_without_cache_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HarnessError, match="offline"):
        resolve_model("qwen2.5-7b-instruct", revision=None, trust_remote_code=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr("harness.hub.unavailable", lambda: None)  # as if online
    ref = resolve_model("qwen2.5-7b-instruct", revision="abc123", trust_remote_code=False)
    assert (ref.source, ref.is_local, ref.is_chat, ref.revision) == ("Qwen/Qwen2.5-7B-Instruct", False, True, "abc123")
    assert not resolve_model("qwen2.5-7b", revision=None, trust_remote_code=False).is_chat


def test_local_folder(tiny_models: dict[str, Path]) -> None:
    ref = resolve_model(str(tiny_models["glm4"]), revision=None, trust_remote_code=False)
    assert ref.is_local and ref.name == "tiny-glm4" and ref.config["model_type"] == "glm4"
    assert not ref.is_chat  # no preset and no chat/instruct in the name: treated as a base model


@pytest.mark.parametrize("name,chat", [("Qwen2.5-7B-Instruct", True), ("glm-4-9b-chat-hf", True), ("gemma-2-9b-it", True),
                                       ("Yi-1.5-9B", False), ("deepseek-llm-7b-base", False)])
def test_chat_heuristic_for_models_without_preset(tmp_path: Path, name: str, chat: bool) -> None:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert resolve_model(str(folder), revision=None, trust_remote_code=False).is_chat is chat


def test_weights_fingerprint_full_and_sampled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = bytes(range(256)) * 20000  # ~5 MB
    (tmp_path / "model.safetensors").write_bytes(data)
    (tmp_path / "notes.txt").write_text("not a weight file")
    full = weights_fingerprint(tmp_path)
    expected = hashlib.sha256(f"model.safetensors:{len(data)}\n".encode() + data).hexdigest()
    assert full == {"sha256": expected, "method": "full", "files": 1, "bytes": len(data)}
    monkeypatch.setattr(models, "_FULL_HASH_LIMIT", 1000)
    sampled = weights_fingerprint(tmp_path)
    assert sampled["method"] == "sampled" and sampled["sha256"] != expected
    (tmp_path / "model.safetensors").write_bytes(data[:-1] + b"\x00")  # a change in the last MiB is seen
    assert weights_fingerprint(tmp_path)["sha256"] != sampled["sha256"]
