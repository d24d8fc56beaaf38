"""Multi-answer multiple choice: answers as label sets, read the ways Chinese models write them, scored by exact
set match (upstream AGIEval and GAOKAO-Bench's rule for a question to count as right); left out, counted and named
in likelihood mode, where one option's probability cannot pick a set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.results.files import read_samples
from harness.scoring.extraction import extract_choice_set
from harness.scoring.metrics import score_generation, score_likelihood
from harness.types import GenerateResult, LoglikelihoodResult, Sample

LABELS = ("A", "B", "C", "D")
MULTI = Sample("t", "m", "q", ("甲", "乙", "丙", "丁"), LABELS, -1, answers=("A", "C"))
SINGLE = Sample("t", "s", "q", ("甲", "乙", "丙", "丁"), LABELS, 1, answers=("B",))


@pytest.mark.parametrize("text,expected", [
    ("AC", "AC"), ("A、C", "AC"), ("A和C", "AC"), ("答案：A,C", "AC"), ("答案：C，A。", "AC"), ("答案是 A C", "AC"),
    ("正确选项为AC", "AC"), ("选AC", "AC"), ("The answer is A and C.", "AC"), ("**A、C**", "AC"),
    ("分析：A项正确，B项错误……\n答案：ACD", "ACD"), ("B", "B"), ("答案：B", "B"),
    ("A. 甲\nB. 乙", None), ("我不知道", None), ("", None),
])
def test_letter_sets_are_read(text: str, expected: str | None) -> None:
    assert extract_choice_set(text, LABELS) == expected


@pytest.mark.parametrize("sample,text,ok", [
    (MULTI, "答案：A、C", True), (MULTI, "答案：C,A", True), (MULTI, "答案：A", False), (MULTI, "答案：ACD", False),
    (SINGLE, "答案：B", True), (SINGLE, "答案：BD", False),
])
def test_exact_set_accuracy(sample: Sample, text: str, ok: bool) -> None:
    s = score_generation(sample, GenerateResult(text, "stop"), ["accuracy"], "choice_set")
    assert s.correct is ok and s.metrics["accuracy"] == float(ok)


def test_likelihood_refuses_a_set() -> None:
    with pytest.raises(ValueError, match="multi-answer"):
        score_likelihood(MULTI, LoglikelihoodResult([0.0] * 4, [1] * 4, [False] * 4, True))


def _eval(args: list[str], out: Path) -> tuple[dict, list[dict]]:
    assert main(["eval", *args, "--output-dir", str(out), "--no-progress", "--no-cache"]) == 0
    (results_file,) = list(out.rglob("*.json"))
    results = json.loads(results_file.read_text(encoding="utf-8"))
    return results, read_samples(results_file.parent / results["samples_file"])


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["likelihood", "generate"])
def test_agieval_gaokao_multi_answer_rows(mode: str, tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path) -> None:
    """Likelihood: the multi-answer rows are left out and named. Generate: they are scored (before: skipped)."""
    results, samples = _eval(["--model", str(tiny_models["qwen2"]), "--tasks", "agieval_gaokao", "--data-dir",
                              str(data_dir), "--limit", "400", "--mode", mode, "--max-new-tokens", "4"], tmp_path)
    t = results["tasks"]["agieval_gaokao"]
    multi = [s for s in samples if len(s["target"]) > 1]
    assert multi and t["data"]["skipped_rows"] == 0
    excluded = t["context"]["excluded"]
    if mode == "likelihood":
        assert excluded["multi_answer_in_likelihood_mode"]["ids"] == [s["sample_id"] for s in multi]
        assert all("skipped" in s for s in multi) and t["aggregate"]["n"] == len(samples) - len(multi)
    else:
        assert excluded == {} and not any("skipped" in s for s in samples)
        assert t["aggregate"]["n"] == len(samples)
        for s in samples:  # the score recomputed from the outputs with the set rule
            assert s["correct"] == (extract_choice_set(s["output"], LABELS[:4] + ("E",)) == s["target"])
