"""Judged tasks end to end with real tiny models as the evaluated model and as the judge.

The judge is a real Qwen2 whose weights make its greedy output the fixed text "综合得分：1" (tests/scripted_model.py),
so every parser reads a known verdict and the scores are known by hand: a rating of 1 of 10 is 10 points,
BELLE's 1 of 1 is 100, and Flames (harmless only at 3) is 0. A random tiny judge then shows what happens when
no verdict can be read: counted as unparsed, no score invented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.results.files import read_samples

pytestmark = pytest.mark.slow

JUDGED = ["mtbench_zh", "alignbench", "belle_eval", "flames", "cvalues"]
EXPECTED = {"mtbench_zh": 10.0, "alignbench": 10.0, "belle_eval": 100.0, "flames": 0.0, "cvalues": 10.0}


def _run(out: Path, model: Path, judge: Path, data_dir: Path, *extra: str) -> tuple[dict, Path]:
    args = ["eval", "--model", str(model), "--tasks", ",".join(JUDGED), "--data-dir", str(data_dir), "--limit", "3",
            "--max-new-tokens", "12", "--output-dir", str(out), "--judge-model", str(judge), "--no-progress", *extra]
    assert main(args) == 0
    (path,) = out.rglob("*.json")
    return json.loads(path.read_text(encoding="utf-8")), path


@pytest.fixture(scope="module")
def judged_run(tiny_models: dict[str, Path], scripted_judge: Path, data_dir: Path,
               tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    return _run(tmp_path_factory.mktemp("judged"), tiny_models["llama"], scripted_judge, data_dir)


def test_scores_follow_the_verdicts(judged_run: tuple[dict, Path]) -> None:
    results, _ = judged_run
    for name in JUDGED:
        t = results["tasks"][name]
        assert t["primary_metric"] == "judge_score"
        assert t["score"] == pytest.approx(EXPECTED[name]), name
        assert t["metrics"]["judged"] == 3 and t["metrics"]["judge_unparsed"] == 0


def test_results_name_the_judge_its_prompts_and_throughput(judged_run: tuple[dict, Path], scripted_judge: Path) -> None:
    results, path = judged_run
    j = results["judge"]
    assert j["model"]["name"] == "scripted-judge" and j["model"]["source"] == str(scripted_judge.resolve())
    assert j["model"]["weights"]["sha256"] and j["model"]["chat_template_applied"] is True
    assert j["requests"] == 3 * 2 + 4 * 3  # MT-Bench judges each of its two turns
    assert j["unparsed_verdicts"] == {}
    assert set(j["prompts"]) == set(JUDGED)
    assert "alignbench/config/dimension_set.json" in j["prompts"]["alignbench"]["context_files"]
    assert j["prompts"]["mtbench_zh"]["system_hash"] and j["prompts"]["mtbench_zh"]["parser"] == "rating"
    jt = j["throughput"]
    assert jt["generated_tokens"] > 0 and jt["seconds"] > 0
    # the run's names and definitions: decoding speed over the judge's generation time, wall_* over the pass
    assert jt["generated_tokens_per_s"] == pytest.approx(jt["generated_tokens"] / jt["generate_seconds"])
    assert jt["wall_generated_tokens_per_s"] == pytest.approx(jt["generated_tokens"] / jt["seconds"])
    lines = (path.parent / j["judgements_file"]).read_text(encoding="utf-8").splitlines()
    assert len(lines) == j["requests"]


def test_sample_records_carry_verdicts_and_the_dialogue(judged_run: tuple[dict, Path]) -> None:
    results, path = judged_run
    samples = read_samples(path.parent / results["samples_file"])
    assert len(samples) == 15  # one line per item, the pending lines replaced in place
    mt = [s for s in samples if s["task"] == "mtbench_zh"]
    for s in mt:
        assert s["judge"] == "done" and s["verdicts"] == [1.0, 1.0] and len(s["judge_outputs"]) == 2
        assert len(s["turns"]) == 2 and len(s["answers"]) == 2
        assert s["metrics"] == {"judge_score": pytest.approx(0.1)}
    ab = next(s for s in samples if s["task"] == "alignbench")
    assert ab["dimensions"] == [{}]  # the scripted judge writes no dictionary: only the loose overall score
    # turn 2 was answered with turn 1's answer in the history, and judged with the whole conversation
    judgements = [json.loads(x) for x in (path.parent / results["judge"]["judgements_file"]).read_text(encoding="utf-8").splitlines()]
    first = mt[0]
    turn2 = next(j for j in judgements if j["task"] == "mtbench_zh" and j["sample_id"] == first["sample_id"] and j["turn"] == 2)
    assert first["answers"][0] in turn2["judge_prompt"] and first["answers"][1] in turn2["judge_prompt"]
    assert first["turns"][1] in turn2["judge_prompt"]


def test_unreadable_verdicts_are_counted_not_scored(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path) -> None:
    results, _ = _run(tmp_path, tiny_models["qwen2"], tiny_models["glm4"], data_dir)  # a random judge babbles
    for name in JUDGED:
        t = results["tasks"][name]
        parsed, unparsed = t["metrics"]["judged"], t["metrics"]["judge_unparsed"]
        assert parsed + unparsed == 3
        if parsed == 0:
            assert t["score"] is None  # no verdict, no score: never a silent 0
    assert sum(results["judge"]["unparsed_verdicts"].values()) >= 1


def test_judged_tasks_need_a_judge(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    args = ["eval", "--model", str(tiny_models["qwen2"]), "--tasks", "mtbench_zh", "--data-dir", str(data_dir),
            "--output-dir", str(tmp_path), "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --judge-model") and "superclue-objective" in err and "\n" not in err
    assert main([*args, "--judge-model", str(tmp_path / "nope")]) == 2
    assert "--judge-model" in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.jsonl"))  # both refused before any model ran


def test_judge_prompts_longer_than_the_judges_context_are_counted(tiny_models: dict[str, Path], data_dir: Path,
                                                                 tmp_path: Path) -> None:
    """A judge whose context is 256 tokens: the judge prompts that fill it are not sent; their items are unparsed
    (no score, never 0) and counted in the judge block, and the run finishes. Before, the judge's backend raised on
    the first such prompt and the run ended with an error after the evaluated model's work was done. AlignBench's
    rubric alone fills the 256 tokens: its items, with no judge reply, once ended the judge pass reading their
    per-dimension ratings from nothing."""
    from scripted_model import build_scripted_model

    from harness.models.tiny import build_tiny_model

    small = build_tiny_model("qwen2", tmp_path / "small-qwen2", max_position_embeddings=256)
    judge = build_scripted_model(small, tmp_path / "small-judge", "综合得分：1")
    out = tmp_path / "out"
    assert main(["eval", "--model", str(tiny_models["qwen2"]), "--tasks", "mtbench_zh,belle_eval,alignbench", "--data-dir",
                 str(data_dir), "--limit", "3", "--max-new-tokens", "12", "--output-dir", str(out), "--judge-model",
                 str(judge), "--no-progress", "--no-cache"]) == 0
    (path,) = out.rglob("*.json")
    results = json.loads(path.read_text(encoding="utf-8"))
    too_long = results["judge"]["too_long_for_judge"]
    assert sum(too_long.values()) >= 1
    samples = read_samples(path.parent / results["samples_file"])
    for name in ("mtbench_zh", "belle_eval", "alignbench"):
        t = results["tasks"][name]
        marked = [s for s in samples if s["task"] == name and s.get("judge_too_long")]
        assert len(marked) == too_long.get(name, 0)
        assert all(s["judge"] == "unparsed" and s["metrics"] == {} for s in marked)
        if name == "alignbench":
            assert len(marked) == 3 and all(s["dimensions"] == [{}] for s in marked)
        assert t["metrics"]["judge_unparsed"] >= len(marked) and t["metrics"]["judged"] + t["metrics"]["judge_unparsed"] == 3
        if t["metrics"]["judged"] == 0:
            assert t["score"] is None
