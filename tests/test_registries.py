"""Metrics, extractors and data layouts are registries (issue 15 item 4): a new one is one function, a task file's
unknown name is one line listing what exists, and a task may name a metric of the `evaluate` library, loaded from
a folder beside the task file (offline) and only with --trust-remote-code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import harness
from harness.errors import HarnessError
from harness.scoring.answer_metrics import METRICS, AnswerContext
from harness.scoring.extractors import EXTRACTORS
from harness.scoring.metrics import score_generation
from harness.tasks.readers import LAYOUTS
from harness.tasks.spec import TaskSpec, load_task_spec
from harness.types import GenerateResult, Sample

BASE = {"name": "t", "version": 1, "category": "understanding", "description": "d", "source": "s", "license": "l", "dataset": {"format": "jsonl", "eval": "t.jsonl"},
        "fields": {"id": "id", "question": "q", "target": "a"}, "answer_type": "span", "prompt": "{{ doc.question }}",
        "mode": "generate", "modes": ["generate"], "metrics": ["f1"]}


def _spec_error(tmp_path: Path, **changes: object) -> str:
    doc = {**BASE, **changes}
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(HarnessError) as e:
        load_task_spec(path)
    return str(e.value)


@pytest.mark.parametrize("field, value, needle", [
    ("metrics", ["acuracy"], "unknown metric 'acuracy'; did you mean 'accuracy'"),
    ("metrics", ["bleu"], "known: "),
    ("extraction", "boxd", "unknown extraction 'boxd'; did you mean 'boxed'"),
    ("dataset", {"format": "json", "eval": "t.json", "reader": "squads"}, "unknown dataset.reader 'squads'; did you mean 'squad'"),
])
def test_unknown_names_are_one_line_naming_what_exists(tmp_path: Path, field: str, value: object, needle: str) -> None:
    message = _spec_error(tmp_path, **{field: value})
    assert needle in message and "\n" not in message.strip() and str(tmp_path / "t.yaml") in message


def test_the_spec_accepts_exactly_the_registered_names() -> None:
    from pydantic import TypeAdapter, ValidationError

    from harness.tasks.spec import Extraction, Layout, Metric

    for kind, registry in ((Extraction, EXTRACTORS), (Metric, METRICS), (Layout, LAYOUTS)):
        adapter = TypeAdapter(kind)
        for name in registry:
            assert adapter.validate_python(name) == name
        with pytest.raises(ValidationError):
            adapter.validate_python("no_such_name")
    assert set(LAYOUTS) == {"table", "squad", "c3"}
    assert set(EXTRACTORS) == {"choice", "choice_set", "numeric", "span", "gaokao", "boxed", "answer_letter", "first_letter"}
    metric = TypeAdapter(Metric)
    for name in ("judge_score", "psr", "acebench", "f_score", "pass@1", "pass@10", "evaluate:char_f1"):
        assert metric.validate_python(name) == name
    for name in ("pass@0", "evaluate:", "evaluate:../x"):
        with pytest.raises(ValidationError):
            metric.validate_python(name)


def test_a_new_metric_is_one_function() -> None:
    """Register a function under a name: a task file may list it, and scoring calls it; nothing else changes."""

    @METRICS.register("starts_like_reference")
    def starts_like(prediction: str | None, sample: Sample, ctx: AnswerContext) -> float:
        return 1.0 if prediction and any(prediction[:1] == a[:1] for a in sample.answers) else 0.0

    try:
        spec = TaskSpec.model_validate({**BASE, "metrics": ["f1", "starts_like_reference"]})
        sample = Sample(task="t", sample_id="1", question="?", choices=[], labels=[], target=-1, answers=["北京市"])
        scored = score_generation(sample, GenerateResult(text="北方", finish_reason="stop"), spec.metrics, spec.extractor, spec.answer_type)
        assert scored.metrics == {"f1": pytest.approx(0.4), "starts_like_reference": 1.0}
        with pytest.raises(ValueError, match="registered twice"):
            METRICS.register("starts_like_reference")(starts_like)
    finally:
        METRICS._table.pop("starts_like_reference")


# A character-level F1 as an `evaluate` module, as a user would write one: hand-worked values below.
MODULE = '''import collections

import datasets
import evaluate


class CharF1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="character F1", citation="", inputs_description="",
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}))

    def _compute(self, predictions, references):
        total = 0.0
        for p, r in zip(predictions, references):
            common = sum((collections.Counter(p) & collections.Counter(r)).values())
            total += 0.0 if common == 0 else 2 * common / (len(p) + len(r))
        return {"char_f1": 100 * total / len(predictions)}
'''


def _evaluate_task(root: Path, module: str = "char_f1") -> tuple[Path, Path]:
    tasks, data = root / "tasks", root / "data"
    (tasks / "char_f1").mkdir(parents=True)
    (tasks / "char_f1" / "char_f1.py").write_text(MODULE, encoding="utf-8")
    spec = {**BASE, "name": "city_qa", "dataset": {"format": "jsonl", "eval": "city/city.jsonl"},
            "fields": {"id": "id", "question": "q", "target": "answers"}, "generation": {"max_new_tokens": 8},
            "metrics": ["evaluate:char_f1", "exact_match"],
            "evaluate": {"char_f1": {"module": module, "key": "char_f1"}}}
    (tasks / "city_qa.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    (data / "city").mkdir(parents=True)
    rows = [{"id": "1", "q": "首都？", "answers": ["北京"]}, {"id": "2", "q": "首都全称？", "answers": ["北京市"]},
            {"id": "3", "q": "最大城市？", "answers": ["上海"]}, {"id": "4", "q": "直辖市？", "answers": ["天津", "北京"]}]
    (data / "city" / "city.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return tasks, data


@pytest.fixture(scope="module")
def beijing_model(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from scripted_model import build_scripted_model

    return build_scripted_model(tiny_models["qwen2"], tmp_path_factory.mktemp("bj") / "scripted-beijing", "北京")


def test_an_evaluate_metric_from_a_local_folder(tmp_path: Path, beijing_model: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The model always answers 北京. Character F1 by hand: 北京/北京 1; 北京/北京市 2·2/(2+3) = 0.8; 北京/上海 0;
    best of 天津 (0.5) and 北京 (1) = 1. Mean 2.8/4 = 70. Exact match: 1, 0, 0, 1 = 50."""
    tasks, data = _evaluate_task(tmp_path)
    monkeypatch.setenv("HARNESS_TASKS_DIR", str(tasks))
    with pytest.raises(HarnessError, match=r"field 'evaluate': task city_qa scores with evaluate modules \(char_f1\), "
                                           r"which are Python code; run with --trust-remote-code"):
        harness.evaluate(str(beijing_model), ["city_qa"], data_dir=data)
    out = tmp_path / "out"
    result = harness.evaluate(str(beijing_model), ["city_qa"], data_dir=data, trust_remote_code=True, output_dir=out)
    block = result.results.tasks["city_qa"]
    assert block.primary_metric == "evaluate:char_f1"
    assert block.score == pytest.approx(70.0)
    assert block.metrics.model_dump()["exact_match"] == pytest.approx(50.0)
    source = block.model_extra["evaluate_modules"]["char_f1"]
    assert source["kind"] == "folder" and len(source["sha256"]) == 64
    assert sorted(s["metrics"]["evaluate:char_f1"] for s in result.samples()) == pytest.approx([0.0, 0.8, 1.0, 1.0])


def test_evaluate_module_problems_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.scoring.evaluate_metric import load_evaluate_metrics
    from harness.tasks.task import Task

    tasks, _ = _evaluate_task(tmp_path / "a", module="./no_such_folder")
    with pytest.raises(HarnessError, match=r"field 'evaluate'\.char_f1\.module: no folder .*no_such_folder"):
        load_evaluate_metrics(Task.load(tasks / "city_qa.yaml"), trust_remote_code=True)
    tasks, _ = _evaluate_task(tmp_path / "b")
    (tasks / "char_f1" / "char_f1.py").write_text("import evaluate\nraise RuntimeError('broken module')\n")
    with pytest.raises(HarnessError, match=r"char_f1\.module: cannot load 'char_f1': .*broken module"):
        load_evaluate_metrics(Task.load(tasks / "city_qa.yaml"), trust_remote_code=True)
    tasks, _ = _evaluate_task(tmp_path / "c", module="someone/no_such_metric")  # a hub name, and no hub here
    with pytest.raises(HarnessError, match=r"cannot load 'someone/no_such_metric': .*a hub name needs the hub; offline, "
                                           r"give a folder beside the task file"):
        load_evaluate_metrics(Task.load(tasks / "city_qa.yaml"), trust_remote_code=True)
    message = _spec_error(tmp_path, metrics=["evaluate:bleu"])
    assert "metric evaluate:bleu needs an entry evaluate.bleu" in message
    message = _spec_error(tmp_path, metrics=["evaluate:x"], evaluate={"x": {"module": "x"}}, modes=["likelihood", "generate"],
                          answer_type="choice", fields={"id": "id", "question": "q", "target": "a", "choices": ["A", "B"]})
    assert "evaluate metrics score an answer read out of a reply" in message
