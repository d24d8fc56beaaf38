"""One context policy on every backend: prompts are measured before they are sent, nothing is truncated, an item
that does not fit is skipped (or given fewer exemplars) and counted, and a request's generation budget is its own,
whatever else shares its batch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.backends.base import encode_batch
from harness.backends.hf import HFBackend
from harness.cli import main
from harness.results.files import read_samples
from harness.types import GenerateRequest

pytestmark = pytest.mark.slow
CONTEXT = 256


@pytest.fixture(scope="module")
def short_model(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny qwen2 with a 256-position context (3-shot C-Eval prompts run to ~650 of its tokens)."""
    folder = tmp_path_factory.mktemp("short") / "tiny-qwen2-256"
    shutil.copytree(tiny_models["qwen2"], folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["max_position_embeddings"] = CONTEXT
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def _eval(args: list[str], out: Path) -> tuple[dict, list[dict]]:
    assert main(["eval", *args, "--output-dir", str(out), "--no-progress", "--no-cache"]) == 0
    (results_file,) = list(out.rglob("*.json"))
    results = json.loads(results_file.read_text(encoding="utf-8"))
    return results, read_samples(results_file.parent / results["samples_file"])


def test_over_long_likelihood_prompts_are_skipped_and_counted(short_model: Path, data_dir: Path, tmp_path: Path) -> None:
    """Before: 3-shot prompts of up to 653 tokens were scored on this model with truncated_requests 0."""
    results, samples = _eval(["--model", str(short_model), "--tasks", "ceval", "--data-dir", str(data_dir),
                              "--limit", "24", "--num-fewshot", "1"], tmp_path)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(short_model)
    too_long = 0
    for s in samples:  # an independent count: the prompt with its longest option, tokenized together
        n = max(len(ids) for ids in encode_batch(tok, [s["prompt"] + c for c in ("A", "B", "C", "D")], True))
        assert ("skipped" in s) == (n > CONTEXT), (s["sample_id"], n)
        too_long += n > CONTEXT
    t = results["tasks"]["ceval"]
    assert 0 < too_long < len(samples)
    assert t["context"]["skipped"] == too_long and t["context"]["limit"] == CONTEXT
    assert t["aggregate"]["n"] == len(samples) - too_long  # left out of the score, never scored as wrong
    scored = [s for s in samples if "skipped" not in s]
    assert t["aggregate"]["micro"] == pytest.approx(100 * sum(s["correct"] for s in scored) / len(scored))


def test_fewer_shots_fits_prompts_by_dropping_exemplars(short_model: Path, data_dir: Path, tmp_path: Path) -> None:
    results, samples = _eval(["--model", str(short_model), "--tasks", "ceval", "--data-dir", str(data_dir),
                              "--limit", "24", "--num-fewshot", "1", "--context-policy", "fewer_shots"], tmp_path)
    ctx = results["tasks"]["ceval"]["context"]
    assert ctx["policy"] == "fewer_shots" and ctx["fewer_shots"] > 0
    fewer = [s for s in samples if s.get("num_fewshot") == 0]
    assert len(fewer) == ctx["fewer_shots"]
    assert all("答案：" in s["prompt"] and s["prompt"].count("答案：") == 1 for s in fewer)  # the exemplar is gone
    assert sum("skipped" in s for s in samples) == ctx["skipped"]


def test_one_over_long_generation_prompt_does_not_abort_the_run(short_model: Path, data_dir: Path, tmp_path: Path) -> None:
    """Before: one generation prompt longer than the context ended the whole run with an error."""
    results, samples = _eval(["--model", str(short_model), "--tasks", "ceval", "--data-dir", str(data_dir),
                              "--limit", "12", "--num-fewshot", "1", "--mode", "generate", "--max-new-tokens", "40"],
                             tmp_path)
    ctx = results["tasks"]["ceval"]["context"]
    assert ctx["skipped"] > 0 and ctx["budget_capped"] > 0
    answered = [s for s in samples if "skipped" not in s]
    assert answered and all(s["prompt_tokens"] + s["generated_tokens"] <= CONTEXT for s in answered)
    assert len(answered) + ctx["skipped"] == len(samples) == 12


def test_summary_shows_what_did_not_fit() -> None:
    from harness.results.summary import context_note

    note = context_note({"limit": 256, "skipped": 3, "fewer_shots": 2, "budget_capped": 0,
                         "excluded": {"multi_answer_in_likelihood_mode": {"count": 4, "ids": ["a"]}}})
    assert note == " (3 too long for context 256, skipped; 2 with fewer shots; 4 excluded: multi answer in likelihood mode)"


@pytest.fixture(scope="module")
def short_backend(short_model: Path) -> HFBackend:
    return HFBackend(str(short_model), device="cpu", dtype="float32", batch_size=16)


def test_generation_is_batch_invariant(short_backend: HFBackend) -> None:
    """A request generates the same tokens alone, beside a prompt that leaves almost no room, and at batch sizes 1, 4
    and 16 (greedy). Before, every row of a batch was capped by the room left after the batch's longest prompt."""
    b = short_backend
    short = GenerateRequest("问题：中国的首都是哪里？\n答案：", max_new_tokens=40)
    n_long = CONTEXT - 10
    filler = "这是一个很长的背景段落。"
    text = filler
    while len(encode_batch(b.tokenizer, [text + filler], True)[0]) < n_long:
        text += filler
    long = GenerateRequest(text, max_new_tokens=40)
    alone = dict(b.generate([short]))[0]
    assert alone.cost.generated_tokens == 40 or alone.finish_reason != "length"
    together = dict(b.generate([long, short]))
    assert together[1].text == alone.text and together[1].cost.generated_tokens == alone.cost.generated_tokens
    assert together[0].cost.generated_tokens <= CONTEXT - len(encode_batch(b.tokenizer, [text], True)[0])
    others = [GenerateRequest(f"问题：{k}加{k}等于几？\n答案：", max_new_tokens=40) for k in range(15)]
    reference = [dict(b.generate([o]))[0].text for o in others]
    try:
        for size in (1, 4, 16):
            b.batch_size = size
            out = dict(b.generate([*others, short, long]))
            assert out[15].text == alone.text, f"batch size {size}"
            assert [out[k].text for k in range(15)] == reference, f"batch size {size}"
    finally:
        b.batch_size = 16
