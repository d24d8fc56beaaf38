"""Shared fixtures: tiny models built once per session, the real data in ../shared/data, and an environment
that keeps every tool from writing into HOME or reaching for the network."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = (REPO.parent / "shared" / "data").resolve()
# Real Qwen3 and DeepSeek-V3 tokenizer files (read-only; tiny models copy them at build time, the repository never does).
SHARED_TOKENIZERS = (REPO.parent / "shared" / "tokenizers").resolve()

_SANDBOX = Path(tempfile.mkdtemp(prefix="harness-tests-"))
for var, sub in (("HF_HOME", "hf"), ("HF_DATASETS_CACHE", "hf/datasets"), ("XDG_CACHE_HOME", "cache")):
    os.environ[var] = str(_SANDBOX / sub)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.pop("HARNESS_DATA_DIR", None)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real benchmark files. Tests read them in place; they are never copied into the repository."""
    if not (SHARED_DATA / "ceval" / "val").is_dir():
        pytest.fail(f"benchmark data not found at {SHARED_DATA}: the tests need ../shared/data beside the repository")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny random-weight model per architecture (qwen2, llama/Yi, glm4), built once per session."""
    from harness.models.tiny import ARCHS, build_tiny_model

    root = tmp_path_factory.mktemp("tiny-models")
    return {arch: build_tiny_model(arch, root / f"tiny-{arch}") for arch in ARCHS}


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny qwen2 without a chat template: the harness treats it as a base model."""
    from harness.models.tiny import build_tiny_model

    return build_tiny_model("qwen2", tmp_path_factory.mktemp("tiny-base") / "tiny-qwen2-base", chat=False)


@pytest.fixture(scope="session")
def scripted_judge(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real tiny Qwen2 whose greedy answer is always "综合得分：1" (see tests/scripted_model.py): every judge
    parser reads it, so judged scores are known by hand (1 of 10 -> 10 points; BELLE 1 of 1 -> 100)."""
    from scripted_model import build_scripted_model

    return build_scripted_model(tiny_models["qwen2"], tmp_path_factory.mktemp("judge") / "scripted-judge", "综合得分：1")


SUPERCLUE_LIMIT = 3  # items per task in the shared superclue run below


@pytest.fixture(scope="session")
def superclue_qwen2_run(tiny_models: dict[str, Path], data_dir: Path, scripted_judge: Path,
                        tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder holding one `harness eval --suite superclue` run of the tiny qwen2 (SUPERCLUE_LIMIT items a task,
    16 new tokens, the scripted judge, no response cache, so it has its own throughput): the end-to-end suite
    tests check it and the browser tests put it on their board (a copy). One run instead of two: ~20 s."""
    from harness.cli import main

    out = tmp_path_factory.mktemp("superclue-qwen2")
    assert main(["eval", "--model", str(tiny_models["qwen2"]), "--suite", "superclue", "--data-dir", str(data_dir),
                 "--limit", str(SUPERCLUE_LIMIT), "--max-new-tokens", "16", "--output-dir", str(out), "--no-progress",
                 "--judge-model", str(scripted_judge), "--no-cache"]) == 0
    return out / tiny_models["qwen2"].name


@pytest.fixture(autouse=True)
def _own_response_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets an empty response cache: a run never answers from another test's responses (tests of
    resuming share one on purpose, through --cache-dir)."""
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path_factory.mktemp("response-cache")))


def shared_tokenizer(name: str) -> Path:
    """../shared/tokenizers/<name> (qwen3, deepseek_v3); skips where it is missing, fails under CI."""
    from needs import require

    folder = SHARED_TOKENIZERS / name
    require((folder / "tokenizer.json").is_file() and (folder / "tokenizer_config.json").is_file(),
            f"real tokenizer files not found at {folder}: these tests need ../shared/tokenizers beside the repository")
    return folder


@pytest.fixture(scope="session")
def real_tokenizers() -> dict[str, Path]:
    """The shared real tokenizer folders by arch name: {"qwen3": ..., "deepseek_v3": ...}."""
    return {name: shared_tokenizer(name) for name in ("qwen3", "deepseek_v3")}


@pytest.fixture(scope="session")
def tiny_qwen3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen3ForCausalLM with the real Qwen3 tokenizer and chat template (~50 MB), built once per session."""
    from harness.models.tiny import build_tiny_model

    return build_tiny_model("qwen3", tmp_path_factory.mktemp("tiny-qwen3") / "tiny-qwen3",
                            tokenizer_dir=shared_tokenizer("qwen3"))


@pytest.fixture(scope="session")
def tiny_deepseek_v3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama with the real DeepSeek-V3 tokenizer and chat template (~41 MB), built once per session."""
    from harness.models.tiny import build_tiny_model

    return build_tiny_model("deepseek_v3", tmp_path_factory.mktemp("tiny-deepseek-v3") / "tiny-deepseek_v3",
                            tokenizer_dir=shared_tokenizer("deepseek_v3"))
