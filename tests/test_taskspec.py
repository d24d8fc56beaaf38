"""The task file format: the real task files load with the fields they declare, and every invalid spec fails
as one HarnessError that names the file and the field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from pydantic import ValidationError

from harness.errors import HarnessError
from harness.tasks.spec import TaskSpec, load_task_spec

REPO = Path(__file__).resolve().parent.parent
KNOWLEDGE = REPO / "tasks" / "knowledge"


# ---------------------------------------------------------------- the real tasks


def test_ceval_spec() -> None:
    spec = load_task_spec(KNOWLEDGE / "ceval.yaml")
    assert spec.name == "ceval"
    assert spec.version == 1
    assert spec.category == "knowledge"
    assert spec.license == "CC BY-NC-SA 4.0"
    assert "hkust-nlp/ceval" in spec.source
    assert spec.dataset.format == "csv"
    assert spec.dataset.eval == "ceval/val/{subset}_val.csv"
    assert spec.dataset.fewshot == "ceval/dev/{subset}_dev.csv"
    assert spec.dataset.column_names is None
    hub = spec.dataset.hub
    assert (hub.path, hub.name, hub.eval_split, hub.fewshot_split) == ("ceval/ceval-exam", "{subset}", "val", "dev")
    assert spec.subsets is not None and len(spec.subsets) == 52
    acc = spec.subsets["accountant"]
    assert (acc.zh, acc.en, acc.model_dump()["group"]) == ("注册会计师", "Accountant", "Other")
    assert spec.subsets["high_school_physics"].zh == "高中物理"
    assert {s.model_dump()["group"] for s in spec.subsets.values()} == {"STEM", "Social Science", "Humanities", "Other"}
    assert all(s.zh and s.en for s in spec.subsets.values())
    assert spec.fields.id == "id"
    assert spec.fields.question == "question"
    assert spec.fields.choices == ["A", "B", "C", "D"]
    assert spec.fields.target == "answer"
    assert spec.labels == ["A", "B", "C", "D"]
    assert spec.prompt == "ceval.jinja"
    assert spec.continuation == "{{ label }}"
    assert spec.num_fewshot == 0
    assert spec.mode == "likelihood"
    assert spec.modes == ["likelihood", "generate"]
    assert spec.generation.max_new_tokens == 32
    assert spec.generation.stop == ["\n\n"]
    assert spec.extraction == "choice"
    assert spec.metrics == ["accuracy"]
    assert spec.group_by == ["subset", "group"]
    assert spec.aggregate == "macro"


def test_cmmlu_spec() -> None:
    spec = load_task_spec(KNOWLEDGE / "cmmlu.yaml")
    assert (spec.name, spec.version, spec.category) == ("cmmlu", 1, "knowledge")
    assert spec.dataset.format == "csv"
    assert spec.dataset.eval == "cmmlu/test/{subset}.csv"
    assert spec.dataset.fewshot == "cmmlu/dev/{subset}.csv"
    assert spec.dataset.hub.path == "haonan-li/cmmlu"
    assert (spec.dataset.hub.eval_split, spec.dataset.hub.fewshot_split) == ("test", "dev")
    assert spec.subsets is not None and len(spec.subsets) == 67
    anatomy = spec.subsets["anatomy"].model_dump()
    assert (anatomy["zh"], anatomy["en"], anatomy["group"]) == ("解剖学", "Anatomy", ["STEM"])
    assert "China specific" in spec.subsets["chinese_history"].model_dump()["group"]
    assert spec.fields.id == "Unnamed: 0"
    assert (spec.fields.question, spec.fields.choices, spec.fields.target) == ("Question", ["A", "B", "C", "D"], "Answer")
    assert spec.prompt == "cmmlu.jinja"
    assert (spec.mode, spec.modes, spec.num_fewshot) == ("likelihood", ["likelihood", "generate"], 0)
    assert (spec.group_by, spec.aggregate, spec.metrics) == (["subset", "group"], "macro", ["accuracy"])


def test_spec_is_frozen() -> None:
    spec = load_task_spec(KNOWLEDGE / "ceval.yaml")
    with pytest.raises(ValidationError):
        spec.num_fewshot = 5  # type: ignore[misc]


# ---------------------------------------------------------------- invalid specs


def base() -> dict[str, Any]:
    return {
        "name": "mini",
        "version": 1,
        "category": "test",
        "description": "a test task",
        "source": "tests",
        "license": "MIT",
        "dataset": {"format": "csv", "eval": "mini/test.csv", "fewshot": "mini/dev.csv"},
        "fields": {"question": "question", "choices": ["A", "B", "C", "D"], "target": "answer"},
        "prompt": "{{ doc.question }}",
    }


def write(tmp_path: Path, data: Any, name: str = "mini.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def mutate(fn: Callable[[dict], None]) -> dict:
    d = copy.deepcopy(base())
    fn(d)
    return d


def _set(d: dict, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for p in parents:
        d = d[p]
    d[last] = value


def _del(d: dict, dotted: str) -> None:
    *parents, last = dotted.split(".")
    for p in parents:
        d = d[p]
    del d[last]


def test_base_spec_is_valid(tmp_path: Path) -> None:
    """The starting point of every invalid case below is itself valid, so each case fails for its own reason."""
    spec = load_task_spec(write(tmp_path, base()))
    assert isinstance(spec, TaskSpec)
    assert spec.labels == ["A", "B", "C", "D"] and spec.mode == "likelihood" and spec.aggregate == "micro"


INVALID: list[tuple[str, Callable[[dict], None], list[str]]] = [
    # (case id, mutation of the valid base, words the message must contain besides the file)
    ("mode_not_in_modes", lambda d: d.update(mode="generate", modes=["likelihood"]), ["mode", "generate", "modes"]),
    ("unknown_mode", lambda d: d.update(mode="guess"), ["mode"]),
    ("unknown_mode_in_modes", lambda d: d.update(modes=["likelihood", "sampling"]), ["modes"]),
    ("macro_without_group_by", lambda d: d.update(aggregate="macro"), ["macro", "group_by"]),
    ("unknown_aggregate", lambda d: d.update(aggregate="weighted", group_by=["subset"]), ["aggregate"]),
    ("duplicate_labels", lambda d: d.update(labels=["A", "B", "B", "D"]), ["labels"]),
    ("absolute_eval_path", lambda d: _set(d, "dataset.eval", "/etc/passwd"), ["dataset.eval"]),
    ("dotdot_eval_path", lambda d: _set(d, "dataset.eval", "../secret/test.csv"), ["dataset.eval"]),
    ("inner_dotdot_eval_path", lambda d: _set(d, "dataset.eval", "mini/{subset}/../../../x.csv"), ["dataset.eval"]),
    ("absolute_fewshot_path", lambda d: _set(d, "dataset.fewshot", "/tmp/dev.csv"), ["dataset.fewshot"]),
    ("dotdot_fewshot_path", lambda d: _set(d, "dataset.fewshot", "mini/../../dev.csv"), ["dataset.fewshot"]),
    ("uppercase_name", lambda d: d.update(name="CEval"), ["name"]),
    ("name_with_space", lambda d: d.update(name="my task"), ["name"]),
    ("name_with_slash", lambda d: d.update(name="a/b"), ["name"]),
    ("name_starting_with_dash", lambda d: d.update(name="-x"), ["name"]),
    ("empty_name", lambda d: d.update(name=""), ["name"]),
    ("fewshot_without_split", lambda d: (d.update(num_fewshot=5), _del(d, "dataset.fewshot")), ["num_fewshot", "fewshot"]),
    ("negative_num_fewshot", lambda d: d.update(num_fewshot=-1), ["num_fewshot"]),
    ("num_fewshot_not_a_number", lambda d: d.update(num_fewshot="many"), ["num_fewshot"]),
    ("unknown_top_level_field", lambda d: d.update(num_shots=5), ["num_shots"]),
    ("unknown_nested_field", lambda d: _set(d, "fields.answer", "answer"), ["fields.answer"]),
    ("unknown_dataset_format", lambda d: _set(d, "dataset.format", "parquet"), ["dataset.format"]),
    ("missing_required_field", lambda d: _del(d, "license"), ["license"]),
    ("missing_nested_field", lambda d: _del(d, "fields.target"), ["fields.target"]),
    ("labels_not_a_list", lambda d: d.update(labels="ABCD"), ["labels"]),
    ("zero_max_new_tokens", lambda d: d.update(generation={"max_new_tokens": 0}), ["generation.max_new_tokens"]),
    ("unknown_metric", lambda d: d.update(metrics=["bleu"]), ["metrics"]),
    ("unknown_extraction", lambda d: d.update(extraction="regex"), ["extraction"]),
    ("hub_without_eval_split", lambda d: _set(d, "dataset.hub", {"path": "org/data"}), ["dataset.hub.eval_split"]),
    ("subsets_not_a_mapping", lambda d: d.update(subsets=["a", "b"]), ["subsets"]),
]


@pytest.mark.parametrize("case,fn,words", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_spec(tmp_path: Path, case: str, fn: Callable[[dict], None], words: list[str]) -> None:
    path = write(tmp_path, mutate(fn))
    with pytest.raises(HarnessError) as exc:
        load_task_spec(path)
    msg = str(exc.value)
    assert str(path) in msg, msg
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"
    assert "\n" not in msg, msg  # one line for the CLI
    assert exc.value.__cause__ is None and exc.value.__suppress_context__  # no chained pydantic traceback


VALID_VARIANTS: list[tuple[str, Callable[[dict], None]]] = [
    # near misses of the invalid cases above, which must load
    ("fewshot_from_hub_split", lambda d: (d.update(num_fewshot=5), _del(d, "dataset.fewshot"),
                                          _set(d, "dataset.hub", {"path": "org/data", "eval_split": "test", "fewshot_split": "dev"}))),
    ("macro_with_group_by", lambda d: d.update(aggregate="macro", group_by=["subset"])),
    ("generate_only", lambda d: d.update(mode="generate", modes=["generate"])),
    ("name_with_digits_dash_underscore", lambda d: d.update(name="c3-d_v2")),
    ("dots_inside_file_name", lambda d: _set(d, "dataset.eval", "mini/v1..2/test.csv")),
    ("subset_pattern", lambda d: _set(d, "dataset.eval", "mini/{subset}/test.csv")),
    ("string_version", lambda d: d.update(version="2024-01")),
    ("more_labels", lambda d: d.update(labels=["A", "B", "C", "D", "E"])),
    ("choices_in_one_column", lambda d: _set(d, "fields.choices", "options")),
]


@pytest.mark.parametrize("case,fn", VALID_VARIANTS, ids=[c[0] for c in VALID_VARIANTS])
def test_valid_variant(tmp_path: Path, case: str, fn: Callable[[dict], None]) -> None:
    data = mutate(fn)
    spec = load_task_spec(write(tmp_path, data, f"{data['name']}.yaml"))
    assert spec.name == data["name"]


def test_name_must_match_the_file_name(tmp_path: Path) -> None:
    """Tasks are found by file name: a task file naming itself differently would be listed under one name and
    reported under another."""
    path = write(tmp_path, mutate(lambda d: d.update(name="other")))
    with pytest.raises(HarnessError, match=r"mini.yaml: field 'name': 'other' differs from the file name; rename"):
        load_task_spec(path)


def test_gaokao_answers_need_the_question_type_source(tmp_path: Path) -> None:
    """Without a `type` per subset every GAOKAO item was scored as single choice (multi-answer partial credit lost)."""
    data = mutate(lambda d: (d.update(answer_type="gaokao", mode="generate", modes=["generate"], metrics=["gaokao_score"]),
                             _del(d, "fields.choices")))
    with pytest.raises(HarnessError, match=r"field 'dataset.subsets_from': answer_type gaokao scores by question type"):
        load_task_spec(write(tmp_path, data))


def test_not_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "name: mini\nfields: {question: q, choices: [A, B\nprompt: x\n")
    with pytest.raises(HarnessError) as exc:
        load_task_spec(path)
    msg = str(exc.value)
    assert str(path) in msg and "not valid YAML" in msg and "line " in msg


@pytest.mark.parametrize("text", ["", "- name: mini\n- version: 1\n", "just a string\n"], ids=["empty", "list", "scalar"])
def test_not_a_mapping(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(HarnessError) as exc:
        load_task_spec(path)
    assert str(path) in str(exc.value) and "mapping" in str(exc.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(HarnessError) as exc:
        load_task_spec(path)
    assert str(path) in str(exc.value)


def test_subsets_file_is_loaded(tmp_path: Path) -> None:
    (tmp_path / "mini.subsets.yaml").write_text("alpha: {zh: 甲, group: G1}\nbeta: {zh: 乙, group: G2}\n", encoding="utf-8")
    d = base()
    d["subsets"] = "mini.subsets.yaml"
    spec = load_task_spec(write(tmp_path, d))
    assert list(spec.subsets) == ["alpha", "beta"]
    assert spec.subsets["beta"].zh == "乙" and spec.subsets["beta"].model_dump()["group"] == "G2"


def test_missing_subsets_file(tmp_path: Path) -> None:
    d = base()
    d["subsets"] = "absent.subsets.yaml"
    path = write(tmp_path, d)
    with pytest.raises(HarnessError) as exc:
        load_task_spec(path)
    msg = str(exc.value)
    assert str(path) in msg and "subsets" in msg and "absent.subsets.yaml" in msg


def test_broken_subsets_file(tmp_path: Path) -> None:
    (tmp_path / "bad.subsets.yaml").write_text("alpha: [unclosed\n", encoding="utf-8")
    d = base()
    d["subsets"] = "bad.subsets.yaml"
    path = write(tmp_path, d)
    with pytest.raises(HarnessError) as exc:
        load_task_spec(path)
    assert str(path) in str(exc.value) and "subsets" in str(exc.value) and "bad.subsets.yaml" in str(exc.value)


def test_broken_subsets_file_message_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.subsets.yaml").write_text("alpha: [unclosed\n", encoding="utf-8")
    d = base()
    d["subsets"] = "bad.subsets.yaml"
    with pytest.raises(HarnessError) as exc:
        load_task_spec(write(tmp_path, d))
    assert "\n" not in str(exc.value), str(exc.value)


def test_only_first_error_is_spelled_out(tmp_path: Path) -> None:
    d = base()
    d.update(num_fewshot="many", labels="ABCD", colour="red")
    path = write(tmp_path, d)
    with pytest.raises(HarnessError) as exc:
        load_task_spec(path)
    assert "(and 2 more)" in str(exc.value)
