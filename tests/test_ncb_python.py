"""NaturalCodeBench zh, Python half (tasks/code/ncb_python_zh.yaml): upstream's reference solutions pass through the
pytest mode of the verdict protocol, the excluded problems are the ones the data cannot score, and an end-to-end
run's pass@1 and exclusions are recomputed from its samples file.

The whole set (70 problems, about 2.5 minutes on 2 cores) is benchmarks/ncb_reference.py; here a slice that covers
each kind of problem: files and capfd, classes with datetime keys, linked lists, exceptions, numpy, pandas, torch,
lxml elements, scipy's curve_fit on a handle, 10,000 files, threads.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
import yaml
from needs import require
from test_openai_backend import FakeServer

from harness.cli import main
from harness.sandbox.core import Limits
from harness.sandbox.protocol import Check, run_checks
from harness.sandbox.pytest_tasks import extract_ncb_code, imported_modules, installed, needed_modules

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
LIMITS = Limits(timeout_s=60, cpu_s=60, memory_mb=4096, files=32768, disk_mb=256)
# one problem per kind of thing the protocol carries (see the module docstring)
SLICE = [131, 133, 134, 146, 155, 169, 181, 190, 194, 197]
# tests read fixture files that are not in git; 187: labels of scikit-learn < 1.4's KMeans
EXCLUDED = {154, 160, 161, 165, 168, 170, 173, 175, 188, 189, 187}


def _rows(data_dir: Path) -> tuple[dict[int, dict], dict[int, str]]:
    folder = data_dir / "naturalcodebench"
    rows = {r["_id"]: r for r in map(json.loads, (folder / "ncb_python_zh.jsonl").read_text(encoding="utf-8").splitlines())}
    refs = {r["_id"]: r["response"] for r in map(json.loads, (folder / "reference" / "reference_ncb_python_zh.jsonl")
                                                  .read_text(encoding="utf-8").splitlines())}
    return rows, refs


def test_the_task_excludes_the_problems_the_data_cannot_score() -> None:
    spec = yaml.safe_load((ROOT / "tasks" / "code" / "ncb_python_zh.yaml").read_text(encoding="utf-8"))
    assert set(spec["dataset"]["exclude"]["_id"]) == EXCLUDED
    assert spec["execution"]["tests"] == "pytest" and spec["execution"]["code"] == "python"


def test_reference_solutions_pass_on_a_slice(data_dir: Path) -> None:
    rows, refs = _rows(data_dir)
    for i in SLICE:
        for m in needed_modules(rows[i]):
            require(installed(m), f"NaturalCodeBench problem {i} needs {m} (the ncb extra)")
    checks = [Check(rows[i]["testcases"], None, extract_ncb_code(refs[i]), None, tests="pytest") for i in SLICE]
    results = run_checks(checks, LIMITS, workers=2)
    failed = [(i, r.status, r.reason) for i, r in zip(SLICE, results) if not r.passed]
    assert failed == []
    assert all(re.fullmatch(r"(\d+)/\1 tests passed \(\d+ requests\)", r.reason) for r in results)


def test_a_wrong_answer_fails_where_the_reference_passes(data_dir: Path) -> None:
    rows, refs = _rows(data_dir)
    good = extract_ncb_code(refs[134])
    wrong = good.replace("carry, digit = divmod(total, 10)", "carry, digit = 0, total % 10")
    assert wrong != good
    results = run_checks([Check(rows[134]["testcases"], None, c, None, tests="pytest") for c in (good, wrong)], LIMITS)
    assert results[0].passed and results[1].status == "failed"
    assert re.match(r"\d/6 tests passed; first failure: ", results[1].reason), results[1].reason


@pytest.mark.parametrize("answer, code", [
    ("说明\n```python\nimport os\nx = 1\n```\n再说明\n```python\ny = 2\n```", "import os\nx = 1"),
    ("```\ndef f():\n    return 1\n```", "def f():\n    return 1"),
    ("```python\ndef f():\n    return 1\n", ""),  # an unclosed block: upstream finds no code
    ("先导入 from math import pi\ndef area(r): return pi * r * r", "from math import pi\ndef area(r): return pi * r * r"),
    ("def f(): pass", "def f(): pass"),
    ("没有代码", ""),
])
def test_code_extraction_follows_upstream(answer: str, code: str) -> None:
    assert extract_ncb_code(answer) == code


def test_needed_modules_come_from_the_tests_and_the_reference() -> None:
    row = {"testcases": "import numpy as np\nimport os\nfrom scipy.optimize import curve_fit\nimport pytest\n",
           "reference_solution": "```python\nimport torch\nfrom collections import Counter\nfrom . import x\n```"}
    assert needed_modules(row) == ["numpy", "scipy", "torch"]
    assert imported_modules("def f(:\n") == set()


def test_without_pytest_every_problem_is_excluded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests' process runs pytest: where it is not installed, problems are excluded and named, never 0."""
    import harness.sandbox.pytest_tasks as pt

    monkeypatch.setattr(pt, "installed", lambda m: m not in ("pytest", "numpy"))
    row = {"testcases": "import numpy as np\nimport os\n", "reference_solution": ""}
    assert pt.unavailable_modules(row) == ["pytest", "numpy"]


def test_end_to_end_scores_recomputed_from_the_samples(data_dir: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A served model answers even problems with upstream's reference, the others with code that defines nothing;
    numpy is made to look missing, so problems that need it are excluded and named, never scored."""
    rows, refs = _rows(data_dir)
    by_prompt = {r["prompt"]: i for i, r in rows.items()}
    import harness.sandbox.pytest_tasks as pt

    real = pt.installed
    monkeypatch.setattr(pt, "installed", lambda m: m != "numpy" and real(m))
    def right(i: int) -> bool:  # 166's reference calls DataFrame._append, which pandas 3 removed
        return i % 2 == 0 and i != 166

    server = FakeServer()
    asked: list[int] = []
    lock = threading.Lock()

    def reply(body: dict) -> dict:
        i = by_prompt[body["messages"][-1]["content"]]
        with lock:
            asked.append(i)
        text = refs[i] if right(i) else "```python\nNOTHING = 1\n```"
        return {"text": text, "finish_reason": "stop", "stop_reason": None}

    server.reply = reply
    try:
        out = tmp_path / "out"
        assert main(["eval", "--backend", "openai", "--base-url", server.url, "--model", "tiny", "--tasks",
                     "ncb_python_zh", "--limit", "12", "--data-dir", str(data_dir), "--output-dir", str(out),
                     "--no-progress", "--no-cache"]) == 0
    finally:
        server.close()
    (path,) = out.rglob("*.json")
    results = json.loads(path.read_text(encoding="utf-8"))
    t = results["tasks"]["ncb_python_zh"]
    lines = [json.loads(x) for x in (path.parent / results["samples_file"]).read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 12 and not EXCLUDED & {int(s["sample_id"]) for s in lines}
    skipped = [s for s in lines if s.get("skipped")]
    scored = [s for s in lines if not s.get("skipped")]
    assert all("numpy" in needed_modules(rows[int(s["sample_id"])]) for s in skipped) and skipped
    assert {int(s["sample_id"]) for s in scored} == set(asked)  # excluded problems were never asked
    assert t["data"]["excluded_rows"] == len(EXCLUDED)  # the task file's exclusions, counted
    excluded = t["context"]["excluded"]
    assert sum(e["count"] for e in excluded.values()) == len(skipped)
    assert all(re.fullmatch(r"needs_[a-z0-9_]*numpy[a-z0-9_]*_not_installed", k) for k in excluded)
    for s in scored:  # the reference passes, the empty answer fails
        assert s["correct"] == right(int(s["sample_id"])), (s["sample_id"], s["execution"][0]["reason"])
    # the task reports percent; excluded problems are in neither the numerator nor the denominator
    assert t["metrics"]["pass@1"] == pytest.approx(100 * sum(s["metrics"]["pass@1"] for s in scored) / len(scored))
    assert t["metrics"]["pass@1"] == pytest.approx(100 * sum(s["correct"] for s in scored) / len(scored))
    assert results["sandbox"]["protocol"] == "verdict/2"
