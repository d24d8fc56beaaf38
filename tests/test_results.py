"""Results files: atomic JSON (never half-written, valid JSON without NaN) and per-sample lines flushed at once."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from harness.results import files as results_mod
from harness.results.files import SampleWriter, read_samples, write_json_atomic


def test_atomic_write_replaces_and_cleans_up(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "r.json"
    write_json_atomic(path, {"a": 1, "score": math.nan, "nested": [math.inf, 2.5], "名": "中文"})
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": 1, "score": None, "nested": [None, 2.5], "名": "中文"}
    write_json_atomic(path, {"a": 2})
    assert json.loads(path.read_text())["a"] == 2
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temporary files left


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.json"
    write_json_atomic(path, {"version": "old"})

    def boom(*_: object, **__: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(results_mod.os, "replace", boom)
    with pytest.raises(OSError):
        write_json_atomic(path, {"version": "new"})
    assert json.loads(path.read_text())["version"] == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_sample_lines_are_readable_while_the_run_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    with SampleWriter(path) as w:
        w.write({"sample_id": "a/1", "correct": True, "logprobs": {"A": -0.1}})
        assert read_samples(path) == [{"sample_id": "a/1", "correct": True, "logprobs": {"A": -0.1}}]
        w.write({"sample_id": "a/2", "prompt": "以下是\n答案：", "x": math.nan})
        assert read_samples(path)[1] == {"sample_id": "a/2", "prompt": "以下是\n答案：", "x": None}
