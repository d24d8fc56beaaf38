"""Hostile inputs (issue 14, items 5 and 6), each contained and its outcome asserted exactly:

- poison text from a model server (lone surrogates, control characters, line separators, a 2-million-character
  line) through a full `harness eval` that finishes, and again from the response cache;
- poison in data files: JSON-escaped lone surrogates and control characters are carried, a file that is not UTF-8
  stops the run with one line;
- a scorer that raises for one item (generation, likelihood, the sandbox call): that item's line says why, it
  scores 0, its task counts it, the run finishes;
- task files that try to read outside their roots (an included symlink, an absolute or linked join path, a `../`
  subset name, a linked data file or folder): one line naming the field, and the canary's text never reaches a
  prompt;
- template bombs (huge widths, joins, nested loops, lipsum, doubling): one line within seconds.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_openai_backend import FakeServer

import harness.tasks.templates as templates
from harness.cli import main
from harness.contain import remove_tree
from harness.errors import HarnessError
from harness.results.files import SampleWriter, write_json_atomic
from harness.tasks.templates import PromptTemplate
from harness.types import Cost, GenerateResult

CANARY = "CANARY-1b9e-must-never-reach-a-prompt"


class PoisonServer(FakeServer):
    """The fake OpenAI-compatible server, its streamed replies sent in one chunk (its own streaming sends two
    characters per 10 ms: too slow for a 2 MB line) and written with ensure_ascii, so lone surrogates travel as
    "\\ud800" escapes, as a server's JSON may send them. `reply(body)` gives {"text", "finish_reason", and
    optionally "reasoning_content"}."""

    def __init__(self) -> None:
        super().__init__()
        self.ascii_json = True

    def _handler(self) -> Any:
        base = super()._handler()

        class Handler(base):  # type: ignore[misc, valid-type]
            def _stream(self, body: dict[str, Any], reply: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                if "messages" in body:
                    delta = {"content": reply["text"]}
                    if "reasoning_content" in reply:
                        delta["reasoning_content"] = reply["reasoning_content"]
                    choice = {"index": 0, "delta": delta, "finish_reason": reply["finish_reason"]}
                else:
                    choice = {"index": 0, "text": reply["text"], "finish_reason": reply["finish_reason"]}
                usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
                for payload in ({"choices": [choice]}, {"choices": [], "usage": usage}):
                    self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode("ascii"))
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        return Handler


@pytest.fixture
def server():
    s = PoisonServer()
    yield s
    s.close()


@pytest.fixture
def roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(tasks folder, data folder) of this test; the tasks folder is a tasks root (HARNESS_TASKS_DIR)."""
    tasks, data = tmp_path / "tasks", tmp_path / "data"
    tasks.mkdir()
    data.mkdir()
    monkeypatch.setenv("HARNESS_TASKS_DIR", str(tasks))
    return tasks, data


def _task(tasks: Path, name: str, **overrides: Any) -> Path:
    spec: dict[str, Any] = {
        "name": name, "version": 1, "category": "test", "description": "a hostile-input test task", "source": "tests",
        "license": "MIT", "dataset": {"format": "jsonl", "eval": f"{name}/test.jsonl"},
        "fields": {"id": "id", "question": "question", "target": "answer"}, "answer_type": "numeric",
        "prompt": "{{ doc.question }}", "mode": "generate", "modes": ["generate"],
        "generation": {"max_new_tokens": 64, "stop": []}, "metrics": ["accuracy"],
    }
    spec.update(overrides)
    folder = tasks / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


def _rows(data: Path, rel: str, rows: list[dict[str, Any]], ensure_ascii: bool = True) -> Path:
    path = data / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=ensure_ascii) + "\n" for r in rows), encoding="utf-8")
    return path


def _eval(server: PoisonServer, data: Path, out: Path, tasks: str, *extra: str) -> int:
    return main(["eval", "--backend", "openai", "--base-url", server.url, "--model", "tiny", "--tasks", tasks,
                 "--data-dir", str(data), "--output-dir", str(out), "--no-progress", *extra])


def _results(out: Path) -> list[tuple[dict[str, Any], list[dict[str, Any]], str]]:
    """(results, sample records, the samples file's text) of every run under `out`, oldest first. The files must be
    strict UTF-8 and every line of the samples file one JSON record (for any line splitter)."""
    runs = []
    for path in sorted(out.rglob("*.json"), key=lambda p: p.stat().st_mtime_ns):
        results = json.loads(path.read_bytes().decode("utf-8"))
        text = (path.parent / results["samples_file"]).read_bytes().decode("utf-8")
        lines = text.splitlines()  # str.splitlines breaks at U+2028, U+0085 ...: none may be raw in the file
        runs.append((results, [json.loads(line) for line in lines], text))
    return runs


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


# ================================================================ item 5: poison text from a server
POISON = {
    "Q1": {"text": "答案是 \ud800 3", "finish_reason": "stop"},
    "Q2": {"text": "\x00\x1b[2J\x07\u202e\u2028\x85\u2029 答案：5", "finish_reason": "stop"},
    "Q3": {"text": "7" + "啊" * 2_000_000, "finish_reason": "length"},
    "Q4": {"text": "\udfff\ud800 答案：9", "finish_reason": "stop", "reasoning_content": "想\udbff一想\x00"},
}


def _poison_reply(body: dict[str, Any]) -> dict[str, Any]:
    prompt = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
    tag = next(t for t in POISON if t in prompt)
    return {"stop_reason": None, **POISON[tag]}


def test_poison_text_from_the_server_is_stored_and_the_run_finishes_then_reruns_from_the_cache(
        server: PoisonServer, roots: tuple[Path, Path], tmp_path: Path) -> None:
    tasks, data = roots
    _task(tasks, "poison_math")
    _rows(data, "poison_math/test.jsonl", [{"id": t, "question": f"{t}: 1+2=?", "answer": "3"} for t in POISON])
    server.reply = _poison_reply
    out, cache = tmp_path / "out", tmp_path / "cache"
    assert _eval(server, data, out, "poison_math", "--cache-dir", str(cache)) == 0
    asked = len(server.posts("/v1/chat/completions"))
    assert asked == 4
    assert _eval(server, data, out, "poison_math", "--cache-dir", str(cache)) == 0  # from the cache: finishes too
    assert len(server.posts("/v1/chat/completions")) == asked  # nothing asked again

    (first, samples, text), (second, again, text2) = _results(out)
    for results in (first, second):
        assert results["tasks"]["poison_math"]["n_samples"] == 4
        assert results["tasks"]["poison_math"]["failed_items"] == 0
    assert second["cache"]["hits"] == 4 and second["cache"]["corrupt_entries"] == 0
    for raw in (text, text2):  # stored safely: escaped in the file, no raw control or line-break characters
        assert not any(c in raw for c in "\x00\x1b\x07\x85\u2028\u2029")
        assert len(raw.splitlines()) == 4
    by_id = {s["sample_id"]: s for s in samples}
    assert by_id["Q1"]["output"] == "答案是 \ufffd 3" and by_id["Q1"]["prediction"] == "3" and by_id["Q1"]["correct"]
    assert by_id["Q2"]["output"] == "\x00\x1b[2J\x07\u202e\u2028\x85\u2029 答案：5" and by_id["Q2"]["prediction"] == "5"
    assert len(by_id["Q3"]["output"]) == 2_000_001 and by_id["Q3"]["finish_reason"] == "length"
    assert by_id["Q4"]["output"] == "\ufffd\ufffd 答案：9" and by_id["Q4"]["reasoning"] == "想\ufffd一想\x00"
    assert all("error" not in s for s in samples)
    # the rerun from the cache records the very same answers and scores
    keep = ("sample_id", "output", "prediction", "correct", "metrics", "reasoning")
    def view(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(({k: r.get(k) for k in keep} for r in records), key=lambda r: r["sample_id"])

    assert view(again) == view(samples)


def test_poison_completions_reach_the_sandbox_as_text_and_fail_there(server: PoisonServer, roots: tuple[Path, Path],
                                                                     tmp_path: Path, data_dir: Path) -> None:
    """HumanEval-zh: completions with lone surrogates and NULs become programs (U+FFFD in place of each surrogate)
    that run and fail in the sandbox: recorded as failures of the program, not of the harness."""
    server.reply = lambda body: {"text": "```python\ndef f(\ud800):\n    return '\x00\udfff'\n```", "finish_reason": "stop",
                                 "stop_reason": None}
    out = tmp_path / "out"
    assert _eval(server, data_dir, out, "humaneval_zh", "--limit", "2", "--cache-dir", str(tmp_path / "c")) == 0
    assert _eval(server, data_dir, out, "humaneval_zh", "--limit", "2", "--cache-dir", str(tmp_path / "c")) == 0
    for results, samples, _ in _results(out):
        assert results["tasks"]["humaneval_zh"]["failed_items"] == 0
        assert results["tasks"]["humaneval_zh"]["score"] == 0.0
        assert len(samples) == 2
        for s in samples:
            assert "error" not in s and s["correct"] is False and s["prediction"] != "passed"
            assert "\ufffd" in s["output"]


# ================================================================ item 5: writers and the cache on their own
def test_writers_never_fail_on_poison(tmp_path: Path) -> None:
    class Odd:
        def __str__(self) -> str:
            return "odd\ud800"

    looped: list[Any] = []
    looped.append(looped)
    with SampleWriter(tmp_path / "s.jsonl") as w:
        w.write({"task": "t", "sample_id": "a\udc80", "output": "x\ud800\u2028y", "v": float("nan"), "o": Odd(),
                 "s": {2, 1}, "\udfffkey": 1})
        w.write({"task": "t", "sample_id": "b", "loop": looped})
    first, second = [json.loads(x) for x in (tmp_path / "s.jsonl").read_bytes().decode("utf-8").split("\n") if x]
    assert first == {"task": "t", "sample_id": "a\ufffd", "output": "x\ufffd\u2028y", "v": None, "o": "odd\ufffd",
                     "s": [1, 2], "\ufffdkey": 1}
    error = second.pop("error")
    assert second == {"task": "t", "sample_id": "b", "correct": False, "metrics": {}}
    assert error.startswith("record could not be written: RecursionError: maximum recursion depth exceeded")
    write_json_atomic(tmp_path / "r.json", {"model": {"name": "m\ud800"}, "score": float("inf")})
    assert json.loads((tmp_path / "r.json").read_bytes().decode("utf-8")) == {"model": {"name": "m\ufffd"}, "score": None}


def test_cache_stores_and_returns_poison_safely(tmp_path: Path) -> None:
    from harness.run.cache import ResponseCache, request_key
    from harness.types import GenerateRequest

    cache = ResponseCache(tmp_path / "r.sqlite")
    key = request_key({"source": "m"}, GenerateRequest("prompt with \ud800 in it"))  # a key, not a crash
    cache.put(key, "gen", GenerateResult("a\ud800b", "stop", Cost(1, 2, 0.5), reasoning="r\udfff"))
    assert cache.get(key, "gen") == GenerateResult("a\ufffdb", "stop", Cost(1, 2, 0.5), reasoning="r\ufffd")
    # a row written before this fix, holding an escaped lone surrogate under a valid checksum: read back cleaned
    import hashlib

    value = '{"text": "x\\ud800", "finish_reason": "stop", "cost": {"prompt_tokens": 0, "generated_tokens": 0, ' \
            '"seconds": 0.0, "ttft_s": null, "tpot_s": null}, "reasoning": null}'
    with sqlite3.connect(str(tmp_path / "r.sqlite")) as db:
        db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)",
                   ("old", "gen", value, hashlib.sha256(value.encode()).hexdigest()))
    assert cache.get("old", "gen").text == "x\ufffd"  # type: ignore[union-attr]
    cache.close()


def test_remove_tree_removes_a_deep_and_locked_tree(tmp_path: Path) -> None:
    """What a hostile program leaves behind (a 2,500-deep chain of folders, folders without permissions, a link
    out): shutil.rmtree fails on it with RecursionError (Python 3.11); remove_tree removes it and never follows the
    link. (For the sandbox's cleanup: harness/sandbox/core.py should call it instead of shutil.rmtree.)"""
    import os

    root = tmp_path / "work"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    fd = os.open(root, os.O_RDONLY)
    for _ in range(2500):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.mkdir("locked", 0, dir_fd=fd)
    os.close(fd)
    (root / "link").symlink_to(outside)
    (root / "ro").mkdir()
    (root / "ro" / "f").write_text("x")
    (root / "ro").chmod(0o500)
    assert remove_tree(root) is True
    assert not root.exists() and (outside / "keep.txt").read_text() == "keep"
    assert remove_tree(root) is True  # already gone


# ================================================================ item 5: poison in data files
def test_data_file_that_is_not_utf8_stops_with_one_line(server: PoisonServer, roots: tuple[Path, Path],
                                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks, data = roots
    _task(tasks, "badbytes")
    path = data / "badbytes" / "test.jsonl"
    path.parent.mkdir()
    path.write_bytes(b'{"id": "1", "question": "ok", "answer": "1"}\n{"id": "2", "question": "\xff\xfe", "answer": "2"}\n')
    assert _eval(server, data, tmp_path / "out", "badbytes") == 2
    line = _one_error_line(capsys)
    assert line == (f"error: task badbytes: data file {path} is not valid UTF-8 (byte 0xff on line 2); convert it to "
                    f"UTF-8, e.g. iconv -f GBK -t UTF-8 (every data file is read as UTF-8)")
    assert not server.posts("/v1/chat/completions")


def test_task_file_that_is_not_utf8_stops_with_one_line(server: PoisonServer, roots: tuple[Path, Path],
                                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks, data = roots
    path = _task(tasks, "gbk")
    path.write_bytes(path.read_bytes().replace(b"a hostile-input test task", "中文说明".encode("gbk")))
    assert _eval(server, data, tmp_path / "out", "gbk") == 2
    assert _one_error_line(capsys).startswith(f"error: {path}: not UTF-8 text (byte 0xd6 at offset ")


def test_an_error_naming_hostile_text_is_printed_on_one_line(server: PoisonServer, roots: tuple[Path, Path],
                                                             tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A subset found on disk whose name holds a carriage return and a terminal escape sequence: the error that
    names it is one line, with the control characters shown as escapes."""
    tasks, data = roots
    _task(tasks, "oddname", dataset={"format": "jsonl", "eval": "oddname/{subset}.jsonl"})
    _rows(data, "oddname/bad\x1b[2J\rname.jsonl", [{"id": "1", "answer": "1"}])
    assert _eval(server, data, tmp_path / "out", "oddname") == 2
    line = _one_error_line(capsys)
    assert line.startswith("error: task oddname, subset bad\\x1b[2J\\rname, row 0: field 'question' named in fields")


def test_escaped_surrogates_control_characters_and_a_huge_line_in_data_are_carried(
        server: PoisonServer, roots: tuple[Path, Path], tmp_path: Path) -> None:
    tasks, data = roots
    _task(tasks, "dirtydata")
    huge = "长" * 3_000_000
    _rows(data, "dirtydata/test.jsonl", [
        {"id": "s\ud800", "question": "Q\udfff\ud800?", "answer": "1"},
        {"id": "c", "question": "\x00\x1b[31m\u2028red", "answer": "2"},
        {"id": "h", "question": huge, "answer": "3"},
    ])
    server.reply = lambda body: {"text": "1", "finish_reason": "stop", "stop_reason": None}
    out = tmp_path / "out"
    assert _eval(server, data, out, "dirtydata") == 0
    ((results, samples, _),) = _results(out)
    assert results["tasks"]["dirtydata"]["n_samples"] == 3 and results["tasks"]["dirtydata"]["failed_items"] == 0
    by_id = {s["sample_id"]: s for s in samples}
    assert by_id["s\ufffd"]["prompt"] == "Q\ufffd\ufffd?" and by_id["s\ufffd"]["correct"] is True
    assert by_id["c"]["prompt"] == "\x00\x1b[31m\u2028red"
    assert by_id["h"]["prompt"] == huge
    sent = [m["messages"][-1]["content"] for m in server.posts("/v1/chat/completions")]
    assert "Q\ufffd\ufffd?" in sent and huge in sent  # what was sent is what was recorded


# ================================================================ item 5: a scorer that breaks on one item
def test_a_generation_scorer_that_raises_for_one_item(server: PoisonServer, roots: tuple[Path, Path], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.run.dispatch as dispatch

    tasks, data = roots
    _task(tasks, "breaks")
    _rows(data, "breaks/test.jsonl", [{"id": str(i), "question": f"{i}+0=?", "answer": str(i)} for i in range(1, 4)])
    server.reply = lambda body: {"text": body["messages"][-1]["content"].split("+")[0], "finish_reason": "stop",
                                 "stop_reason": None}
    real = dispatch.score_generation

    def scorer(sample: Any, result: Any, *args: Any, **kwargs: Any) -> Any:
        if sample.sample_id == "2":
            raise ValueError("boom for item 2\nsecond line")
        return real(sample, result, *args, **kwargs)

    monkeypatch.setattr(dispatch, "score_generation", scorer)
    out = tmp_path / "out"
    assert _eval(server, data, out, "breaks") == 0
    ((results, samples, _),) = _results(out)
    task = results["tasks"]["breaks"]
    assert task["failed_items"] == 1 and task["n_samples"] == 3
    assert task["score"] == pytest.approx(200 / 3)  # the failed item counts 0
    by_id = {s["sample_id"]: s for s in samples}
    assert by_id["2"]["error"] == "ValueError: boom for item 2"
    assert by_id["2"]["prediction"] is None and by_id["2"]["correct"] is False and by_id["2"]["metrics"] == {"accuracy": 0.0}
    assert by_id["2"]["output"] == "2"
    assert by_id["1"]["correct"] is True and "error" not in by_id["1"] and "error" not in by_id["3"]


def test_a_likelihood_scorer_that_raises_for_one_item(server: PoisonServer, roots: tuple[Path, Path], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.run.dispatch as dispatch

    tasks, data = roots
    _task(tasks, "llbreaks", answer_type="choice", mode="likelihood", modes=["likelihood", "generate"],
          fields={"id": "id", "question": "question", "choices": ["A", "B"], "target": "answer"},
          prompt="{{ doc.question }}\n答案：", continuation="{{ label }}")
    _rows(data, "llbreaks/test.jsonl", [{"id": str(i), "question": f"问题{i}", "A": "是", "B": "否", "answer": "A"}
                                        for i in range(3)])
    real = dispatch.score_likelihood

    def scorer(sample: Any, *args: Any, **kwargs: Any) -> Any:
        if sample.sample_id == "1":
            raise ZeroDivisionError("division by zero")
        return real(sample, *args, **kwargs)

    monkeypatch.setattr(dispatch, "score_likelihood", scorer)
    out = tmp_path / "out"
    assert _eval(server, data, out, "llbreaks", "--chat-template", "off") == 0
    ((results, samples, _),) = _results(out)
    assert results["tasks"]["llbreaks"]["failed_items"] == 1
    bad = next(s for s in samples if s["sample_id"] == "1")
    assert bad["error"] == "ZeroDivisionError: division by zero" and bad["correct"] is False
    assert bad["metrics"] == {"accuracy": 0.0} and bad["logprobs"] is None
    assert sum("error" in s for s in samples) == 1


def test_a_sandbox_call_that_raises_for_one_item(server: PoisonServer, roots: tuple[Path, Path], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox's cleanup of a 2,500-deep tree raised RecursionError out of the sandbox call: that item is
    recorded as an error, the others are scored, the run finishes."""
    from harness.run.dispatch import Dispatcher
    from harness.scoring.metrics import Scored

    tasks, data = roots
    _task(tasks, "execbreaks", answer_type="execution", metrics=["pass@1"], fields={"id": "id", "question": "question"},
          execution={"program": "print({{ output|tojson }})"})
    _rows(data, "execbreaks/test.jsonl", [{"id": str(i), "question": f"写程序{i}"} for i in range(3)])
    server.reply = lambda body: {"text": "import os\nos.makedirs('d/' * 2500)", "finish_reason": "stop", "stop_reason": None}

    def execute(self: Any, p: Any, ps: Any, results: Any) -> Scored:
        if ps.sample.sample_id == "0":
            raise RecursionError("maximum recursion depth exceeded while calling a Python object")
        return Scored(prediction="failed", metrics={"pass@1": 0.0}, correct=False, output=results[0].text,
                      details={"execution": [{"status": "failed"}], "passed_each": [False]})

    monkeypatch.setattr(Dispatcher, "_execute_programs", execute)
    out = tmp_path / "out"
    assert _eval(server, data, out, "execbreaks") == 0
    ((results, samples, _),) = _results(out)
    task = results["tasks"]["execbreaks"]
    assert task["failed_items"] == 1 and task["metrics"]["statuses"] == {"error": 1, "failed": 2}
    bad = next(s for s in samples if s["sample_id"] == "0")
    assert bad["error"] == "RecursionError: maximum recursion depth exceeded while calling a Python object"
    assert bad["prediction"] == "error" and bad["metrics"] == {"pass@1": 0.0}


# ================================================================ item 6: task files stay inside their roots
@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """Files outside the task and data folders, holding the canary's text."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "canary.jinja").write_text(CANARY)
    (folder / "canary.json").write_text(json.dumps({"1": {"answer": CANARY}}))
    (folder / "test.jsonl").write_text(json.dumps({"id": "1", "question": CANARY, "answer": "1"}) + "\n")
    (folder / "meta.json").write_text(json.dumps([{"name": "x", "prompt": CANARY}]))
    return folder


def _no_canary(server: PoisonServer, out: Path) -> None:
    assert not server.posts("/v1/chat/completions")
    for path in out.rglob("*") if out.exists() else []:
        if path.is_file():
            assert CANARY not in path.read_text(encoding="utf-8", errors="replace")


def test_include_of_a_symlink_out_of_the_task_folder(server: PoisonServer, roots: tuple[Path, Path], canary: Path,
                                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks, data = roots
    task_file = _task(tasks, "incl", prompt="{% include 'part.jinja' %}{{ doc.question }}")
    (task_file.parent / "part.jinja").symlink_to(canary / "canary.jinja")
    _rows(data, "incl/test.jsonl", [{"id": "1", "question": "q", "answer": "1"}])
    assert _eval(server, data, tmp_path / "out", "incl") == 2
    line = _one_error_line(capsys)
    assert line == (f"error: {task_file} field 'prompt': included template 'part.jinja' resolves to "
                    f"{(canary / 'canary.jinja').resolve()}, outside the task's folder and its tasks root")
    _no_canary(server, tmp_path / "out")


def test_template_file_symlinked_out_of_the_task_folder(roots: tuple[Path, Path], canary: Path) -> None:
    tasks, _ = roots
    task_file = _task(tasks, "tplink", prompt="t.jinja")
    (task_file.parent / "t.jinja").symlink_to(canary / "canary.jinja")
    with pytest.raises(HarnessError) as e:
        PromptTemplate.from_task_field("t.jinja", task_file, "prompt")
    assert str(e.value) == f"{task_file}: field 'prompt': template must live in the task's folder (or its tasks root)"


def test_absolute_join_path(server: PoisonServer, roots: tuple[Path, Path], canary: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    tasks, data = roots
    task_file = _task(tasks, "absjoin", dataset={"format": "jsonl", "eval": "absjoin/test.jsonl",
                                                 "join": {"path": str(canary / "canary.json"), "key": "id"}})
    _rows(data, "absjoin/test.jsonl", [{"id": "1", "question": "q", "answer": "1"}])
    assert _eval(server, data, tmp_path / "out", "absjoin") == 2
    assert _one_error_line(capsys) == (f"error: {task_file}: field 'dataset.join.path': must be a path relative to the "
                                       f"data dir, without '..'")
    _no_canary(server, tmp_path / "out")


def test_join_path_through_a_symlink(server: PoisonServer, roots: tuple[Path, Path], canary: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    tasks, data = roots
    _task(tasks, "linkjoin", dataset={"format": "jsonl", "eval": "linkjoin/test.jsonl",
                                      "join": {"path": "linkjoin/answers.json", "key": "id"}})
    _rows(data, "linkjoin/test.jsonl", [{"id": "1", "question": "q"}])
    (data / "linkjoin" / "answers.json").symlink_to(canary / "canary.json")
    assert _eval(server, data, tmp_path / "out", "linkjoin") == 2
    assert _one_error_line(capsys) == (
        f"error: task linkjoin: field 'dataset.join.path': linkjoin/answers.json resolves to "
        f"{(canary / 'canary.json').resolve()}, outside the data dir {data}; data files must live inside it "
        f"(no absolute paths, '..' or links out of it)")
    _no_canary(server, tmp_path / "out")


def test_dotdot_subset_name(server: PoisonServer, roots: tuple[Path, Path], canary: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    tasks, data = roots
    _task(tasks, "dotdot", dataset={"format": "jsonl", "eval": "{subset}/test.jsonl"},
          subsets={"../outside": {"zh": "外面"}})
    assert _eval(server, data, tmp_path / "out", "dotdot") == 2
    assert _one_error_line(capsys) == (
        "error: task dotdot: field 'subsets': subset name '../outside' cannot fill {subset} in dataset.eval "
        "'{subset}/test.jsonl': a subset name is one plain path segment (no '/', '\\' or '..')")
    _no_canary(server, tmp_path / "out")


def test_discovered_subset_folder_linked_out_of_the_data_dir(server: PoisonServer, roots: tuple[Path, Path],
                                                             canary: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    tasks, data = roots
    _task(tasks, "found", dataset={"format": "jsonl", "eval": "found/{subset}/test.jsonl"})
    _rows(data, "found/real/test.jsonl", [{"id": "1", "question": "q", "answer": "1"}])
    (data / "found" / "evil").symlink_to(canary)
    assert _eval(server, data, tmp_path / "out", "found") == 2
    assert _one_error_line(capsys) == (
        f"error: task found: field 'dataset.eval (found 'evil')': found/evil/test.jsonl resolves to "
        f"{(canary / 'test.jsonl').resolve()}, outside the data dir {data}; data files must live inside it "
        f"(no absolute paths, '..' or links out of it)")
    _no_canary(server, tmp_path / "out")


def test_eval_file_and_subsets_from_linked_out_of_the_data_dir(server: PoisonServer, roots: tuple[Path, Path],
                                                               canary: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    tasks, data = roots
    _task(tasks, "linkeval")
    (data / "linkeval").mkdir()
    (data / "linkeval" / "test.jsonl").symlink_to(canary / "test.jsonl")
    assert _eval(server, data, tmp_path / "out", "linkeval") == 2
    assert "field 'dataset.eval': linkeval/test.jsonl resolves to" in _one_error_line(capsys)

    _task(tasks, "linkmeta", dataset={"format": "jsonl", "eval": "linkmeta/test.jsonl",
                                      "subsets_from": {"path": "linkmeta/meta.json", "key": "name"}})
    _rows(data, "linkmeta/test.jsonl", [{"id": "1", "question": "q", "answer": "1"}])
    (data / "linkmeta" / "meta.json").symlink_to(canary / "meta.json")
    assert _eval(server, data, tmp_path / "out", "linkmeta") == 2
    assert "field 'dataset.subsets_from.path': linkmeta/meta.json resolves to" in _one_error_line(capsys)
    _no_canary(server, tmp_path / "out")


def test_hub_path_naming_a_local_folder(roots: tuple[Path, Path], canary: Path) -> None:
    """`datasets.load_dataset(path)` reads a local folder of that name: a task's hub copy may not be one."""
    from harness.tasks.data import open_split
    from harness.tasks.spec import load_task_spec

    tasks, data = roots
    path = _task(tasks, "hubdir", dataset={"format": "jsonl", "eval": "hubdir/test.jsonl",
                                           "hub": {"path": str(canary), "eval_split": "train"}})
    with pytest.raises(HarnessError) as e:
        open_split(load_task_spec(path), "eval", data)
    assert str(e.value) == (f"task hubdir: field 'dataset.hub.path': {str(canary)!r} names a local path, not a hub "
                            f"dataset; put local files under the data dir (dataset.eval)")


@pytest.mark.parametrize("field, value", [("join", {"path": "/etc/passwd", "key": "id"}),
                                          ("join", {"path": "../x.json", "key": "id"}),
                                          ("subsets_from", {"path": "a/../../x.json", "key": "k"})])
def test_data_paths_must_be_relative(roots: tuple[Path, Path], field: str, value: dict[str, str]) -> None:
    from harness.tasks.spec import load_task_spec

    tasks, _ = roots
    path = _task(tasks, "rel", dataset={"format": "jsonl", "eval": "rel/test.jsonl", field: value})
    with pytest.raises(HarnessError) as e:
        load_task_spec(path)
    assert str(e.value) == f"{path}: field 'dataset.{field}.path': must be a path relative to the data dir, without '..'"


def test_judge_context_must_be_relative(roots: tuple[Path, Path]) -> None:
    from harness.tasks.spec import load_task_spec

    tasks, _ = roots
    path = _task(tasks, "judgectx", answer_type="judged", metrics=["judge_score"],
                 fields={"id": "id", "question": "question"},
                 judge={"prompt": "{{ output }}", "parser": "rating", "context": {"rubric": "/etc/passwd"}})
    with pytest.raises(HarnessError) as e:
        load_task_spec(path)
    assert str(e.value) == f"{path}: field 'judge.context': must be a path relative to the data dir, without '..'"


# ================================================================ item 6: template bombs
BOMBS = [
    ("center", "{{ doc.question|center(1500000000) }}",
     "template stopped at a limit: |center width: 1,500,000,000 is over the limit of 1,000,000"),
    ("ljust", "{{ doc.question.ljust(1500000000) }}",
     "template stopped at a limit: str.ljust width: 1,500,000,000 is over the limit of 1,000,000"),
    ("join_huge_separator", "{{ range(100000)|join('x' * 1000000) }}",
     "template stopped at a limit: |join (characters): 99,999,881,278 is over the limit of 16,000,000"),
    ("join_in_a_loop", "{% for i in range(100000) %}{{ range(100000)|join(',') }}{% endfor %}",
     "template stopped at a limit: loops: over 1,000,000 range() iterations in one render"),
    ("nested_ranges", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
     "template stopped at a limit: loops: over 1,000,000 range() iterations in one render"),
    ("lipsum", "{{ lipsum(1000000) }}", "template stopped at a limit: lipsum paragraphs: 1,000,000 is over the limit of 100"),
    ("lipsum_words", "{{ lipsum(5, max=100000000) }}",
     "template stopped at a limit: lipsum words per paragraph: 100,000,000 is over the limit of 1,000"),
    ("percent_width", "{{ '%1500000000d' % 1 }}",
     "template stopped at a limit: '%' formatting: a width: 1,000,001 is over the limit of 1,000,000"),
    ("format_width", "{{ '{:>1500000000}'.format(1) }}",
     "template stopped at a limit: str.format: a width: 1,000,001 is over the limit of 1,000,000"),
    ("concat_doubling", "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
     "template stopped at a limit: '~' (characters): 16,777,216 is over the limit of 16,000,000"),
    ("plus_doubling", "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
     "template stopped at a limit: '+' (length): 16,777,216 is over the limit of 16,000,000"),
    ("replace", "{{ ('a' * 1000000)|replace('a', 'b' * 1000000) }}",
     "template stopped at a limit: |replace (characters): 1,000,000,000,000 is over the limit of 16,000,000"),
    ("nested_list_printed", "{{ [[1] * 1000000] * 1000000 }}",
     "template stopped at a limit: a printed value (characters): 16,000,001 is over the limit of 16,000,000"),
    ("nested_list_tojson", "{{ ([[1] * 1000000] * 1000000)|tojson }}",
     "template stopped at a limit: |tojson input (characters): 16,000,001 is over the limit of 16,000,000"),
    ("batch", "{{ range(3)|batch(1500000000, 'x')|list }}",
     "template stopped at a limit: |batch size: 1,500,000,000 is over the limit of 1,000,000"),
    ("int_squaring", "{% set ns = namespace(n=3) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}{% endfor %}",
     "template stopped at a limit: '*' (bits): 103,874 is over the limit of 65,536"),
    ("loops_over_data", "{% for a in doc.question %}{% for b in doc.question %}{% for c in doc.question %}"
                        "{% endfor %}{% endfor %}{% endfor %}",
     "template stopped: rendering took over 3 s (a loop that runs too long)"),
    ("macro_doubling", "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% else %}x{% endif %}{% endmacro %}"
                       "{{ f(40) }}",
     "template stopped: rendering took over 3 s (a loop that runs too long)"),
]


@pytest.mark.parametrize("source, message", [b[1:] for b in BOMBS], ids=[b[0] for b in BOMBS])
def test_template_bombs_end_in_one_line_within_seconds(source: str, message: str) -> None:
    assert templates.MAX_RENDER_S == 3.0
    tpl = PromptTemplate(source, "bomb.jinja")
    start = time.monotonic()
    with pytest.raises(HarnessError) as e:
        tpl.render(doc={"question": "问" * 2000}, fewshot=[], subset={})
    elapsed = time.monotonic() - start
    assert str(e.value) == f"bomb.jinja: {message}"
    assert elapsed < 8, elapsed


def test_a_render_in_another_thread_is_stopped_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "MAX_RENDER_S", 0.3)
    tpl = PromptTemplate("{% for a in doc %}{% for b in doc %}{% for c in doc %}{% endfor %}{% endfor %}{% endfor %}", "t")
    errors: list[str] = []

    def run() -> None:
        try:
            tpl.render(doc="x" * 5000)
        except HarnessError as e:
            errors.append(str(e))
        total = sum(range(1_000_000))  # nothing left pending for this thread after the render
        errors.append(str(total))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    run()
    for t in threads:
        t.join()
    assert sorted(errors) == ["499999500000"] * 4 + ["t: template stopped: rendering took over 0.3 s (a loop that runs too long)"] * 4


def test_ordinary_templates_still_render() -> None:
    src = ("{% for c in doc.choices %}{{ c.label }}. {{ c.text|trim|center(6) }}\n{% endfor %}{{ range(3)|join(',') }} "
           "{{ '%5.1f|%s' % (1.25, 'x') }} {{ '{:>4}'.format(7) }} {{ 'a' ~ 'b' }} {{ [1, 2] + [3] }} {{ 2 ** 10 }} "
           "{{ doc.choices|map(attribute='text')|join('/') }} {{ range(5)|sum }} {{ range(10)|batch(4)|list|length }} "
           "{{ lipsum(1, false, 3, 5)|length > 0 }} {{ 'x\ty'.expandtabs(4) }} {{ 'ab'|replace('a', 'c') }}")
    out = PromptTemplate(src, "ok").render(doc={"choices": [{"label": "A", "text": " 甲 "}, {"label": "B", "text": "乙"}]})
    assert out == ("A.   甲   \nB.   乙   \n0,1,2   1.2|x    7 ab [1, 2, 3] 1024  甲 /乙 10 3 True x   y cb")


def test_template_bomb_through_the_command_line(server: PoisonServer, roots: tuple[Path, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    tasks, data = roots
    task_file = _task(tasks, "bomb", prompt="{{ range(100000)|join(doc.question * 100000) }}")
    _rows(data, "bomb/test.jsonl", [{"id": "1", "question": "abcdefghij", "answer": "1"}])
    start = time.monotonic()
    assert _eval(server, data, tmp_path / "out", "bomb") == 2
    assert time.monotonic() - start < 30
    assert _one_error_line(capsys) == (f"error: {task_file} field 'prompt': template stopped at a limit: |join "
                                       f"(characters): 99,999,881,278 is over the limit of 16,000,000")
    assert not server.posts("/v1/chat/completions")
