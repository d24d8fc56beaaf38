"""Answers checked by running programs: chat-style whole functions and base-model bodies are both assembled
correctly (every problem passes with its canonical solution as a fenced whole function; the canonical solutions
as bodies are tested with the verdict protocol in test_verdict_integrity.py), wrong answers fail, CPIFOpen's
verifiers judge hand-written answers as their code says, and pass@k matches hand-worked values. Everything runs
in the sandbox through the verdict protocol (harness/sandbox/protocol.py), as in a real evaluation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.sandbox.core import Limits
from harness.sandbox.execution import extract_code, pass_at_k, render_checks
from harness.sandbox.protocol import run_checks
from harness.tasks.task import Task, discover_tasks

pytestmark = pytest.mark.slow
LIMITS = Limits(timeout_s=10, cpu_s=10, memory_mb=1024)


@pytest.fixture(scope="module")
def humaneval(data_dir: Path) -> tuple[Task, list]:
    task = Task.load(discover_tasks()["humaneval_zh"])
    return task, task.samples(data_dir)


def _run(task: Task, samples: list, outputs: list[str]) -> list:
    return run_checks([render_checks(task, s, [o])[0] for s, o in zip(samples, outputs)], LIMITS)


def test_whole_functions_in_fences_pass_too(humaneval: tuple[Task, list]) -> None:
    """A chat model answers with the whole function in a fenced block, after some prose."""
    task, samples = humaneval
    outputs = [f"好的，下面是实现：\n```python\n{s.question}\n{s.raw['canonical_solution']}\n```\n这样就可以了。" for s in samples]
    results = _run(task, samples, outputs)
    assert [s.sample_id for s, r in zip(samples, results) if not r.passed] == []


def test_wrong_and_hostile_answers_fail(humaneval: tuple[Task, list]) -> None:
    task, samples = humaneval
    outputs = ["    return None\n", "    while True:\n        pass\n", "    import os\n    os.system('true')\n    return 1\n",
               "    raise SystemExit(0)\n"]  # ends its own process with status 0: the tests' call is never answered
    checks = [render_checks(task, s, [o])[0] for s, o in zip(samples[:4], outputs)]
    results = run_checks(checks, Limits(timeout_s=4, cpu_s=1, memory_mb=512))
    assert [r.status for r in results] == ["failed", "cpu", "failed", "failed"]
    assert results[3].reason == "the solution's process ended before answering call 1"  # more: test_verdict_integrity


def test_extract_code() -> None:
    body = "    return x + 1\n\n\ndef unrelated():\n    pass\nprint(1)"
    assert extract_code(body, "f") == ("    return x + 1\n\n", False)
    assert extract_code("    # a comment\n# col-0 comment\n    return 2\nif __name__:", "f") == (
        "    # a comment\n# col-0 comment\n    return 2", False)
    fenced = "说明\n```python\ndef helper():\n    pass\n```\n再来\n```py\ndef f(x):\n    return x\n```"
    assert extract_code(fenced, "f") == ("def f(x):\n    return x\n", True)
    assert extract_code("```\n    return 3\n```", "f") == ("    return 3\n", False)
    assert extract_code("def f(x):\n    return x", "f") == ("def f(x):\n    return x", True)
    assert extract_code("```python\ndef f(x):\n    return x", "f") == ("def f(x):\n    return x", True)  # unclosed


def test_pass_at_k_by_hand() -> None:
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # 1 - C(3,2)/C(5,2)
    assert pass_at_k(5, 0, 2) == 0.0 and pass_at_k(5, 5, 5) == 1.0 and pass_at_k(3, 2, 2) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(1, 1, 2)


def test_cpifopen_verifiers_on_hand_written_answers(data_dir: Path) -> None:
    task = Task.load(discover_tasks()["cpifopen"])
    by_id = {s.sample_id: s for s in task.samples(data_dir)}
    title, length = by_id["246"], by_id["235"]  # "the title in 《》", "150 to 200 characters"
    assert "《》" in title.question and "150到200个字" in length.question
    body = "城市交通将迎来自动驾驶公交与智能信号协同系统，" * 7  # 23 characters x 7 = 161
    cases = [
        (title, "【答案开始】《城市空气污染治理之路》\n空气污染主要来自工业与交通排放……【答案结束】", "passed"),
        (title, "【答案开始】城市空气污染治理之路\n没有书名号的标题。【答案结束】", "failed"),
        (title, "  【答案开始】《标题》正文【答案结束】\n", "passed"),  # surrounding whitespace is stripped, as upstream
        (title, "《标题》正文", "failed"),  # no markers
        (length, f"【答案开始】{body}【答案结束】", "passed"),
        (length, "【答案开始】太短了。【答案结束】", "failed"),
    ]
    checks = [render_checks(task, s, [answer])[0] for s, answer, _ in cases]
    assert all(c.solution is None and c.stdin is not None for c in checks)  # the answer is data, on stdin
    results = run_checks(checks, LIMITS)
    assert [r.status for r in results] == [expected for _, _, expected in cases]
    assert results[1].reason.startswith("AssertionError at tests.py:") and "文章标题没有用《》标记。" in results[1].reason
    verdict = json.loads(results[1].stdout.strip().splitlines()[-1])
    assert verdict == {"ok": False, "reason": "文章标题没有用《》标记。"}  # the verifier's own reason is recorded


def test_pass_at_k_end_to_end(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path) -> None:
    """A HumanEval-zh variant sampling 3 completions per problem: pass@1 and pass@2 from the same 3 runs."""
    src = discover_tasks()["humaneval_zh"].parent
    folder = tmp_path / "tasks"
    shutil.copytree(src, folder)
    spec = (folder / "humaneval_zh.yaml").read_text(encoding="utf-8")
    spec = spec.replace("name: humaneval_zh", "name: humaneval_zh_pass3").replace(
        "generation: {max_new_tokens: 512,", "generation: {samples: 3, temperature: 0.8, max_new_tokens: 512,").replace(
        "metrics: [pass@1]", "metrics: [pass@1, pass@2]")
    (folder / "humaneval_zh_pass3.yaml").write_text(spec, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["eval", "--model", str(tiny_models["qwen2"]), "--tasks", str(folder / "humaneval_zh_pass3.yaml"),
                 "--data-dir", str(data_dir), "--limit", "2", "--max-new-tokens", "24", "--output-dir", str(out),
                 "--no-progress"]) == 0
    (path,) = out.rglob("*.json")
    results = json.loads(path.read_text(encoding="utf-8"))
    t = results["tasks"]["humaneval_zh_pass3"]
    assert set(t["metrics"]) >= {"pass@1", "pass@2", "statuses"}
    assert sum(t["metrics"]["statuses"].values()) == 2  # the first run's status per item
    samples = [json.loads(x) for x in (path.parent / results["samples_file"]).read_text(encoding="utf-8").splitlines()]
    for s in samples:
        assert len(s["outputs"]) == 3 and len(s["execution"]) == 3
        c = sum(e["status"] == "passed" for e in s["execution"])
        assert s["metrics"] == {"pass@1": pytest.approx(pass_at_k(3, c, 1)), "pass@2": pytest.approx(pass_at_k(3, c, 2))}
    assert results["sandbox"] and all(results["sandbox"].values())
