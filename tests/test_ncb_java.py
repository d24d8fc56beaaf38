"""NaturalCodeBench zh, Java half (tasks/code/ncb_java_zh.yaml): upstream's reference solutions pass in the sandboxed
JVM (a representative slice here: several top-level public classes in one block, JUnit 4 tests run by the Vintage
engine, jsoup, records of the data's odd test class names; all 70 in benchmarks/ncb_java_reference.py), the
answer is cut into files as upstream cuts it, and `harness eval` scores a run end to end: pass@1 from the checks, the
fixture problems left out by the task and the fastjson2 problem left out at run time, both counted with the reason."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from needs import require

from harness.sandbox import java
from harness.sandbox.java import JavaCheck, extract_java, java_limits, run_java_check, solution_files

pytestmark = pytest.mark.slow

DATA = "naturalcodebench/ncb_java_zh.jsonl"
REFERENCE = "naturalcodebench/reference/reference_ncb_java_zh.jsonl"
# 132 and 136: several public classes in one block; 154: jsoup; 161: JUnit 4 tests (Vintage engine); 164: a
# tree class the tests build; 187: a test class not named *Test
SLICE = (132, 136, 154, 161, 164, 187)


def need_java() -> None:
    require(java.refusal() is None, f"Java checks cannot run here: {java.refusal()}")


def rows(data_dir: Path) -> dict[int, dict]:
    return {r["_id"]: r for r in map(json.loads, (data_dir / DATA).read_text(encoding="utf-8").splitlines())}


def references(data_dir: Path) -> dict[int, str]:
    return {r["_id"]: r["response"] for r in map(json.loads, (data_dir / REFERENCE).read_text(encoding="utf-8").splitlines())}


def test_reference_solutions_pass(data_dir: Path):
    need_java()
    require(java.find_jar("jsoup") is not None, "jsoup is not installed (apt-get install -y libjsoup-java)")
    data, refs = rows(data_dir), references(data_dir)

    def one(i: int) -> java.JavaResult:
        return run_java_check(JavaCheck(tuple(extract_java(refs[i])), data[i]["testcases"], str(i)), java_limits(60))

    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(SLICE, pool.map(one, SLICE)))
    assert {i: r.reason for i, r in results.items() if not r.passed} == {}
    assert all(r.found >= 1 for r in results.values())


def test_a_wrong_reference_fails(data_dir: Path):
    """The same problem with another problem's reference: a compile error, named."""
    need_java()
    data, refs = rows(data_dir), references(data_dir)
    r = run_java_check(JavaCheck(tuple(extract_java(refs[131])), data[132]["testcases"], "132"), java_limits(60))
    assert r.status == "failed" and r.reason.startswith("compilation error:") and "Conversation" in r.reason, r


def test_answers_are_cut_into_files_as_upstream_does():
    answer = """好的：
```java
package com.example.app;

import java.util.List;

public class Box<T> {
    private List<T> items;
}

public interface Shape {
    double area();
}

enum Color {
    RED, GREEN
}
```
用法：
```java
Box<String> b = new Box<>();
```
```Java
class Helper {
    static int one() { return 1; }
}
```
"""
    blocks = extract_java(answer)
    # upstream's bare-fence pattern also takes the text between two fences ("用法："): it holds no type, so no file
    assert len(blocks) == 4 and "用法：" in blocks
    files = solution_files(blocks)
    assert sorted(files) == ["Box.java", "Color.java", "Helper.java", "Shape.java"]  # the usage snippet is no type
    assert "package" not in files["Box.java"] and "import java.util.List;" in files["Box.java"]
    assert files["Box.java"].startswith("import org.junit.jupiter.api.Test;")  # upstream's JUnit imports in front
    assert extract_java("no code here") == []


def test_test_class_is_renamed_like_upstream(data_dir: Path):
    from harness.sandbox.java import test_class_file

    name, source = test_class_file(rows(data_dir)[132]["testcases"], "132")
    assert name == "Test_java_132" and "class Test_java_132 {" in source and "ConversationTest" not in source


def test_missing_libraries_are_named():
    assert java.missing_libraries("import com.alibaba.fastjson2.JSON;\nclass A {}") == (
        [] if java.find_jar("fastjson2") else ["fastjson2"])
    assert java.missing_libraries("import java.util.List;") == []


def test_eval_end_to_end(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]):
    """harness eval over HTTP (the fake OpenAI server answers upstream's reference for two problems and a wrong
    answer for a third): pass@1 = 2/3; the fixture problem 141 is left out by the task (excluded_rows) and the
    fastjson2 problem 156 at run time, counted and named."""
    need_java()
    from test_openai_backend import FakeServer

    from harness.cli import main

    data, refs = rows(data_dir), references(data_dir)
    picked = [131, 132, 133, 141, 156]
    folder = tmp_path / "data" / "naturalcodebench"
    folder.mkdir(parents=True)
    (folder / "ncb_java_zh.jsonl").write_text("".join(json.dumps(data[i], ensure_ascii=False) + "\n" for i in picked),
                                              encoding="utf-8")
    answers = {data[i]["prompt"].strip(): refs[i] for i in (131, 132)}
    server = FakeServer(key="sk-ncb")

    def reply(body: dict) -> dict:
        prompt = body["messages"][-1]["content"].strip() if "messages" in body else str(body.get("prompt", ""))
        text = next((a for p, a in answers.items() if p in prompt), refs[131])  # 133 gets 131's answer: wrong
        return {"text": text, "finish_reason": "stop", "stop_reason": None}

    server.reply = reply
    monkeypatch.setenv("NCB_KEY", "sk-ncb")
    out = tmp_path / "out"
    try:
        assert main(["eval", "--backend", "openai", "--base-url", server.url, "--model", "tiny", "--api-key-env",
                     "NCB_KEY", "--tasks", "ncb_java_zh", "--data-dir", str(tmp_path / "data"), "--output-dir",
                     str(out), "--no-progress", "--no-cache"]) == 0
    finally:
        server.close()
    (path,) = out.rglob("*.json")
    results = json.loads(path.read_text(encoding="utf-8"))
    task = results["tasks"]["ncb_java_zh"]
    samples = [json.loads(x) for x in (path.parent / results["samples_file"]).read_text(encoding="utf-8").splitlines()]
    by_id = {str(s["sample_id"]): s for s in samples}
    assert "141" not in by_id  # the task's dataset.exclude: fixture files not in git
    assert task["data"]["excluded_rows"] == 1
    summary = " ".join(capsys.readouterr().out.replace("│", " ").split())  # the table wraps its cells
    assert "(1 row left out by the task file)" in summary  # the summary says so too
    if java.find_jar("fastjson2") is None:
        assert by_id["156"]["skipped"] == "needs fastjson2 not installed"
        assert task["context"]["excluded"]["needs_fastjson2_not_installed"]["ids"] == ["156"]
    passed = {i: by_id[i]["correct"] for i in ("131", "132", "133")}
    assert passed == {"131": True, "132": True, "133": False}, {i: by_id[i].get("execution") for i in passed}
    assert task["metrics"]["pass@1"] == pytest.approx(200 / 3)  # percent
    assert by_id["133"]["execution"][0]["reason"].startswith("compilation error:")
    assert results["sandbox"]["java"]["protocol"] == java.PROTOCOL


def test_tiny_model_end_to_end(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path):
    """A real (tiny, random) model through the HF backend: its noise compiles to nothing, each check fails with a
    reason, and the run completes with pass@1 = 0."""
    need_java()
    from harness.cli import main

    out = tmp_path / "out"
    assert main(["eval", "--model", str(tiny_models["qwen2"]), "--tasks", "ncb_java_zh", "--data-dir", str(data_dir),
                 "--limit", "2", "--max-new-tokens", "16", "--output-dir", str(out), "--no-progress", "--no-cache"]) == 0
    (path,) = out.rglob("*.json")
    results = json.loads(path.read_text(encoding="utf-8"))
    assert results["tasks"]["ncb_java_zh"]["metrics"]["pass@1"] == 0.0
    samples = [json.loads(x) for x in (path.parent / results["samples_file"]).read_text(encoding="utf-8").splitlines()]
    assert len(samples) == 2 and all(s["execution"][0]["status"] == "failed" for s in samples)
    shutil.rmtree(out)
