"""A hostile corpus for the leaderboard build: results files and samples files that are malformed in every way a
hand edit, a crash, a hostile model or a hostile file can make them. Each one is left out with exactly one line
that names the file and the field (or the line), the rest of the site builds, and no sample reaches the site at
more than FIELD_CHARS characters a field (the JSONL download keeps the full text)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any, Callable

import pytest

from harness.cli import main
from harness.leaderboard import collect, samples
from harness.leaderboard.collect import load_results
from harness.leaderboard.samples import FIELD_CHARS, read_samples_by_task
from harness.leaderboard.site import build_site
from harness.results.schema import SCHEMA_VERSION


def good_run(model: str = "good-7b", samples_file: str | None = "run.samples.jsonl") -> dict[str, Any]:
    """A results file as `harness eval` writes it, cut to the fields the leaderboard reads."""
    task = {"name": "ceval", "version": 1, "category": "knowledge", "mode": "likelihood", "answer_type": "choice",
            "num_fewshot": 0, "n_samples": 2, "primary_metric": "accuracy", "score": 50.0, "score_stderr": 35.4,
            "metrics": {"accuracy": 50.0, "accuracy_stderr": 35.4}, "template_hash": "t1", "prompt_hash": "p1",
            "throughput": {"samples": 2, "prompt_tokens": 200, "generated_tokens": 0, "seconds": 0.5},
            "cached_requests": 0, "context": {"limit": 4096, "policy": "skip", "skipped": 0, "fewer_shots": 0,
                                              "budget_capped": 0, "excluded": {}}}
    cmath = {**copy.deepcopy(task), "name": "cmath", "category": "computation", "mode": "generate", "answer_type": "numeric",
             "metrics": {"accuracy": 50.0, "accuracy_stderr": 35.4, "unextracted": 0},
             "decoding": {"max_new_tokens": 64, "temperature": 0.0, "top_p": 1.0, "top_k": 0, "samples": 1,
                          "stop": ["\n\n"], "answer_stop": [], "seeds": [1234]},
             "thinking": {"generations": 2, "unfinished_reasoning": 0, "with_reasoning": 0, "generated_tokens": 40,
                          "seconds": 1.0, "seconds_per_item": 0.5, "generated_tokens_per_s": 40.0,
                          "tokens_per_correct": 40.0}}
    return {
        "schema_version": SCHEMA_VERSION, "run_id": "r1", "started_at": "2026-01-01T00:00:00+00:00",
        "finished_at": "2026-01-01T00:01:00+00:00",
        "model": {"name": model, "family": "qwen2", "type": "chat", "backend": "hf", "dtype": "bfloat16",
                  "engine": {"engine": "transformers"}, "num_parameters": 7_000_000_000,
                  "thinking": {"enabled": False, "mode": "never", "source": "none", "tags": ["<think>", "</think>"],
                               "prefilled": False, "template_kwargs": {}, "switch": None}},
        "harness": {"version": "0.1.0", "git_commit": None}, "command": ["harness", "eval"], "config": {"limit": 2},
        "judge": None, "tasks": {"ceval": task, "cmath": cmath}, "suite": None, "notes": [],
        "throughput": {"model_load_seconds": 1.0, "batch_size": 8, "peak_memory_bytes": 2**30,
                       "peak_memory_kind": "process_rss", "energy_joules": None,
                       "accelerator": {"kind": "cpu", "name": "AMD EPYC", "count": 1},
                       "samples": 4, "prompt_tokens": 400, "generated_tokens": 40, "seconds": 1.5, "measured": True},
        "samples_file": samples_file, "sandbox": None, "cache": None,
    }


def sample(task: str, i: int, **extra: Any) -> dict[str, Any]:
    return {"task": task, "sample_id": f"{task}-{i}", "mode": "generate", "prompt": f"问题 {i}", "target": "1",
            "prediction": "1", "correct": True, "metrics": {"accuracy": 1.0}, "output": "答案：1", **extra}


def put(root: Path, folder: str, data: dict[str, Any] | bytes | str, lines: list[bytes] | None = None) -> None:
    d = root / folder
    d.mkdir(parents=True, exist_ok=True)
    raw = data if isinstance(data, bytes) else (data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)).encode()
    (d / "run.json").write_bytes(raw)
    if lines is not None:
        (d / "run.samples.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))


def line(rec: Any) -> bytes:
    return json.dumps(rec, ensure_ascii=False).encode()


def mutated(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    data = good_run("bad")
    change(data)
    return data


TRUNCATED = json.dumps(good_run("bad"))[:120]
NESTED = '{"schema_version": 2, "model": {"name": "x"}, "tasks": {}, "config": ' + "[" * 100_000 + "]" * 100_000 + "}"
BAD_RESULTS: list[tuple[str, Any, str]] = [
    ("tasks-list", mutated(lambda d: d.update(tasks=[])), "tasks: should be an object (got [])"),
    ("model-string", mutated(lambda d: d.update(model="good-7b")), 'model: should be an object (got "good-7b")'),
    ("model-nameless", mutated(lambda d: d["model"].pop("name")), "model.name: missing"),
    ("model-empty-name", mutated(lambda d: d["model"].update(name="")), 'model.name: should be a non-empty string (got "")'),
    ("score-string", mutated(lambda d: d["tasks"]["ceval"].update(score="50")),
     'tasks.ceval.score: should be a number (got "50")'),
    ("score-nan", mutated(lambda d: d["tasks"]["ceval"].update(score=float("nan"))),
     "tasks.ceval.score: should be a finite number (got nan)"),
    ("score-inf", mutated(lambda d: d["tasks"]["cmath"].update(score_stderr=float("inf"))),
     "tasks.cmath.score_stderr: should be a finite number (got inf)"),
    ("score-bool", mutated(lambda d: d["tasks"]["ceval"].update(score=True)),
     "tasks.ceval.score: should be a number (got true)"),
    ("task-string", mutated(lambda d: d["tasks"].update(ceval="lots")), 'tasks.ceval: should be an object (got "lots")'),
    ("version-float", mutated(lambda d: d["tasks"]["ceval"].update(version=1.5)),
     "tasks.ceval.version: should be a whole number or a string (got 1.5)"),
    ("n-negative", mutated(lambda d: d["tasks"]["ceval"].update(n_samples=-3)),
     "tasks.ceval.n_samples: should be greater than or equal to 0 (got -3)"),
    ("throughput-string", mutated(lambda d: d.update(throughput="fast")), 'throughput: should be an object (got "fast")'),
    ("throughput-rate", mutated(lambda d: d["throughput"].update(samples="many")),
     'throughput.samples: should be a whole number (got "many")'),
    ("throughput-accelerator", mutated(lambda d: d["throughput"]["accelerator"].update(count=[1, 2])),
     "throughput.accelerator.count: should be a whole number (got [1, 2])"),
    ("throughput-latency", mutated(lambda d: d["throughput"].update(ttft_s={"mean": "fast", "n": 1})),
     'throughput.ttft_s.mean: should be a number (got "fast")'),
    ("task-throughput", mutated(lambda d: d["tasks"]["ceval"]["throughput"].update(seconds=float("nan"))),
     "tasks.ceval.throughput.seconds: should be a finite number (got nan)"),
    ("params-string", mutated(lambda d: d["model"].update(num_parameters="7B")),
     'model.num_parameters: should be a whole number (got "7B")'),
    ("thinking-string", mutated(lambda d: d["model"].update(thinking="yes")), 'model.thinking: should be an object (got "yes")'),
    ("decoding-nan", mutated(lambda d: d["tasks"]["cmath"]["decoding"].update(temperature=float("nan"))),
     "tasks.cmath.decoding.temperature: should be a finite number (got nan)"),
    ("context-garbage", mutated(lambda d: d["tasks"]["ceval"]["context"].update(skipped="x")),
     'tasks.ceval.context.skipped: should be a whole number (got "x")'),
    ("suite-weight", mutated(lambda d: d.update(suite={"name": "s", "categories": {"k": {"weight": "heavy"}}})),
     'suite.categories.k.weight: should be a number (got "heavy")'),
    ("judge-model", mutated(lambda d: d.update(judge={"model": "gpt"})), 'judge.model: should be an object (got "gpt")'),
    ("samples-file-escape", mutated(lambda d: d.update(samples_file="../../../etc/passwd")),
     'samples_file: should be a file name in the same folder (got "../../../etc/passwd")'),
    ("samples-file-absolute", mutated(lambda d: d.update(samples_file="/etc/passwd")),
     'samples_file: should be a file name in the same folder (got "/etc/passwd")'),
    ("data-files-list", mutated(lambda d: d["tasks"]["ceval"].update(data={"files": ["a.csv"]})),
     'tasks.ceval.data.files: should be an object (got ["a.csv"])'),
    ("command-mixed", mutated(lambda d: d.update(command=["harness", 7])), "command.1: should be a string (got 7)"),
    ("version-string", mutated(lambda d: d.update(schema_version="2")), 'schema_version: should be a whole number (got "2")'),
    ("newer-and-broken", mutated(lambda d: d.update(schema_version=99, tasks=[])),
     f"tasks: should be an object (got []) (schema_version 99 is newer than this harness reads, {SCHEMA_VERSION}: "
     "update the harness)"),
    ("two-wrong", mutated(lambda d: (d.update(model=5), d["tasks"]["ceval"].update(score="x"))),
     "model: should be an object (got 5); 1 more field wrong"),
    ("truncated", TRUNCATED, "not valid JSON: Unterminated string starting at (line 1, column 97)"),
    ("not-utf8", b'{"schema_version": 2, "model": {"name": "\xff"}, "tasks": {}}', "not UTF-8 text (byte 0xff at offset 41)"),
    ("nested", NESTED, "not valid JSON: nested too deeply (more than 64 levels)"),
    ("nested-parsed", NESTED.replace("[" * 100_000 + "]" * 100_000, "[" * 500 + "]" * 500),
     "nested too deeply (more than 64 levels)"),
]


def test_each_bad_results_file_is_skipped_with_one_line(tmp_path: Path) -> None:
    """Every file of the corpus read together: the good run is read, each bad one gives its exact line."""
    root = tmp_path / "results"
    put(root, "good", good_run(), [line(sample("ceval", 0)), line(sample("cmath", 0))])
    for name, data, _ in BAD_RESULTS:
        put(root, name, data)
    (root / "notes.json").write_text('["not a results file"]', encoding="utf-8")  # other JSON: ignored, as always
    skipped: list[str] = []
    runs = load_results(root, skipped)
    assert [r["_file"] for r in runs] == ["good/run.json"]
    want = sorted(f"skipped {name}/run.json: {why}" for name, _, why in BAD_RESULTS)
    assert [x for x in sorted(skipped) if x not in want] == [] and sorted(skipped) == want


def test_the_site_builds_from_the_good_files_and_the_cli_names_the_bad_ones(tmp_path: Path,
                                                                             capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "results"
    put(root, "good", good_run(), [line(sample("ceval", 0)), line(sample("cmath", 0))])
    put(root, "other", good_run("other-1b"), [line(sample("ceval", 0))])
    for name, data, _ in BAD_RESULTS:
        put(root, name, data)
    out = tmp_path / "site"
    assert main(["leaderboard", "build", str(root), "-o", str(out)]) == 0
    cap = capsys.readouterr()
    assert "leaderboard: 2 models, 2 tasks, 2 results files" in cap.out
    err = cap.err.splitlines()
    assert sorted(err) == sorted(f"leaderboard: skipped {name}/run.json: {why}" for name, _, why in BAD_RESULTS)
    ranking = json.loads((out / "data" / "ranking.json").read_text(encoding="utf-8"))
    assert [r["model"] for r in ranking["rows"]] == ["good-7b", "other-1b"]
    assert (out / "tasks" / "cmath.html").is_file() and (out / "models" / "good-7b.html").is_file()


def test_a_newer_schema_that_only_adds_fields_still_reads(tmp_path: Path) -> None:
    data = good_run()
    data.update(schema_version=SCHEMA_VERSION + 1, provenance={"signed": True})
    data["tasks"]["ceval"]["new_field"] = [1, 2]
    put(tmp_path, "m", data)
    skipped: list[str] = []
    (run,) = load_results(tmp_path, skipped)
    assert skipped == [] and run["provenance"] == {"signed": True}


def test_an_oversized_results_file_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collect, "MAX_RESULTS_BYTES", 1000)
    data = good_run()
    data["notes"] = ["x" * 2000]
    put(tmp_path, "m", data)
    skipped: list[str] = []
    assert load_results(tmp_path, skipped) == []
    assert skipped == ["skipped m/run.json: larger than 1,000 bytes, the most a results file may have"]


GOOD = [line(sample("t", 0)), line(sample("t", 1))]
BAD_LINES: list[tuple[str, bytes, str]] = [
    ("not-json", b'{"task": "t", "sample_id": ', "line 2: not valid JSON: Expecting value (column 28)"),
    ("not-object", b"[1, 2, 3]", "line 2: should be a JSON object (got list)"),
    ("string-line", b'"just text"', "line 2: should be a JSON object (got str)"),
    ("not-utf8", b'{"task": "t", "sample_id": "x", "output": "\xc3\x28"}', "line 2: not UTF-8 text (byte 0xc3 at offset 43)"),
    ("no-task", line({"sample_id": 1}), "line 2: task: missing"),
    ("metrics-list", line(sample("t", 9, metrics=[1])), "line 2: metrics: should be an object (got [1])"),
    ("execution-garbage", line(sample("t", 9, execution="ran")), 'line 2: execution: should be a list (got "ran")'),
    ("turns-number", line(sample("t", 9, turns=5)), "line 2: turns: should be a list (got 5)"),
    ("reasoning-number", line(sample("t", 9, reasoning=5)), "line 2: reasoning: should be a string (got 5)"),
    ("id-float", line(sample("t", 9, sample_id=1.5)), "line 2: sample_id: should be a string or a whole number (got 1.5)"),
    ("nested", b"[" * 100_000 + b"]" * 100_000, "line 2: not valid JSON: nested too deeply (more than 64 levels)"),
    ("nested-parsed", line(sample("t", 9, verdicts=json.loads("[" * 500 + "]" * 500))),
     "line 2: nested too deeply (more than 64 levels)"),
]


@pytest.mark.parametrize(("name", "bad", "why"), BAD_LINES, ids=[b[0] for b in BAD_LINES])
def test_a_bad_sample_line_is_skipped_with_one_line(tmp_path: Path, name: str, bad: bytes, why: str) -> None:
    path = tmp_path / "run.samples.jsonl"
    path.write_bytes(GOOD[0] + b"\n" + bad + b"\n" + GOOD[1] + b"\n")
    skipped: list[str] = []
    got = read_samples_by_task(path, skipped, "m/run.samples.jsonl")
    assert [r["sample_id"] for r in got["t"]] == ["t-0", "t-1"]  # the lines around it are kept
    assert skipped == [f"skipped 1 of 3 lines of m/run.samples.jsonl: {why}"]


def test_many_bad_lines_give_one_line_per_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(samples, "MAX_LINE_BYTES", 1000)
    path = tmp_path / "run.samples.jsonl"
    huge = line(sample("t", 2, output="长" * 1000))  # 3,000+ bytes: over the (lowered) line limit
    path.write_bytes(b"\n".join([GOOD[0], huge, b"{oops", b"", b"7", GOOD[1], b'{"task": "t", "sample'] ) + b"")
    skipped: list[str] = []
    got = read_samples_by_task(path, skipped, "run.samples.jsonl")
    assert [r["sample_id"] for r in got["t"]] == ["t-0", "t-1"]
    # the last line is cut off (a crash while appending): reported like any other
    assert skipped == ["skipped 4 of 6 lines of run.samples.jsonl: line 2: longer than 1,000 bytes; and 3 more"]


def test_poison_text_is_kept_safe(tmp_path: Path) -> None:
    """A lone surrogate escaped in a line (half a UTF-16 pair) cannot be written as UTF-8: it becomes U+FFFD."""
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'{"task": "t", "sample_id": "a\\ud800", "output": "x\\udfffy", "prompt": "\\u2028"}\n')
    skipped: list[str] = []
    (rec,) = read_samples_by_task(path, skipped, "s.jsonl")["t"]
    assert skipped == [] and (rec["sample_id"], rec["output"], rec["prompt"]) == ("a\ufffd", "x\ufffdy", "\u2028")


def _chunk(folder: Path) -> list[dict[str, Any]]:
    raw = (folder / "chunk-0.js").read_text(encoding="utf-8")
    assert "<" not in re.sub(r'"(?:[^"\\]|\\.)*"', '""', raw)  # markup only inside JSON strings
    return json.loads("[" + raw.removeprefix("HarnessSamples.add(").removesuffix(");\n") + "]")[2]


def test_huge_samples_are_cut_in_the_site_and_whole_in_the_download(tmp_path: Path) -> None:
    root = tmp_path / "results"
    big = "<script>alert(1)</script>" + "长" * 3_000_000  # 3 MB of one model's output
    recs = [sample("cmath", 0, output=big, prompt="p" * (FIELD_CHARS + 1),
                   execution=[{"status": "failed", "seconds": 1.0, "stdout": "o" * 50_000, "stderr": ""}]),
            sample("cmath", 1, output="\ud800 lone", turns=["q" * 30_000, "r"], answers=["a", "b"], judge={"s": 1})]
    put(root, "good", good_run("<img src=x onerror=alert(1)>"), [line(recs[0]), line(sample("ceval", 0))]
        + [json.dumps(recs[1]).encode()])
    out = tmp_path / "site"
    info = build_site(root, out)
    assert info["skipped"] == []
    (folder,) = (out / "data" / "samples" / "cmath" / "v1").iterdir()
    first, second = _chunk(folder)
    assert first["output"] == big[:FIELD_CHARS] and first["prompt"] == "p" * FIELD_CHARS
    assert first["execution"][0]["stdout"] == "o" * FIELD_CHARS
    assert first["cut"] == {"output": len(big), "prompt": FIELD_CHARS + 1, "execution": 50_000}
    assert second["dialogue"][0][0] == "q" * FIELD_CHARS and second["cut"] == {"dialogue": 30_000}
    assert second["output"] == "\ufffd lone"
    assert (folder / "chunk-0.js").stat().st_size < 200_000  # not the 9 MB of the line
    full = [json.loads(x) for x in (folder / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert full[0]["output"] == big  # the download keeps every character
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "<img src=x" not in index and "&lt;img src=x onerror=alert(1)&gt;" in index  # model text is escaped
    task = (out / "tasks" / "cmath.html").read_text(encoding="utf-8")
    assert "<img src=x" not in task


def test_a_samples_file_outside_the_folder_is_never_read(tmp_path: Path) -> None:
    """samples_file is a name beside the results file: a path that leaves the folder is refused by the schema, so
    another file's text never reaches the site."""
    root = tmp_path / "results"
    secret = tmp_path / "secret.samples.jsonl"
    secret.write_text(json.dumps(sample("ceval", 0, output="SECRET")) + "\n", encoding="utf-8")
    put(root, "good", good_run())
    put(root, "evil", good_run("evil", samples_file="../../secret.samples.jsonl"))
    out = tmp_path / "site"
    info = build_site(root, out)
    assert info["skipped"] == ['skipped evil/run.json: samples_file: should be a file name in the same folder '
                               '(got "../../secret.samples.jsonl")']
    assert not any("SECRET" in p.read_text(encoding="utf-8") for p in out.rglob("*") if p.is_file())


def _sparse_runs() -> list[tuple[str, dict[str, Any]]]:
    """Files the schema accepts with as little in them as it allows: every optional block null, or present with
    only its required fields."""
    out: list[tuple[str, dict[str, Any]]] = []
    optional = ["run_id", "started_at", "finished_at", "harness", "environment", "judge", "command", "config", "suite",
                "throughput", "samples_file", "sandbox", "cache", "launcher"]
    for key in optional:
        out.append((f"null-{key}", mutated(lambda d, k=key: d.update({k: None}))))
        out.append((f"absent-{key}", mutated(lambda d, k=key: d.pop(k, None))))
    out.append(("judge-minimal", mutated(lambda d: d.update(judge={"model": {"name": "j"}}))))
    out.append(("suite-minimal", mutated(lambda d: d.update(suite={"categories": {"k": {}}}))))
    out.append(("throughput-minimal", mutated(lambda d: d.update(throughput={"accelerator": {"kind": "cuda"}}))))
    out.append(("model-minimal", mutated(lambda d: d.update(model={"name": "m"}))))
    out.append(("task-minimal", mutated(lambda d: d.update(tasks={"ceval": {"version": "2a", "n_samples": 0,
                                                                          "score": None}}))))
    out.append(("task-data-minimal", mutated(lambda d: d["tasks"]["ceval"].update(data={}, context={}, metrics={}))))
    out.append(("launcher-minimal", mutated(lambda d: d.update(launcher={"kind": "ray"}))))
    return out


@pytest.mark.parametrize(("name", "data"), _sparse_runs(), ids=[n for n, _ in _sparse_runs()])
def test_a_sparse_but_valid_file_builds(tmp_path: Path, name: str, data: dict[str, Any]) -> None:
    """Whatever the schema lets through, the site can show: no page reads a field the schema does not promise."""
    root = tmp_path / "results"
    put(root, "m", data, [line(sample("ceval", 0)), line(sample("cmath", 0))])
    info = build_site(root, tmp_path / "site")
    assert info["skipped"] == [] and info["runs"] == 1
