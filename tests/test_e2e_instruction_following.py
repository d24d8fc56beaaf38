"""CFBench and FollowBench (zh) end to end: `harness eval` with a scripted model and a scripted judge (the fake
OpenAI-compatible server of test_openai_backend.py), on slices of the real files, every score worked out by hand
and recomputed from the samples file.

The model answers 好的, except where a rule can be satisfied by construction (E2E and text_editing: the row's own
target; BBH_logical: "答案是" + target; example items: the target template filled). The CFBench judge marks every
checkpoint met except the last (all met for an all-主需 item), re-words the echo for one item and cannot be read for
another. The FollowBench judge says YES to every constraint, except NO to the last one at even levels, and nothing
readable for the style chain's level 3."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from test_openai_backend import FakeServer

from harness.cli import main
from harness.results.files import read_samples

CF_IDX = [0, 1, 2, 5, 377, 112]  # hard: 0 1 2; easy: 5 377 112
FB_CHAINS = {"content": [1, 14], "situation": [1, 9], "style": [1], "format": [1, 22], "example": [1, 2],
             "mixed": [1, 3]}


def _slice(data_dir: Path, out: Path) -> tuple[dict[str, dict], dict[int, dict]]:
    """A data dir holding six CFBench items and 11 FollowBench chains (their level-0 seeds included)."""
    (out / "cfbench").mkdir(parents=True)
    cf = {r["idx"]: r for r in json.loads((data_dir / "cfbench/cfbench_data.json").read_text(encoding="utf-8"))}
    (out / "cfbench/cfbench_data.json").write_text(json.dumps([cf[i] for i in CF_IDX], ensure_ascii=False), encoding="utf-8")
    (out / "followbench_zh").mkdir()
    by_instruction: dict[str, dict] = {}
    for f, chains in FB_CHAINS.items():
        rows = json.loads((data_dir / f"followbench_zh/{f}_constraints.json").read_text(encoding="utf-8"))
        keep = [r for r in rows if r["example_id"] in chains]
        (out / f"followbench_zh/{f}_constraints.json").write_text(json.dumps(keep, ensure_ascii=False), encoding="utf-8")
        by_instruction.update({r["instruction"]: {**r, "file": f} for r in keep})
    return by_instruction, {i: cf[i] for i in CF_IDX}


def _answer(rows: dict[str, dict], prompt: str) -> str:
    row = rows.get(prompt)
    if row is None:
        return "好的"
    if row["file"] == "example":
        return row["target"].replace("{instruction}\n", "").replace("{answer}", "某个答案")
    if row["source"] in ("E2E", "text_editing"):
        return row["target"]
    if row["source"] == "BBH_logical":
        return "答案是" + row["target"]
    return "好的"


def _judge(cf: dict[int, dict], prompt: str) -> str:
    if "[评估标准]: " in prompt:  # CFBench
        row = next(r for r in cf.values() if f"[用户指令]: {r['prompt']}\n\n[参考答案]" in prompt)
        checkpoints = [c[0] for c in row["criteria"]]
        if row["idx"] == 2:
            return "无法评估"
        marks = [1] * len(checkpoints)
        if not all(c[1] == "主需" for c in row["criteria"]):
            marks[-1] = 0
        if row["idx"] == 377:  # numbered, not the checkpoints' words: read in order
            return "\n".join(f"{k + 1}. 第{k + 1}条\t{m}" for k, m in enumerate(marks))
        return "\n\n".join(f"{c}\t{m}" for c, m in zip(checkpoints, marks))
    level = int(re.search(r"获得了有(\d)个附加约束", prompt).group(1))
    if "风格约束" in prompt and level == 3:
        return "无法判断。"
    marks = ["YES"] * level
    if level % 2 == 0:
        marks[-1] = "NO"
    return "1) 约束……\n2) 判断……\n3) " + str(marks)


@pytest.fixture(scope="module")
def run(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[dict], Path, dict]:
    root = tmp_path_factory.mktemp("ifollow")
    rows, cf = _slice(data_dir, root / "data")
    model, judge = FakeServer(), FakeServer(models=(("judge", "fake-engine"),))
    model.reply = lambda body: {"text": _answer(rows, body["messages"][-1]["content"]), "finish_reason": "stop",
                                "stop_reason": None}
    judge.reply = lambda body: {"text": _judge(cf, body["messages"][-1]["content"]), "finish_reason": "stop",
                                "stop_reason": None}
    try:
        assert main(["eval", "--backend", "openai", "--base-url", model.url, "--model", "tiny",
                     "--tasks", "cfbench,followbench_zh", "--data-dir", str(root / "data"), "--output-dir",
                     str(root / "out"), "--judge-backend", "openai", "--judge-base-url", judge.url,
                     "--judge-model", "judge", "--no-progress"]) == 0
    finally:
        model.close()
        judge.close()
    (path,) = (root / "out").rglob("*.json")
    results = json.loads(path.read_text(encoding="utf-8"))
    return results, read_samples(path.parent / results["samples_file"]), path, judge.requests


def test_cfbench_by_hand(run: tuple[dict[str, Any], list[dict], Path, Any]) -> None:
    """idx 0 (主+5次, last 次 missed): CSR .83 ISR 0 PSR 1 (0.5+0.5*.8 = .9); idx 1 (2主+4次): .83 0 1 (.875);
    idx 5 (主+7次): 7/8 = .875 -> .88, 0, 1; idx 377 (3次, read in order): .67 0 0 (not > .8); idx 112 (3主, all
    met): 1 1 1; idx 2 unparsed, left out. All: PSR 4/5, CSR 4.21/5, ISR 1/5."""
    results, samples, _, _ = run
    t = results["tasks"]["cfbench"]
    m = t["metrics"]
    assert t["primary_metric"] == "psr" and t["score"] == pytest.approx(80.0)
    assert m["csr"] == pytest.approx(100 * 4.21 / 5) and m["isr"] == pytest.approx(20.0)
    assert (m["judged"], m["judge_unparsed"]) == (5, 1)
    split = t["aggregate"]["groups"]["split"]
    assert split["hard"]["score"] == pytest.approx(100.0) and split["hard"]["n"] == 2
    assert split["easy"]["score"] == pytest.approx(200 / 3) and split["easy"]["n"] == 3
    got = {s["sample_id"]: s for s in samples if s["task"] == "cfbench"}
    assert got["5"]["metrics"] == {"psr": 1.0, "csr": 0.88, "isr": 0.0} and got["5"]["prediction"] == "11111110"
    assert got["377"]["metrics"] == {"psr": 0.0, "csr": 0.67, "isr": 0.0} and got["377"]["marks_exact"] is False
    assert got["2"]["judge"] == "unparsed" and got["2"]["metrics"] == {} and got["2"]["verdicts"] == [None]
    assert results["judge"]["unparsed_verdicts"]["cfbench"] == 1 and results["judge"]["inexact_verdicts"] == {"cfbench": 1}


def test_followbench_by_hand(run: tuple[dict[str, Any], list[dict], Path, Any]) -> None:
    """Judged chains: levels 1 3 5 all met, 2 and 4 miss their last constraint (HSR 1 0 1 0 1, SSR 1 .5 1 .75 1,
    CSL 1). Rule chains, answered to pass: HSR 1 at every level (CSL 5); format 22, answered 好的: 0 (CSL 0).
    Cells (file, level): content, situation and mixed mix a judged chain and a passing rule chain (HSR 1 .5 1 .5 1);
    style is judged alone, level 3 unread (1 0 - 0 1); format mixes a judged chain and the failing rule chain
    (.5 0 .5 0 .5); example passes (1 x5). HSR = 20.5 / 29 cells; SSR = 24.25 / 29. CSL per file: content,
    situation, mixed (1 + 5) / 2 = 3; format (1 + 0) / 2; example 5; style's only chain unread: (3+3+3+.5+5) / 5."""
    results, _, _, _ = run
    t = results["tasks"]["followbench_zh"]
    m = t["metrics"]
    assert t["primary_metric"] == "hsr" and t["score"] == pytest.approx(100 * 20.5 / 29)
    assert m["ssr"] == pytest.approx(100 * 24.25 / 29)
    assert m["csl"] == pytest.approx(2.9) and m["csl_chains"] == 10 and m["csl_chains_unread"] == 1
    csl_by = t["aggregate"]["csl_by"]
    assert csl_by["format"] == {"csl": 0.5, "chains": 2} and "style" not in csl_by
    assert (m["judged"], m["judge_unparsed"]) == (54, 1)
    assert t["data"]["excluded_rows"] == 9  # the level-0 seeds of the nine chains outside the example file
    levels = t["aggregate"]["groups"]["level"]  # the mean over files at each level, as upstream's Table 16
    assert levels["1"]["score"] == pytest.approx(100 * 5.5 / 6) and levels["2"]["score"] == pytest.approx(100 * 2.5 / 6)
    assert levels["3"]["score"] == pytest.approx(100 * 4.5 / 5)  # style's level 3 unread: five files
    files = t["aggregate"]["groups"]["subset"]  # per file, the mean over its levels
    assert files["style"]["score"] == pytest.approx(50.0) and files["format"]["score"] == pytest.approx(30.0)
    j = results["judge"]
    assert j["rule_scored"] == {"followbench_zh": 30} and j["unparsed_verdicts"]["followbench_zh"] == 1


def test_scores_recomputed_from_the_samples(run: tuple[dict[str, Any], list[dict], Path, Any]) -> None:
    results, samples, _, _ = run
    cf = [s for s in samples if s["task"] == "cfbench" and s["metrics"]]
    for metric in ("psr", "csr", "isr"):
        assert results["tasks"]["cfbench"]["metrics"][metric] == pytest.approx(
            100 * sum(s["metrics"][metric] for s in cf) / len(cf))
    fb = [s for s in samples if s["task"] == "followbench_zh"]
    assert len(fb) == 55 and all("example_id" in s["meta"] and "level" in s["meta"] for s in fb)
    for metric in ("hsr", "ssr"):
        cells: dict[tuple[str, int], list[float]] = defaultdict(list)
        for s in fb:
            if s["metrics"]:
                cells[(s["meta"]["subset"], s["meta"]["level"])].append(s["metrics"][metric])
        want = 100 * sum(sum(v) / len(v) for v in cells.values()) / len(cells)
        assert results["tasks"]["followbench_zh"]["metrics"][metric] == pytest.approx(want)
    chains: dict[tuple[str, int], dict[int, Any]] = defaultdict(dict)
    for s in fb:
        chains[(s["meta"]["subset"], s["meta"]["example_id"])][s["meta"]["level"]] = s["metrics"].get("hsr")
    per_file: dict[str, list[int]] = defaultdict(list)
    for (f, _), levels in chains.items():
        if None in levels.values():
            continue
        run_ = 0
        while run_ < 5 and levels[run_ + 1] == 1.0:
            run_ += 1
        per_file[f].append(run_)
    want_csl = sum(sum(v) / len(v) for v in per_file.values()) / len(per_file)
    assert results["tasks"]["followbench_zh"]["metrics"]["csl"] == pytest.approx(want_csl)


def test_rules_and_judge_prompts(run: tuple[dict[str, Any], list[dict], Path, Any]) -> None:
    """Rule-scored items never reach the judge; a judged item's prompt holds its chain from level 0 up."""
    results, samples, path, requests = run
    fb = {s["sample_id"]: s for s in samples if s["task"] == "followbench_zh"}
    ruled = [s for s in fb.values() if s["judge"] == "rule"]
    assert len(ruled) == 30 and {s["rule"] for s in ruled} == {"E2E", "BBH_logical", "format_22", "example",
                                                                  "text_editing"}
    assert all(s["judge_outputs"] == [] for s in ruled)
    judged_prompts = [r["body"]["messages"][-1]["content"] for r in requests if r["path"].endswith("/chat/completions")]
    assert len(judged_prompts) == 6 + 25  # every CFBench item, five judged FollowBench chains
    lines = [json.loads(x) for x in (path.parent / results["judge"]["judgements_file"]).read_text(encoding="utf-8").splitlines()]
    level3 = next(x["judge_prompt"] for x in lines if x["task"] == "followbench_zh" and "获得了有3个附加约束" in x["judge_prompt"]
                  and "内容约束" in x["judge_prompt"])
    for k in (1, 2, 3):
        assert f"#初始指令 + {k}个约束#\n" in level3
    assert "#初始指令 + 4个约束#" not in level3 and level3.startswith("给定一个初始指令，我们每次添加一个内容约束")
