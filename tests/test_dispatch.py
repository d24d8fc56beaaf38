"""Items stream through the dispatcher in windows: a run cut into windows of a few items gives exactly the results
and sample lines of a run in one window, and nothing of a finished window stays in memory.

The mix covers every path through a window: likelihood (C-Eval, several subsets), generation (CMATH), code run in
the sandbox (HumanEval-zh) and a two-turn judged dialogue (MT-Bench) whose second turn joins a later round."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import harness.run.dispatch as dispatch
import harness.run.judge as judge
from harness.cli import main

pytestmark = pytest.mark.slow

TASKS = "ceval,cmath,humaneval_zh,mtbench_zh"
VOLATILE = {"seconds", "ttft_s", "tpot_s"}


def _run(out: Path, model: Path, judge: Path, data_dir: Path) -> tuple[dict[str, Any], dict[tuple[str, str], dict]]:
    # batch size 1: the same forward passes whatever the window, so outputs match to the bit
    args = ["eval", "--model", str(model), "--tasks", TASKS, "--data-dir", str(data_dir), "--limit", "5",
            "--max-new-tokens", "16", "--batch-size", "1", "--output-dir", str(out), "--judge-model", str(judge),
            "--no-cache", "--no-progress"]
    assert main(args) == 0
    (path,) = out.rglob("*.json")
    results = json.loads(path.read_text(encoding="utf-8"))
    lines = [json.loads(x) for x in (path.parent / results["samples_file"]).read_text(encoding="utf-8").splitlines()]
    for s in lines:
        for run in s.get("execution", []):
            del run["seconds"]  # the sandbox's wall time, and its folder's random name
            run["stderr"] = re.sub(r"harness-sandbox-\w+", "", run["stderr"])
    return results, {(s["task"], s["sample_id"]): {k: v for k, v in s.items() if k not in VOLATILE} for s in lines}


def _scores(results: dict[str, Any]) -> dict[str, Any]:
    keep = ("score", "score_stderr", "metrics", "aggregate", "n_samples", "prompt_hash", "template_hash")
    return {name: {k: t[k] for k in keep} for name, t in results["tasks"].items()}


def test_windows_change_nothing_and_keep_nothing(tiny_models: dict[str, Path], scripted_judge: Path, data_dir: Path,
                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole, whole_samples = _run(tmp_path / "whole", tiny_models["qwen2"], scripted_judge, data_dir)

    windows: list[int] = []
    left_behind: list[int] = []
    run_window = dispatch.Dispatcher._run_window

    def watched(self: dispatch.Dispatcher, window: list, *args: Any) -> None:
        windows.append(len(window))
        run_window(self, window, *args)
        left_behind.append(len(self.live) + len(self.conversations))

    judged: list[int] = []
    judge_window = judge._Judging.window

    def watched_judge(self: judge._Judging, records: list, *args: Any) -> None:
        judged.append(len(records))
        judge_window(self, records, *args)

    monkeypatch.setattr(dispatch, "WINDOW", 3)
    monkeypatch.setattr(dispatch.Dispatcher, "_run_window", watched)
    monkeypatch.setattr(judge._Judging, "window", watched_judge)
    cut, cut_samples = _run(tmp_path / "cut", tiny_models["qwen2"], scripted_judge, data_dir)

    assert windows == [3] * 6 + [2]  # 4 tasks x 5 items, the windows crossing task boundaries
    assert left_behind == [0] * len(windows)
    assert judged == [3, 2]  # the judge pass reads its pending lines back from the file, a window at a time
    assert _scores(cut) == _scores(whole)
    assert cut["suite"] == whole["suite"]
    assert cut_samples == whole_samples
    assert len(cut_samples) == 20
    mt = [s for (task, _), s in cut_samples.items() if task == "mtbench_zh"]
    assert all(len(s["answers"]) == 2 and s["judge"] == "done" and "doc" not in s for s in mt)
