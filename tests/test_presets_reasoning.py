"""Model presets for the reasoning generation (Qwen3, DeepSeek-R1/V3.x, GLM-4.5/4.6, Kimi-K2, MiniMax-M2, ...):
every preset loads, its thinking block and per-mode decoding agree, its figures cite a source, and a handful of
known facts hold (checked against the model cards, and against the real Qwen3 / DeepSeek-V3 chat templates)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.models.presets import PRESETS_DIR, load_presets

PRESETS = load_presets()
# the presets that came before the reasoning generation: no thinking block, no sources required
OLDER = {"chatglm3-6b", "deepseek-llm-7b-chat", "glm-4-9b-chat", "glm-4-9b", "qwen2.5-0.5b-instruct",
         "qwen2.5-72b-instruct", "qwen2.5-7b-instruct", "qwen2.5-7b", "yi-1.5-6b-chat", "yi-1.5-9b-chat", "yi-1.5-9b"}
NEW = sorted(set(PRESETS) - OLDER)
REQUIRED = [
    *(f"qwen3-{s}" for s in ("0.6b", "1.7b", "4b", "8b", "14b", "32b", "30b-a3b", "235b-a22b")),
    *(f"qwen3-{s}-{k}-2507" for s in ("4b", "30b-a3b", "235b-a22b") for k in ("instruct", "thinking")),
    "deepseek-r1", "deepseek-r1-0528", "deepseek-r1-0528-qwen3-8b",
    *(f"deepseek-r1-distill-qwen-{s}" for s in ("1.5b", "7b", "14b", "32b")),
    "deepseek-r1-distill-llama-8b", "deepseek-r1-distill-llama-70b",
    "deepseek-v3.1", "deepseek-v3.2-exp", "deepseek-v3-0324", "glm-4.5", "glm-4.5-air", "glm-4.6",
    "kimi-k2-instruct", "kimi-k2-thinking", "minimax-m2", "internlm3-8b-instruct", "ernie-4.5-21b-a3b-pt",
    "ernie-4.5-300b-a47b-pt", "hunyuan-a13b-instruct", "qwq-32b",
]


def test_every_preset_loads_under_its_file_name() -> None:
    stems = {p.stem for p in PRESETS_DIR.glob("*.yaml")}
    assert stems == set(PRESETS)
    for name, preset in PRESETS.items():
        assert preset.name == name, f"configs/models/{name}.yaml: name must equal the file name"


def test_the_reasoning_generation_is_covered() -> None:
    assert not set(REQUIRED) - set(PRESETS), f"missing presets: {sorted(set(REQUIRED) - set(PRESETS))}"
    assert OLDER <= set(PRESETS), "the older presets are kept"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_thinking_and_decoding_agree(name: str) -> None:
    p = PRESETS[name]
    mode = p.thinking.mode if p.thinking else "never"
    if mode in ("always", "hybrid"):
        assert "thinking" in p.decoding, f"{name}: a model that thinks needs decoding.thinking"
    if mode == "hybrid":
        assert "non_thinking" in p.decoding, f"{name}: a hybrid model needs decoding.non_thinking"
    if mode == "always":
        assert "non_thinking" not in p.decoding, f"{name}: always thinks, so non_thinking decoding is never used"
    if mode == "never":
        assert "thinking" not in p.decoding, f"{name}: never thinks, so thinking decoding is never used"
    if p.thinking and p.thinking.prefilled:
        assert mode == "always", f"{name}: prefilled claims the think block is open in every prompt"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_sizes_are_consistent(name: str) -> None:
    p = PRESETS[name]
    if p.active_params_b is not None:
        assert p.params_b is not None and 0 < p.active_params_b <= p.params_b, name
    for mode, d in p.decoding.items():
        if d.max_new_tokens and p.context_length:
            assert d.max_new_tokens <= p.context_length, f"{name}: {mode} budget exceeds the context window"


@pytest.mark.parametrize("name", NEW)
def test_new_presets_cite_their_sources(name: str) -> None:
    sources = PRESETS[name].sources
    assert sources and all(s.startswith("https://") for s in sources), f"{name}: needs source URLs"
    assert any(PRESETS[name].hub_id.lower() in s.lower() for s in sources), f"{name}: cite its own hub card"


def test_on_and_off_are_strings_in_the_yaml() -> None:
    """YAML 1.1 reads a bare on/off as a boolean: every default must be quoted to reach the schema as text."""
    for path in PRESETS_DIR.glob("*.yaml"):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        if "thinking" in raw:
            assert raw["thinking"]["default"] in ("on", "off"), path.name


def test_known_facts() -> None:
    q = PRESETS["qwen3-8b"]
    assert (q.thinking.mode, q.thinking.default, q.thinking.toggle, q.thinking.flag) == \
        ("hybrid", "on", "template_flag", "enable_thinking")
    assert not q.thinking.prefilled and q.params_b == 8.2 and q.context_length == 32768
    assert (q.decoding["thinking"].temperature, q.decoding["thinking"].top_p, q.decoding["thinking"].top_k) == (0.6, 0.95, 20)
    assert (q.decoding["non_thinking"].temperature, q.decoding["non_thinking"].top_p) == (0.7, 0.8)
    assert q.decoding["thinking"].max_new_tokens == 32768

    moe = PRESETS["qwen3-235b-a22b"]
    assert (moe.params_b, moe.active_params_b) == (235, 22)
    assert (PRESETS["qwen3-30b-a3b"].params_b, PRESETS["qwen3-30b-a3b"].active_params_b) == (30.5, 3.3)

    r1 = PRESETS["deepseek-r1"]
    assert (r1.thinking.mode, r1.thinking.prefilled, r1.trust_remote_code) == ("always", True, True)
    assert (r1.params_b, r1.active_params_b) == (671, 37)
    assert (r1.decoding["thinking"].temperature, r1.decoding["thinking"].top_p,
            r1.decoding["thinking"].max_new_tokens) == (0.6, 0.95, 32768)
    assert not PRESETS["deepseek-r1-0528"].thinking.prefilled  # its card: "<think>\n" no longer needs forcing
    assert PRESETS["deepseek-r1-0528"].decoding["thinking"].max_new_tokens == 65536

    for name in ("qwen3-30b-a3b-thinking-2507", "qwen3-235b-a22b-thinking-2507", "qwen3-4b-thinking-2507"):
        assert (PRESETS[name].thinking.mode, PRESETS[name].thinking.prefilled) == ("always", True), name
    for name in ("qwen3-30b-a3b-instruct-2507", "qwen3-235b-a22b-instruct-2507", "qwen3-4b-instruct-2507"):
        assert PRESETS[name].thinking.mode == "never" and PRESETS[name].context_length == 262144, name

    v31 = PRESETS["deepseek-v3.1"].thinking
    assert (v31.mode, v31.default, v31.toggle, v31.flag) == ("hybrid", "off", "template_flag", "thinking")
    assert PRESETS["deepseek-v3-0324"].thinking.mode == "never"

    k2 = PRESETS["kimi-k2-instruct"]
    assert k2.thinking.mode == "never" and k2.decoding["non_thinking"].temperature == 0.6
    assert PRESETS["kimi-k2-thinking"].thinking.mode == "always"
    assert PRESETS["kimi-k2-thinking"].decoding["thinking"].temperature == 1.0
    mm = PRESETS["minimax-m2"]
    assert (mm.thinking.mode, mm.params_b, mm.active_params_b) == ("always", 230, 10)
    assert (mm.decoding["thinking"].temperature, mm.decoding["thinking"].top_p, mm.decoding["thinking"].top_k) == (1.0, 0.95, 40)
    for name in ("glm-4.5", "glm-4.5-air", "glm-4.6", "hunyuan-a13b-instruct"):
        t = PRESETS[name].thinking
        assert (t.mode, t.default, t.flag) == ("hybrid", "on", "enable_thinking"), name
    assert (PRESETS["hunyuan-a13b-instruct"].params_b, PRESETS["hunyuan-a13b-instruct"].active_params_b) == (80, 13)
    assert PRESETS["internlm3-8b-instruct"].thinking.mode == "never"  # its deep thinking is a system prompt
    assert PRESETS["qwq-32b"].thinking.prefilled and PRESETS["qwq-32b"].decoding["thinking"].temperature == 0.6


def _render(folder: Path, **kwargs: object) -> str:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    return tok.apply_chat_template([{"role": "user", "content": "1+1=?"}], tokenize=False, add_generation_prompt=True,
                                   **kwargs)


def test_qwen3_presets_match_the_real_qwen3_template(real_tokenizers: dict[str, Path]) -> None:
    """The real Qwen3 template reads enable_thinking, is on by default and does not open the think block itself."""
    folder = real_tokenizers["qwen3"]
    on, off = _render(folder), _render(folder, enable_thinking=False)
    assert on.endswith("<|im_start|>assistant\n") and "<think>" not in on
    assert off.endswith("<think>\n\n</think>\n\n")
    for name, p in PRESETS.items():
        if p.family == "qwen3":
            assert (p.thinking.flag, p.thinking.default, p.thinking.prefilled) == ("enable_thinking", "on", False), name


def test_deepseek_v3_template_does_not_think(real_tokenizers: dict[str, Path]) -> None:
    """DeepSeek-V3's template has no thinking block at all: V3-0324 never thinks; the R1 presets are the ones
    whose templates open <think>, and V3.1 adds the `thinking` variable."""
    prompt = _render(real_tokenizers["deepseek_v3"])
    assert prompt.endswith("<｜Assistant｜>") and "think" not in prompt
    assert PRESETS["deepseek-v3-0324"].thinking.mode == "never"
