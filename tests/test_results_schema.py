"""The results schema (harness/results/schema.py) holds for what the harness writes: a real run's results file and
a Ray merge of shard runs validate against the models and against the checked-in JSON Schema, which must be the
one the models generate; a writer that produces a mismatch says which field, and still keeps the file."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from needs import require

from harness.errors import HarnessError
from harness.results.files import results_text, write_results
from harness.results.schema import (
    SCHEMA_FILE,
    SCHEMA_VERSION,
    SchemaError,
    json_schema_text,
    validate_results,
    validate_sample,
)
from harness.run.launch_ray import merge_shards
from harness.run.runner import EvalConfig, open_model, run_eval

try:
    import jsonschema
except ImportError:  # comes with Ray, a test extra
    jsonschema = None


def test_the_checked_in_json_schema_is_current() -> None:
    assert SCHEMA_FILE.is_file(), f"{SCHEMA_FILE} missing: python -m harness.results.schema --write"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == json_schema_text(), (
        "schemas/results.schema.json is out of date with harness/results/schema.py: "
        "python -m harness.results.schema --write")


@pytest.fixture(scope="module")
def shards(tiny_models: dict[str, Path], data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two shard runs of one tiny model, as Ray workers make them: likelihood and generate tasks in one, an
    execution task in the other."""
    out = tmp_path_factory.mktemp("schema-runs")
    cfg = EvalConfig(model=str(tiny_models["qwen2"]), tasks=[], data_dir=data_dir, output_dir=out, limit=2,
                     max_new_tokens=8, batch_size="2", cache="off", progress=False,
                     command=["harness", "eval", "--model", "tiny-qwen2"])
    opened = open_model(cfg, cfg.model, cfg.backend, cfg.base_url, cfg.api_key_env)
    runs = [run_eval(dataclasses.replace(cfg, tasks=tasks, output_dir=out / f"s{i}"), opened)
            for i, tasks in enumerate((["ceval", "cmath"], ["humaneval_zh"]))]
    return {"cfg": cfg, "out": out, "runs": runs}


def test_a_run_writes_a_file_that_matches_the_schema(shards: dict[str, Any]) -> None:
    for results, path in shards["runs"]:
        text = path.read_text(encoding="utf-8")
        assert text == results_text(results)  # what the run returned is what it wrote, as the schema saw it
        data = json.loads(text)
        typed = validate_results(data)
        assert typed.schema_version == SCHEMA_VERSION == data["schema_version"] == 2
        assert typed.model.name == "tiny-qwen2" and typed.throughput is not None and typed.throughput.accelerator
        for name, task in typed.tasks.items():
            assert task.n_samples == 2 and task.score is not None and task.context is not None, name
        assert sorted(typed.tasks) in (["ceval", "cmath"], ["humaneval_zh"])
        lines = (path.parent / data["samples_file"]).read_text(encoding="utf-8").splitlines()
        assert lines and all(validate_sample(json.loads(x)) for x in lines)


def test_the_checked_in_json_schema_accepts_what_a_run_writes(shards: dict[str, Any]) -> None:
    require(jsonschema is not None, "jsonschema (installed with Ray, a test extra) is not installed")
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    for _, path in shards["runs"]:
        jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), schema)
    with pytest.raises(jsonschema.ValidationError):  # and it is not a schema that accepts anything
        jsonschema.validate({"schema_version": 2, "model": {"name": "m"}, "tasks": {"t": {"version": 1,
                             "n_samples": 1, "score": "high"}}}, schema)


def test_a_ray_merge_writes_a_file_that_matches_the_schema(shards: dict[str, Any]) -> None:
    cfg = dataclasses.replace(shards["cfg"], output_dir=shards["out"] / "merged")
    parts = [{"results": r, "path": str(p)} for r, p in shards["runs"]]
    merged, path = merge_shards(cfg, parts, ["ceval", "cmath", "humaneval_zh"])
    text = path.read_text(encoding="utf-8")
    assert text == results_text(merged)
    typed = validate_results(json.loads(text))
    assert list(typed.tasks) == ["ceval", "cmath", "humaneval_zh"]
    assert typed.launcher is not None and typed.launcher.kind == "ray" and len(typed.launcher.shards) == 2
    assert typed.throughput is not None and typed.throughput.seconds_are == "summed over workers"
    assert typed.throughput.samples == sum(r["throughput"]["samples"] for r, _ in shards["runs"])
    n_lines = sum(len((p.parent / r["samples_file"]).read_text(encoding="utf-8").splitlines())
                  for r, p in shards["runs"])
    assert len((path.parent / merged["samples_file"]).read_text(encoding="utf-8").splitlines()) == n_lines == 6


def test_a_ray_merge_names_a_shard_file_it_cannot_read(shards: dict[str, Any], tmp_path: Path) -> None:
    (results, path) = shards["runs"][1]
    broken = tmp_path / "s1" / path.name
    broken.parent.mkdir()
    data = json.loads(path.read_text(encoding="utf-8"))
    data["tasks"]["humaneval_zh"]["score"] = "high"
    broken.write_text(json.dumps(data), encoding="utf-8")
    cfg = dataclasses.replace(shards["cfg"], output_dir=tmp_path / "merged")
    with pytest.raises(HarnessError) as e:
        merge_shards(cfg, [{"results": results, "path": str(broken)}], ["humaneval_zh"])
    assert str(e.value) == (f"--launcher ray: shard results {broken} cannot be merged: "
                            'tasks.humaneval_zh.score: should be a number (got "high")')


def test_a_writer_mismatch_names_the_field_and_keeps_the_file(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    bad = {"schema_version": SCHEMA_VERSION, "model": {"name": "m"},
           "tasks": {"t": {"version": 1, "n_samples": 1, "score": 50.0, "context": {"skipped": "some"}}}}
    with pytest.raises(HarnessError) as e:
        write_results(path, bad)
    assert str(e.value) == (f"{path}: written, but it does not match the results schema at tasks.t.context.skipped: "
                            'should be a whole number (got "some"); the leaderboard will skip it (a harness bug: '
                            "please report it)")
    assert json.loads(path.read_text(encoding="utf-8")) == bad  # nothing lost


def test_results_from_before_the_schema_still_validate() -> None:
    """schema_version 1 files as the tests and older harnesses wrote them: only the fields the board needs."""
    old = {"schema_version": 1, "finished_at": "2026-01-01",
           "model": {"name": "a-7b", "family": "a", "type": "chat"},
           "throughput": {"accelerator": {"kind": "cuda", "name": "H100"}},
           "tasks": {"ceval": {"score": 80, "score_stderr": 1, "version": 1, "template_hash": "p1",
                               "n_samples": 100, "category": "knowledge"}}}
    typed = validate_results(old)
    assert typed.tasks["ceval"].score == 80 and typed.schema_version == 1
    with pytest.raises(SchemaError) as e:
        validate_results({**old, "tasks": {"ceval": {"score": 80, "version": 1}}})
    assert str(e.value) == "tasks.ceval.n_samples: missing"
