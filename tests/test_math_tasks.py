"""The math-reasoning tasks (tasks/math_reasoning: OlymMATH zh, Math24o, TAL-SCQ5K-CN) against the real files in
../shared/data: item counts, references and options as the files have them, golden prompts built here from the raw
files, the task-file checks of answer_type math, and `harness eval` end to end on tiny models with every score
recomputed from the samples JSONL.

Expected numbers come from /work/shared/data/SOURCES.md and from parsing the files here with json / the workbook's
XML, never through the harness.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_math_equiv import math24o_rows

from harness.errors import HarnessError
from harness.scoring.metrics import score_generation
from harness.tasks.spec import load_task_spec
from harness.tasks.task import Task, discover_tasks
from harness.types import GenerateResult

TASKS = {"olymmath_zh": 200, "math24o": 21, "tal_scq5k_cn": 2000}  # SOURCES.md: 100 + 100, 21, 2000
CATEGORY = "math_reasoning"


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _olymmath(d: Path) -> dict[str, list[dict[str, Any]]]:
    return {level: _lines(d / f"olymmath/OlymMATH-ZH-{level}.jsonl") for level in ("EASY", "HARD")}


def _tal(d: Path) -> list[dict[str, Any]]:
    return _lines(d / "tal_scq5k_cn/ch_single_choice_test_2K.jsonl")


@pytest.fixture(scope="module")
def loaded(data_dir: Path) -> dict[str, tuple[Task, list]]:
    out = {}
    for name in TASKS:
        task = Task.load(discover_tasks()[name])
        out[name] = (task, task.samples(data_dir))
    return out


# ---------------------------------------------------------------- the task files


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_files(name: str) -> None:
    path = discover_tasks()[name]
    assert path.parent.name == CATEGORY and path.stem == name
    spec = load_task_spec(path)
    assert spec.category == CATEGORY and spec.version == 1 and spec.source.startswith("https://github.com/")
    assert spec.license in {"MIT", "not stated upstream"}
    if name == "tal_scq5k_cn":
        assert spec.answer_type == "choice" and spec.mode == "likelihood" and spec.modes == ["likelihood", "generate"]
        assert spec.metrics == ["accuracy"] and spec.extractor == "choice"
    else:
        assert spec.answer_type == "math" and spec.modes == ["generate"] and spec.metrics == ["math_equiv"]
        assert spec.extractor == "boxed" and spec.generation.stop == [] and spec.generation.max_new_tokens == 32768
        assert "Deviations" in spec.description


@pytest.mark.parametrize("name", sorted(TASKS))
def test_item_counts(loaded: dict, name: str) -> None:
    task, samples = loaded[name]
    assert len(samples) == TASKS[name] and task.skipped == 0
    assert len({s.sample_id for s in samples}) == len(samples)
    assert task.data_origin == "local"


def test_olymmath_items_are_the_files(loaded: dict, data_dir: Path) -> None:
    _, samples = loaded["olymmath_zh"]
    raw = _olymmath(data_dir)
    assert {k: len(v) for k, v in raw.items()} == {"EASY": 100, "HARD": 100}
    expected = [(f"{level}/{r['unique_id']}", r["problem"], (r["answer"],), r["subject"])
                for level in ("EASY", "HARD") for r in raw[level]]
    assert [(s.sample_id, s.question, s.answers, s.meta["subject"]) for s in samples] == expected
    subjects = collections.Counter(s.meta["subject"] for s in samples)
    assert set(subjects) == {"代数", "几何", "数论", "组合"} and sum(subjects.values()) == 200


def test_math24o_items_are_the_sheet(loaded: dict, data_dir: Path) -> None:
    _, samples = loaded["math24o"]
    raw = math24o_rows(data_dir)[1:]
    assert [(s.sample_id, s.question, s.answers) for s in samples] == [(r[0], r[1], (str(r[2]),)) for r in raw]
    assert [s.answers[0] for s in samples if "." in s.answers[0]] == ["0.25", "0.5"]  # the two decimals


def test_tal_options_and_answers(loaded: dict, data_dir: Path) -> None:
    """Options are labelled by position, which is right because every row's aoVal labels run A, B, C, ... in order;
    the answer letter then names the same option; 2-8 options (SOURCES.md), one item with eight (answer H)."""
    task, samples = loaded["tal_scq5k_cn"]
    raw = _tal(data_dir)
    assert len(raw) == 2000
    counts = collections.Counter()
    for r, s in zip(raw, samples):
        opts = r["answer_option_list"]
        assert all(len(o) == 1 for o in opts)
        letters = [o[0]["aoVal"] for o in opts]
        assert letters == list("ABCDEFGH"[:len(opts)])
        assert s.sample_id == r["queId"] and s.question == r["problem"]
        assert s.choices == tuple(o[0]["content"] for o in opts) and s.labels == tuple(letters)
        assert s.target_label == r["answer_value"] and s.choices[s.target] == opts[letters.index(r["answer_value"])][0]["content"]
        counts[len(opts)] += 1
    assert counts == {4: 1695, 5: 226, 3: 70, 2: 4, 6: 2, 7: 2, 8: 1}
    (eight,) = [s for s in samples if len(s.choices) == 8]
    assert eight.sample_id.startswith("1d5dcf87") and eight.target_label == "H"
    assert collections.Counter(s.meta["dataset_name"].split("_")[0] for s in samples) == {"prime": 1000, "mid": 555, "high": 445}


def test_tal_upstream_conflicts_are_the_known_three(loaded: dict) -> None:
    """Kept as upstream has them and named in the task file: the same problem with the same options, two answers."""
    _, samples = loaded["tal_scq5k_cn"]
    by: dict[tuple, list] = collections.defaultdict(list)
    for s in samples:
        by[(s.question.strip(), tuple(c.strip() for c in s.choices))].append(s)
    conflicts = sorted(sorted(x.sample_id[:8] for x in v) for v in by.values() if len({x.target for x in v}) > 1)
    assert conflicts == [["273d221e", "74bac41b"], ["618b909b", "c2eca1f9"], ["b5128ccc", "b60db560"]]
    repeated = collections.Counter(s.question.strip() for s in samples)
    assert sum(1 for c in repeated.values() if c > 1) == 53 and sum(c for c in repeated.values() if c > 1) == 111


# ---------------------------------------------------------------- golden prompts, built from the raw files


def golden_olymmath(row: dict[str, Any]) -> str:
    return "请逐步推理，并在 \\boxed{} 内给出您的最终答案。\n\n" + row["problem"]  # local_tester.py's PROMPT_CN + problem


def golden_math24o(question: str) -> str:  # README: <question> + "\n" + <special_prompt>
    return question + "\n" + "请把你的最终答案放在\\boxed{}内，即使用\\boxed{你的最终答案}这个格式，注意\\boxed{}里只能是整数或小数。"


def golden_tal(row: dict[str, Any]) -> str:
    opts = "".join(f"{o[0]['aoVal']}. {o[0]['content'].strip()}\n" for o in row["answer_option_list"])
    return "以下是中国数学竞赛的单项选择题，请选出其中的正确答案。\n\n" + row["problem"].strip() + "\n" + opts + "答案："


def test_golden_prompts(loaded: dict, data_dir: Path) -> None:
    """Every prompt of the two math sets and the first 200 of TAL-SCQ5K (0-shot, default mode)."""
    task, samples = loaded["olymmath_zh"]
    raw = _olymmath(data_dir)
    rows = raw["EASY"] + raw["HARD"]
    assert [p.prompt for p in task.prompts(samples, {}, 0, "generate")] == [golden_olymmath(r) for r in rows]
    task, samples = loaded["math24o"]
    assert [p.prompt for p in task.prompts(samples, {}, 0, "generate")] == [golden_math24o(r[1]) for r in math24o_rows(data_dir)[1:]]
    task, samples = loaded["tal_scq5k_cn"]
    prompted = task.prompts(samples[:200], {}, 0, "likelihood")
    assert [p.prompt for p in prompted] == [golden_tal(r) for r in _tal(data_dir)[:200]]
    assert all(p.continuations == tuple(p.sample.labels) for p in prompted)


def test_first_prompts_spelled_out(loaded: dict) -> None:
    """The first item of each, written out by hand from the files."""
    task, samples = loaded["math24o"]
    assert task.prompts(samples[:1], {}, 0, "generate")[0].prompt == (
        "设函数 $f : \\{1, 2, 3 \\} \\to\\{2, 3, 4 \\}$ 满足 $f \\left( f \\left( x \\right)-1 \\right)=f \\left( x \\right)$ "
        "，则这样的函数有多少个？\n请把你的最终答案放在\\boxed{}内，即使用\\boxed{你的最终答案}这个格式，注意\\boxed{}里只能是整数或小数。")
    task, samples = loaded["tal_scq5k_cn"]
    assert task.prompts(samples[:1], {}, 0, "likelihood")[0].prompt == (
        "以下是中国数学竞赛的单项选择题，请选出其中的正确答案。\n\n奶奶告诉小明：``$$2006$$年共有$$53$$个星期日''．聪敏的"
        "小明立到告诉奶奶：$$2007$$年的元旦一定是．\nA. 星期一\nB. 星期二\nC. 星期六\nD. 星期日\n答案：")


# ---------------------------------------------------------------- scoring one item


def _gen(text: str) -> GenerateResult:
    return GenerateResult(text=text, finish_reason="eos")


def test_scoring_a_math_item(loaded: dict) -> None:
    task, samples = loaded["olymmath_zh"]
    spec = task.spec
    s = next(x for x in samples if x.sample_id.endswith("OlymMATH-HARD-24-ZH"))  # [2, 4√3/3)
    right = score_generation(s, _gen("半径之和的取值范围是 $\\boxed{[2,\\frac{4\\sqrt{3}}{3})}$。"), spec.metrics,
                             spec.extractor, spec.answer_type)
    assert right.prediction == "[2,\\frac{4\\sqrt{3}}{3})" and right.metrics == {"math_equiv": 1.0} and right.correct
    closed = score_generation(s, _gen("\\boxed{[2,\\frac{4\\sqrt{3}}{3}]}"), spec.metrics, spec.extractor, spec.answer_type)
    assert closed.metrics == {"math_equiv": 0.0} and not closed.correct
    none = score_generation(s, _gen("我不确定。"), spec.metrics, spec.extractor, spec.answer_type)
    assert none.prediction is None and none.metrics == {"math_equiv": 0.0}


def test_scoring_a_tal_item_in_generate_mode(loaded: dict) -> None:
    task, samples = loaded["tal_scq5k_cn"]
    (eight,) = [s for s in samples if len(s.choices) == 8]
    scored = score_generation(eight, _gen("逐一检验后，答案是 H。"), task.spec.metrics, task.spec.extractor)
    assert scored.prediction == "H" and scored.correct
    boxed = score_generation(eight, _gen("所以选 $\\boxed{G}$"), task.spec.metrics, task.spec.extractor)
    assert boxed.prediction == "G" and not boxed.correct


# ---------------------------------------------------------------- task-file checks of answer_type math


def _spec(tmp_path: Path, **over: Any) -> Path:
    spec = {"name": "m", "version": 1, "category": CATEGORY, "description": "d", "source": "s", "license": "MIT",
            "dataset": {"format": "jsonl", "eval": "m.jsonl"}, "fields": {"question": "q", "target": "a"},
            "answer_type": "math", "metrics": ["math_equiv"], "mode": "generate", "modes": ["generate"],
            "prompt": "{{ doc.question }}"}
    spec.update(over)
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("over,needle", [
    ({"metrics": ["accuracy"]}, "answer_type math is scored by math_equiv"),
    ({"metrics": ["math_equiv", "exact_match"]}, "answer_type math is scored by math_equiv"),
    ({"answer_type": "numeric"}, "math_equiv only scores answer_type math"),
    ({"answer_type": "choice", "fields": {"question": "q", "choices": "o", "target": "a"}, "mode": "likelihood",
      "modes": ["likelihood", "generate"]}, "math_equiv only scores answer_type math"),
    ({"modes": ["likelihood", "generate"]}, "answer_type math is scored by generation only"),
    ({"extraction": "latex"}, "extraction"),
])
def test_math_task_checks(tmp_path: Path, over: dict, needle: str) -> None:
    with pytest.raises(HarnessError) as e:
        load_task_spec(_spec(tmp_path, **over))
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_boxed_extraction_on_a_numeric_task(tmp_path: Path) -> None:
    """`boxed` also serves other answer types: a numeric task reading its number from the last box."""
    spec = load_task_spec(_spec(tmp_path, answer_type="numeric", metrics=["accuracy"], extraction="boxed"))
    assert spec.extractor == "boxed"
    assert load_task_spec(_spec(tmp_path)).extractor == "boxed"


# ---------------------------------------------------------------- harness eval, end to end


def _eval(args: list[str], out: Path) -> tuple[dict, list[dict]]:
    from harness.cli import main
    from harness.results.files import read_samples

    assert main(["eval", *args, "--output-dir", str(out), "--no-progress"]) == 0
    (results_file,) = list(out.rglob("*.json"))
    results = json.loads(results_file.read_text(encoding="utf-8"))
    return results, read_samples(results_file.parent / results["samples_file"])


def _independent_equal(prediction: str | None, gold: str) -> bool:
    """math-verify called directly, as OlymMATH's local_tester.py calls it (not through harness.scoring.math_equiv)."""
    from math_verify import parse, verify

    if prediction is None or not prediction.strip().strip("$").strip():
        return False
    return bool(verify(parse("$" + gold.strip().strip("$").strip() + "$"), parse("$" + prediction.strip().strip("$").strip() + "$")))


def _last_box(text: str) -> str | None:
    """A second, plain reading of the last complete \\boxed{} (balanced braces, \\{ \\} skipped)."""
    found, k = None, 0
    while (i := text.find("\\boxed{", k)) >= 0:
        depth, j = 1, i + 7
        while j < len(text) and depth:
            if text[j] == "\\":
                j += 2
                continue
            depth += (text[j] == "{") - (text[j] == "}")
            j += 1
        if depth == 0:
            found, k = text[i + 7:j - 1], j
        else:
            k = i + 7
    return found


def _check_recomputed(results: dict, samples: list[dict], name: str, n: int) -> list[dict]:
    mine = [s for s in samples if s["task"] == name]
    t = results["tasks"][name]
    assert len(mine) == n and t["n_samples"] == n and t["category"] == CATEGORY
    metric = t["primary_metric"]
    assert t["score"] == pytest.approx(100 * sum(s["metrics"][metric] for s in mine) / n)
    assert t["score"] == pytest.approx(100 * sum(s["correct"] for s in mine) / n)
    return mine


@pytest.mark.slow
def test_eval_three_tasks_on_a_tiny_model(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path) -> None:
    """A random tiny Qwen2 over the three tasks with --limit 4 (TAL-SCQ5K by likelihood, the math sets generated):
    each task's score recomputed from its samples, each verdict recomputed from the sample's own text."""
    results, samples = _eval(["--model", str(tiny_models["qwen2"]), "--tasks", "olymmath_zh,math24o,tal_scq5k_cn",
                              "--data-dir", str(data_dir), "--limit", "4", "--max-new-tokens", "16"], tmp_path)
    for name in ("olymmath_zh", "math24o"):
        mine = _check_recomputed(results, samples, name, 4)
        assert results["tasks"][name]["mode"] == "generate" and results["tasks"][name]["primary_metric"] == "math_equiv"
        assert results["tasks"][name]["metrics"]["unextracted"] == sum(s["prediction"] is None for s in mine)
        for s in mine:
            box = _last_box(s["output"])
            if box is not None:  # else a final-answer line may have been read, or nothing
                assert s["prediction"] == (box.strip() or None)
            assert s["correct"] == _independent_equal(s["prediction"], s["target"])
    mine = _check_recomputed(results, samples, "tal_scq5k_cn", 4)
    assert results["tasks"]["tal_scq5k_cn"]["mode"] == "likelihood"
    for s in mine:
        assert s["prediction"] == max(s["logprobs"], key=s["logprobs"].get)  # ties: the first label, as the harness
        assert s["correct"] == (s["prediction"] == s["target"])
        assert s["continuations"] == list(s["logprobs"])


@pytest.mark.slow
def test_eval_with_scripted_answers(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path) -> None:
    """Tiny models whose greedy answer is fixed text, so the scores are known by hand: "答案：\\boxed{3}" is right
    for exactly the items whose reference is 3 (OlymMATH-EASY-2-ZH; Math24o MC2417), "答案：\\boxed{C}" for the
    TAL-SCQ5K items whose answer is C."""
    from scripted_model import build_scripted_model

    three = build_scripted_model(tiny_models["qwen2"], tmp_path / "says-3", "答案：\\boxed{3}")
    results, samples = _eval(["--model", str(three), "--tasks", "math24o,olymmath_zh", "--data-dir", str(data_dir),
                              "--limit", "4", "--max-new-tokens", "24"], tmp_path / "r3")
    for name in ("math24o", "olymmath_zh"):
        mine = _check_recomputed(results, samples, name, 4)
        for s in mine:
            assert s["output"].endswith("答案：\\boxed{3}") and s["prediction"] == "3"
            assert s["correct"] == (s["target"] == "3")
    whole, whole_samples = _eval(["--model", str(three), "--tasks", "math24o", "--data-dir", str(data_dir),
                                  "--max-new-tokens", "24"], tmp_path / "r3-all")
    _check_recomputed(whole, whole_samples, "math24o", 21)
    assert [s["sample_id"] for s in whole_samples if s["correct"]] == ["MC2417"]
    assert whole["tasks"]["math24o"]["score"] == pytest.approx(100 / 21)

    says_c = build_scripted_model(tiny_models["qwen2"], tmp_path / "says-c", "答案：\\boxed{C}")
    results, samples = _eval(["--model", str(says_c), "--tasks", "tal_scq5k_cn", "--mode", "generate", "--data-dir",
                              str(data_dir), "--limit", "40", "--max-new-tokens", "24"], tmp_path / "rc")
    mine = _check_recomputed(results, samples, "tal_scq5k_cn", 40)
    assert all(s["prediction"] == "C" and s["correct"] == (s["target"] == "C") for s in mine)
    assert 0 < sum(s["correct"] for s in mine) < 40
