"""Bad data files through the real entry point: each ends in exit code 2 and ONE line naming the task, the data
file, the task field at fault and what to do, never a Python traceback. All of them fail while the tasks are
planned, before any model is loaded, so a folder holding only a config.json stands in for the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli_errors import assert_one_line_error, fake_model, run_cli, write_task


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return fake_model(tmp_path / "fake-model")


def _run(tmp_path: Path, model: Path, task: str):
    return run_cli("eval", "--model", str(model), "--tasks", task, "--data-dir", str(tmp_path / "data"),
                   cwd=tmp_path, env_extra={"HARNESS_TASKS_DIR": str(tmp_path / "tasks")})


def _data(tmp_path: Path, rel: str, content: str | bytes) -> Path:
    path = tmp_path / "data" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


GAOKAO_LIKE = {"keywords": "x", "example": [{"index": 0, "question": "1+1=?\nA. 1\nB. 2\nC. 3\nD. 4", "answer": ["B"]}]}


def _json_task(tmp_path: Path, name: str, **dataset) -> None:
    write_task(tmp_path / "tasks", name,
               dataset={"format": "json", "eval": f"{name}/test.json", **dataset},
               fields={"question": "question", "choices": "question", "target": "answer"})


# ---------------------------------------------------------------- dataset.records


def test_records_key_missing(tmp_path: Path, model: Path) -> None:
    _data(tmp_path, "recs/test.json", json.dumps(GAOKAO_LIKE))
    _json_task(tmp_path, "recs", records="examples")
    proc = _run(tmp_path, model, "recs")
    assert_one_line_error(proc, "task recs", "recs/test.json", "dataset.records", "'examples'", "example")


def test_records_path_into_a_list(tmp_path: Path, model: Path) -> None:
    _data(tmp_path, "recs2/test.json", json.dumps(GAOKAO_LIKE))
    _json_task(tmp_path, "recs2", records="example.items")
    proc = _run(tmp_path, model, "recs2")
    assert_one_line_error(proc, "task recs2", "recs2/test.json", "dataset.records", "'items'")


def test_records_not_a_list(tmp_path: Path, model: Path) -> None:
    _data(tmp_path, "recs3/test.json", json.dumps(GAOKAO_LIKE))
    _json_task(tmp_path, "recs3", records="keywords")
    proc = _run(tmp_path, model, "recs3")
    assert_one_line_error(proc, "task recs3", "recs3/test.json", "dataset.records", "list")


# ---------------------------------------------------------------- dataset.subsets_from


def _subsets_task(tmp_path: Path, name: str, **subsets_from) -> None:
    _data(tmp_path, f"{name}/test.json", json.dumps(GAOKAO_LIKE))
    _data(tmp_path, f"{name}/prompts.json", json.dumps({"examples": [{"keywords": "a", "prefix_prompt": "p"}]}))
    _json_task(tmp_path, name, records="example", subsets_from=subsets_from)


def test_subsets_from_path_missing(tmp_path: Path, model: Path) -> None:
    _subsets_task(tmp_path, "sfpath", path="sfpath/nosuch.json", records="examples", key="keywords")
    proc = _run(tmp_path, model, "sfpath")
    assert_one_line_error(proc, "task sfpath", "dataset.subsets_from.path", "sfpath/nosuch.json", "not found")


def test_subsets_from_records_wrong(tmp_path: Path, model: Path) -> None:
    _subsets_task(tmp_path, "sfrec", path="sfrec/prompts.json", records="example", key="keywords")
    proc = _run(tmp_path, model, "sfrec")
    assert_one_line_error(proc, "task sfrec", "sfrec/prompts.json", "dataset.subsets_from.records", "'example'", "examples")


def test_subsets_from_key_wrong(tmp_path: Path, model: Path) -> None:
    _subsets_task(tmp_path, "sfkey", path="sfkey/prompts.json", records="examples", key="keyword")
    proc = _run(tmp_path, model, "sfkey")
    assert_one_line_error(proc, "task sfkey", "sfkey/prompts.json", "dataset.subsets_from.key", "'keyword'", "keywords")


# ---------------------------------------------------------------- encodings and empty files


def _csv_task(tmp_path: Path, name: str, **dataset) -> None:
    write_task(tmp_path / "tasks", name, dataset={"format": "csv", "eval": f"{name}/test.csv", **dataset})


def test_csv_not_utf8_in_the_header(tmp_path: Path, model: Path) -> None:
    _data(tmp_path, "gbk/test.csv", "question,A,B,C,D,answer\n一加一,1,2,3,4,B\n".encode("gbk"))
    _csv_task(tmp_path, "gbk")
    proc = _run(tmp_path, model, "gbk")
    assert_one_line_error(proc, "task gbk", "gbk/test.csv", "UTF-8", "line 2", "iconv")


def test_csv_not_utf8_far_into_the_file(tmp_path: Path, model: Path) -> None:
    rows = "".join(f"q{i},1,2,3,4,A\n" for i in range(5000))
    _data(tmp_path, "late/test.csv", ("question,A,B,C,D,answer\n" + rows).encode() + "最后一题,1,2,3,4,B\n".encode("gbk"))
    _csv_task(tmp_path, "late")
    proc = _run(tmp_path, model, "late")
    assert_one_line_error(proc, "task late", "late/test.csv", "UTF-8", "line 5002")


def test_csv_not_utf8_with_column_names(tmp_path: Path, model: Path) -> None:
    _data(tmp_path, "gbk2/test.csv", "一加一,1,2,3,4,B\n".encode("gbk"))
    _csv_task(tmp_path, "gbk2", column_names=["question", "A", "B", "C", "D", "answer"])
    proc = _run(tmp_path, model, "gbk2")
    assert_one_line_error(proc, "task gbk2", "gbk2/test.csv", "UTF-8")


def test_jsonl_not_utf8(tmp_path: Path, model: Path) -> None:
    line = json.dumps({"question": "一加一", "A": "1", "B": "2", "C": "3", "D": "4", "answer": "B"}, ensure_ascii=False)
    _data(tmp_path, "jl/test.jsonl", line.encode("gbk") + b"\n")
    write_task(tmp_path / "tasks", "jl", dataset={"format": "jsonl", "eval": "jl/test.jsonl"})
    proc = _run(tmp_path, model, "jl")
    assert_one_line_error(proc, "task jl", "jl/test.jsonl", "UTF-8", "line 1")


def test_empty_csv(tmp_path: Path, model: Path) -> None:
    _data(tmp_path, "empty/test.csv", "")
    _csv_task(tmp_path, "empty")
    proc = _run(tmp_path, model, "empty")
    assert_one_line_error(proc, "task empty", "empty/test.csv", "empty", "header", "dataset.column_names")


def test_empty_csv_among_subsets(tmp_path: Path, model: Path) -> None:
    _data(tmp_path, "subs/a.csv", "question,A,B,C,D,answer\nq,1,2,3,4,A\n")
    _data(tmp_path, "subs/b.csv", "")
    write_task(tmp_path / "tasks", "subs", dataset={"format": "csv", "eval": "subs/{subset}.csv"})
    proc = _run(tmp_path, model, "subs")
    assert_one_line_error(proc, "task subs", "subs/b.csv", "empty")


# ---------------------------------------------------------------- nothing to evaluate


def test_header_only_csv_has_no_rows(tmp_path: Path, model: Path) -> None:
    """A split without rows used to write a results file with n=0 and exit 0."""
    _data(tmp_path, "norows/test.csv", "question,A,B,C,D,answer\n")
    _csv_task(tmp_path, "norows")
    proc = _run(tmp_path, model, "norows")
    assert_one_line_error(proc, "task norows", "norows/test.csv", "no rows")
    assert not (tmp_path / "results").exists()


def test_every_row_excluded(tmp_path: Path, model: Path) -> None:
    _data(tmp_path, "allout/test.csv", "question,A,B,C,D,answer\nq,1,2,3,4,-\n")
    _csv_task(tmp_path, "allout", exclude={"answer": ["-"]})
    proc = _run(tmp_path, model, "allout")
    assert_one_line_error(proc, "task allout", "allout/test.csv", "no rows", "dataset.exclude")


def test_empty_jsonl_has_no_rows(tmp_path: Path, model: Path) -> None:
    _data(tmp_path, "nojl/test.jsonl", "\n")
    write_task(tmp_path / "tasks", "nojl", dataset={"format": "jsonl", "eval": "nojl/test.jsonl"})
    proc = _run(tmp_path, model, "nojl")
    assert_one_line_error(proc, "task nojl", "nojl/test.jsonl", "no rows")
