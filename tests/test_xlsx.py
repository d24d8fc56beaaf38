"""The .xlsx reader (dataset.format xlsx, harness/tasks/data.py): the real Math24o workbook read row for row as its XML says,
workbooks written here (sheet choice, header-less sheets, blank rows, cell types), and one-line errors naming the
file for a broken workbook, a missing sheet, a repeated column name and a row wider than its header."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from test_cli_errors import assert_one_line_error, fake_model, run_cli
from test_math_equiv import math24o_rows

from harness.errors import HarnessError
from harness.tasks.data import load_split, sha256_file
from harness.tasks.spec import load_task_spec
from harness.tasks.task import Task, discover_tasks


def _task(folder: Path, name: str, dataset: dict, fields: dict | None = None, **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"name": name, "version": 1, "category": "test", "description": "d", "source": "tests", "license": "MIT",
            "dataset": dataset, "fields": fields or {"id": "id", "question": "q", "target": "a"},
            "answer_type": "math", "metrics": ["math_equiv"], "mode": "generate", "modes": ["generate"],
            "prompt": "{{ doc.question }}", **extra}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


def _workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        ws = book.create_sheet(title)
        for r in rows:
            ws.append(r)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def test_math24o_rows_are_the_sheet(data_dir: Path) -> None:
    """All 21 rows, every cell as the workbook's XML holds it (ids and questions text, answers numbers: 10 an int,
    0.25 a float); the 25 blank trailing rows are not rows; the file is hashed as it is (binary, not UTF-8)."""
    task = Task.load(discover_tasks()["math24o"])
    data = load_split(task.spec, "eval", data_dir)
    rows = data.rows["_all"]
    raw = math24o_rows(data_dir)
    assert raw[0] == ["id", "questions", "ref_answers"]
    assert rows == [dict(zip(raw[0], r)) for r in raw[1:]]
    assert len(rows) == 21 and [r["id"] for r in rows] == [f"MC24{i:02d}" for i in range(1, 22)]
    assert type(rows[0]["ref_answers"]) is int and rows[2]["ref_answers"] == 0.25
    assert data.file_hashes == {"math24o/math24o.xlsx": sha256_file(data_dir / "math24o/math24o.xlsx")}


def test_sheet_choice_header_and_types(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _workbook(data / "w/book.xlsx", {
        "first": [["id", "q", "a"], ["x1", "不是这张表", 1]],
        "items": [["id", "q", "a", None], [None, None, None], ["a1", "1+1=?", 2], [None, None, None],
                  ["a2", "日期", dt.date(2024, 9, 8)], ["a3", "半", 0.5], [None, None, None]],
    })
    path = _task(tmp_path / "tasks", "book", {"format": "xlsx", "eval": "w/book.xlsx", "sheet": "items"})
    rows = load_split(load_task_spec(path), "eval", data).rows["_all"]
    assert rows == [{"id": "a1", "q": "1+1=?", "a": 2}, {"id": "a2", "q": "日期", "a": "2024-09-08T00:00:00"},
                    {"id": "a3", "q": "半", "a": 0.5}]
    first = _task(tmp_path / "tasks", "book1", {"format": "xlsx", "eval": "w/book.xlsx"})  # no sheet: the first
    assert load_split(load_task_spec(first), "eval", data).rows["_all"] == [{"id": "x1", "q": "不是这张表", "a": 1}]
    samples = Task.load(path).samples(data)
    assert [s.answers for s in samples] == [("2",), ("2024-09-08T00:00:00",), ("0.5",)]


def test_headerless_sheet_with_column_names(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _workbook(data / "h/rows.xlsx", {"S": [["b1", "3+4", 7], ["b2", "2*5", 10]]})
    path = _task(tmp_path / "tasks", "headless", {"format": "xlsx", "eval": "h/rows.xlsx", "column_names": ["id", "q", "a"]})
    rows = load_split(load_task_spec(path), "eval", data).rows["_all"]
    assert rows == [{"id": "b1", "q": "3+4", "a": 7}, {"id": "b2", "q": "2*5", "a": 10}]


def _one_line(e: pytest.ExceptionInfo[HarnessError], *needles: str) -> str:
    msg = str(e.value)
    assert "\n" not in msg, msg
    for n in needles:
        assert n in msg, (n, msg)
    return msg


@pytest.mark.parametrize("content", [b"this is not a workbook", b"PK\x03\x04" + b"\0" * 64], ids=["text", "bad-zip"])
def test_broken_workbook_is_one_line(tmp_path: Path, content: bytes) -> None:
    data = tmp_path / "data"
    (data / "b").mkdir(parents=True)
    (data / "b/broken.xlsx").write_bytes(content)
    path = _task(tmp_path / "tasks", "broken", {"format": "xlsx", "eval": "b/broken.xlsx"})
    with pytest.raises(HarnessError) as e:
        Task.load(path).samples(data)
    _one_line(e, "task broken", str(data / "b/broken.xlsx"), "not a readable .xlsx workbook")


def test_truncated_real_workbook_is_one_line(tmp_path: Path, data_dir: Path) -> None:
    data = tmp_path / "data"
    (data / "t").mkdir(parents=True)
    (data / "t/cut.xlsx").write_bytes((data_dir / "math24o/math24o.xlsx").read_bytes()[:5000])
    path = _task(tmp_path / "tasks", "cut", {"format": "xlsx", "eval": "t/cut.xlsx"})
    with pytest.raises(HarnessError) as e:
        Task.load(path).samples(data)
    _one_line(e, "task cut", "cut.xlsx", "workbook")


def test_missing_sheet_repeated_header_and_wide_row(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _workbook(data / "m/book.xlsx", {"Sheet1": [["id", "q", "a"], ["c1", "q", 1]]})
    path = _task(tmp_path / "tasks", "nosheet", {"format": "xlsx", "eval": "m/book.xlsx", "sheet": "Sheet2"})
    with pytest.raises(HarnessError) as e:
        Task.load(path).samples(data)
    _one_line(e, "book.xlsx", "dataset.sheet 'Sheet2'", "Sheet1")

    _workbook(data / "m/twice.xlsx", {"S": [["id", "q", "q"], ["c1", "x", "y"]]})
    path = _task(tmp_path / "tasks", "twice", {"format": "xlsx", "eval": "m/twice.xlsx"})
    with pytest.raises(HarnessError) as e:
        Task.load(path).samples(data)
    _one_line(e, "twice.xlsx", "'q'", "twice")

    _workbook(data / "m/wide.xlsx", {"S": [["id", "q", "a"], ["c1", "x", 1, "stray"]]})
    path = _task(tmp_path / "tasks", "wide", {"format": "xlsx", "eval": "m/wide.xlsx"})
    with pytest.raises(HarnessError) as e:
        Task.load(path).samples(data)
    _one_line(e, "wide.xlsx", "sheet row 2", "3 columns")

    _workbook(data / "m/empty.xlsx", {"S": [[None, None]]})
    path = _task(tmp_path / "tasks", "empty", {"format": "xlsx", "eval": "m/empty.xlsx"})
    with pytest.raises(HarnessError) as e:
        Task.load(path).samples(data)
    _one_line(e, "empty.xlsx", "no header row")


@pytest.mark.parametrize("dataset,needle", [
    ({"format": "xlsx", "eval": "x.xlsx", "records": "items"}, "dataset.records"),
    ({"format": "xlsx", "eval": "x.xlsx", "separator": "|", "column_names": ["a"]}, "dataset.separator"),
    ({"format": "xlsx", "eval": "x.xlsx", "reader": "squad"}, "dataset.reader"),
    ({"format": "csv", "eval": "x.csv", "sheet": "Sheet1"}, "dataset.sheet"),
])
def test_xlsx_fields_are_checked(tmp_path: Path, dataset: dict, needle: str) -> None:
    with pytest.raises(HarnessError) as e:
        load_task_spec(_task(tmp_path, "spec", dataset))
    _one_line(e, "spec.yaml", needle)


def test_broken_workbook_through_the_cli(tmp_path: Path) -> None:
    """The real entry point: exit 2, one line on stderr naming the task and the file, no traceback."""
    (tmp_path / "data/b").mkdir(parents=True)
    (tmp_path / "data/b/broken.xlsx").write_bytes(b"not a zip at all")
    _task(tmp_path / "tasks", "brokenbook", {"format": "xlsx", "eval": "b/broken.xlsx"})
    proc = run_cli("eval", "--model", str(fake_model(tmp_path / "fake-model")), "--tasks", "brokenbook",
                   "--data-dir", str(tmp_path / "data"), cwd=tmp_path,
                   env_extra={"HARNESS_TASKS_DIR": str(tmp_path / "tasks")})
    assert_one_line_error(proc, "task brokenbook", "broken.xlsx", "not a readable .xlsx workbook")
