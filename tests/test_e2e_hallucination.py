"""The hallucination-control and science-reasoning tasks end to end through the command line: a scripted model and a
scripted judge (the fake OpenAI-compatible server of test_openai_backend.py, answering from the prompt it gets), real
items, and every task score recomputed by hand from the samples JSONL: Chinese SimpleQA's F-score from the per-item
grades, HalluQA's non-hallucination rate (empty answers included), UHGEval's accuracy with its A/B order, and
GAOKAO-Bench's points awarded over points possible (a grade above the points clamped, an unreadable one left out)."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import pytest
from test_openai_backend import FakeServer

from harness.cli import main

TASKS = ["chinese_simpleqa", "halluqa", "halluqa_mc", "uhgeval_selective", "gaokao_science_open"]


def _pick(text: str, n: int) -> int:
    """A deterministic choice per prompt, so the items get a mix of answers."""
    return zlib.crc32(text.encode("utf-8")) % n


def _model_reply(body: dict[str, Any]) -> dict[str, Any]:
    messages = body["messages"]
    user = messages[-1]["content"]
    system = messages[0]["content"] if messages[0]["role"] == "system" else ""
    k = _pick(user, 4)
    if "哪个续写更符合现实" in user:  # UHGEval: a letter first, a letter after a word (wrong), or no letter
        text = ["A", "B更符合现实，更准确", "我认为A更符合现实，更准确", "不确定"][k]
    elif "Question:" in user:  # HalluQA MC: only "Answer: X" and a lone letter count
        text = ["Answer: A", "B", "答案：A", "Answer: E"][k]
    elif user.rstrip().endswith("A:"):  # HalluQA open generation: one empty answer in four
        text = ["", "ans-1", "ans-2", "ans-3"][k]
    elif system == "你是一个智能助手。":  # Chinese SimpleQA: the answer carries the grade the judge will give
        text = ["", "ans-1", "ans-2", "ans-3"][k]
    else:  # GAOKAO-Bench
        text = ["【解析】略<eoe>\n【答案】ans-1<eoa>", "【答案】ans-2<eoa>", "【答案】ans-3<eoa>", "ans-4"][k]
    return {"text": text, "finish_reason": "stop", "stop_reason": None}


def _judge_reply(body: dict[str, Any]) -> dict[str, Any]:
    user = body["messages"][-1]["content"]
    if "只返回字母" in user:  # Chinese SimpleQA: A, B, or no letter at all (graded C, as upstream)
        text = "A" if "ans-1" in user else "B：【错误】" if "ans-2" in user else "【未尝试】"
    elif "是否存在幻觉" in user:  # HalluQA, 5 votes (seeds 1234..1238): ans-1 gets 2 是 of 5 (no hallucination), ans-2
        j = body["seed"] - 1234  # 3 of 5 (a hallucination), ans-3 one unreadable vote
        text = ("是" if j < 2 else "否") if "ans-1" in user else ("是" if j < 3 else "否。") if "ans-2" in user else (
            "不确定" if j == 4 else "否")
    else:  # GAOKAO-Bench: 3 points, 99 points (clamped to the question's), or a reply the regex cannot read
        text = ("【判分理由】略\n【总分】3分" if "ans-1" in user else "【总分】1+98=99分" if "ans-2" in user
                else "【总分】两分" if "ans-3" in user else "【总分】0分")
    return {"text": text, "finish_reason": "stop", "stop_reason": None}


@pytest.fixture(scope="module")
def run(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[dict[str, Any]],
                                                                           FakeServer, FakeServer]:
    model, judge = FakeServer(), FakeServer(models=(("judge", "fake-engine"),))
    model.reply, judge.reply = _model_reply, _judge_reply
    out = tmp_path_factory.mktemp("hallu")
    mp = pytest.MonkeyPatch()
    mp.setenv("HARNESS_CACHE_DIR", str(out / "cache"))
    try:
        assert main(["eval", "--backend", "openai", "--base-url", model.url, "--model", "tiny", "--tasks", ",".join(TASKS),
                     "--limit", "12", "--data-dir", str(data_dir), "--output-dir", str(out / "res"), "--judge-backend",
                     "openai", "--judge-base-url", judge.url, "--judge-model", "judge", "--no-progress"]) == 0
    finally:
        mp.undo()
        model.close()
        judge.close()
    (path,) = (out / "res").rglob("*.json")
    results = json.loads(path.read_text(encoding="utf-8"))
    samples = [json.loads(x) for x in (path.parent / results["samples_file"]).read_text(encoding="utf-8").splitlines()]
    return results, samples, model, judge


def _of(samples: list[dict[str, Any]], task: str) -> list[dict[str, Any]]:
    return [s for s in samples if s["task"] == task]


def test_chinese_simpleqa_f_score_from_the_grades(run: tuple[Any, ...]) -> None:
    results, samples, model, judge = run
    mine = _of(samples, "chinese_simpleqa")
    assert len(mine) == 12
    grades = {"ans-1": "A", "ans-2": "B", "ans-3": "C"}
    for s in mine:
        if s["output"] == "":
            assert s["judge"] == "skipped" and s["metrics"] == {"correct": 0.0, "incorrect": 0.0, "not_attempted": 0.0}
        else:
            g = grades[s["output"]]
            assert s["prediction"] == g and s["metrics"]["correct"] == (g == "A") and s["metrics"]["incorrect"] == (g == "B")
            assert s["metrics"]["not_attempted"] == (g == "C") and s["judge"] == "done"
            assert s.get("verdict_flags") == (["judge_defaulted"] if g == "C" else None)  # no letter: C, flagged
    co = sum(s["metrics"]["correct"] for s in mine) / 12
    inc = sum(s["metrics"]["incorrect"] for s in mine) / 12
    cga = co / (co + inc)
    f = 2 * co * cga / (co + cga)
    t = results["tasks"]["chinese_simpleqa"]
    assert t["primary_metric"] == "f_score" and t["score"] == pytest.approx(100 * f)
    assert t["metrics"]["correct_given_attempted"] == pytest.approx(100 * cga)
    assert t["metrics"]["correct"] == pytest.approx(100 * co) and t["metrics"]["incorrect"] == pytest.approx(100 * inc)
    n_empty = sum(s["output"] == "" for s in mine)
    n_default = sum(s["output"] == "ans-3" for s in mine)
    assert t["metrics"].get("judge_skipped_empty", 0) == n_empty and t["metrics"].get("judge_defaulted", 0) == n_default
    assert 0 < n_empty < 12 and 0 < n_default < 12 and 0 < co < 1 and inc > 0
    # the model got the bare question under upstream's system message; empty answers never reached the judge
    asked = [b for b in model.posts("/v1/chat/completions") if b["messages"][0]["content"] == "你是一个智能助手。"]
    assert len(asked) == 12 and all(len(b["messages"]) == 2 for b in asked)
    judged = [b for b in judge.posts("/v1/chat/completions") if "只返回字母" in b["messages"][-1]["content"]]
    assert len(judged) == 12 - n_empty
    assert judged[0]["messages"][0] == {"role": "system", "content": "你是一个智能助手，请根据给定问题、标准答案和模型预测的答案来评估模型的回答是否正确。"}


def test_halluqa_votes_and_empty_answers(run: tuple[Any, ...]) -> None:
    results, samples, _, judge = run
    mine = _of(samples, "halluqa")
    expected = {"": 0.0, "ans-1": 1.0, "ans-2": 0.0}  # empty: a hallucination; 否: none; 是: one
    scored = [s for s in mine if s["output"] in expected]
    for s in scored:
        assert s["metrics"] == {"judge_score": expected[s["output"]]}
    unread = [s for s in mine if s["output"] == "ans-3"]
    assert unread and all(s["judge"] == "unparsed" and s["metrics"] == {} for s in unread)
    for s in mine:  # every vote is kept, in seed order
        want = {"ans-1": ["是", "是", "否", "否", "否"], "ans-2": ["是", "是", "是", "否", "否"],
                "ans-3": ["否", "否", "否", "否", None]}.get(s["output"])
        assert s.get("votes") == want and len(s.get("vote_outputs", [])) == (5 if want else 0)
    t = results["tasks"]["halluqa"]
    assert t["score"] == pytest.approx(100 * sum(expected[s["output"]] for s in scored) / len(scored))
    assert t["metrics"]["judge_unparsed"] == len(unread) and t["metrics"]["judged"] == len(scored)
    asked = [b for b in judge.posts("/v1/chat/completions") if "是否存在幻觉" in b["messages"][-1]["content"]]
    assert len(asked) == 5 * (len(mine) - sum(s["output"] == "" for s in mine))
    assert sorted({b["seed"] for b in asked}) == [1234, 1235, 1236, 1237, 1238] and all(b["temperature"] == 0 for b in asked)
    # upstream's judge conversation: system, the rubric, its acknowledgement, then the item
    convo = next(b["messages"] for b in judge.posts("/v1/chat/completions") if "是否存在幻觉" in b["messages"][-1]["content"])
    assert [m["role"] for m in convo] == ["system", "user", "assistant", "user"]
    assert convo[0]["content"] == "You are a helpful assistant." and convo[1]["content"].startswith("我现在需要你判断")
    assert convo[2]["content"].startswith("明白了") and convo[3]["content"].startswith("问题：")


def test_halluqa_mc_only_the_upstream_forms_count(run: tuple[Any, ...]) -> None:
    results, samples, _, _ = run
    mine = _of(samples, "halluqa_mc")
    read = {"Answer: A": "A", "B": "B", "答案：A": None, "Answer: E": "E"}
    for s in mine:
        assert s["prediction"] == read[s["output"]] and s["correct"] == (read[s["output"]] == s["target"])
    t = results["tasks"]["halluqa_mc"]
    assert t["score"] == pytest.approx(100 * sum(s["correct"] for s in mine) / len(mine))
    assert t["metrics"]["unextracted"] == sum(s["output"] == "答案：A" for s in mine)


def test_uhgeval_order_and_first_letter(run: tuple[Any, ...], data_dir: Path) -> None:
    results, samples, _, _ = run
    rows = {json.loads(x)["id"]: json.loads(x) for x in
            (data_dir / "uhgeval/dataset_uhgeval_concise.jsonl").read_text(encoding="utf-8").splitlines()}
    mine = _of(samples, "uhgeval_selective")
    for s in mine:
        row = rows[s["sample_id"]]
        hallu_first = len(row["hallucinatedContinuation"]) % 2 == 0
        assert s["target"] == ("B" if hallu_first else "A")
        first, second = (row["hallucinatedContinuation"], row["realContinuation"])[:: 1 if hallu_first else -1]
        assert f'A："""{first}"""\n\nB："""{second}"""' in s["prompt"]
        letter = s["output"].strip()[:1]
        assert s["prediction"] == (letter if letter in "AB" else None)
    t = results["tasks"]["uhgeval_selective"]
    right = [s["prediction"] == s["target"] for s in mine]
    answered = [s["prediction"] == s["target"] for s in mine if s["prediction"] is not None]
    assert t["score"] == pytest.approx(100 * sum(right) / len(mine))
    assert t["metrics"]["accuracy_answered"] == pytest.approx(100 * sum(answered) / len(answered))
    assert len(answered) < len(mine)


def test_gaokao_points_over_points(run: tuple[Any, ...]) -> None:
    results, samples, _, _ = run
    mine = _of(samples, "gaokao_science_open")
    awarded = possible = 0.0
    clamped = unread = 0
    for s in mine:
        pts = s["weight"]
        verdict = {"ans-1": 3.0, "ans-2": 99.0, "ans-3": None}.get(s["output"].split("【答案】")[-1].split("<eoa>")[0], 0.0)
        if verdict is None:
            unread += 1
            assert s["judge"] == "unparsed" and s["metrics"] == {}
            continue
        clamped += verdict > pts
        awarded += min(verdict, pts)
        possible += pts
        assert s["metrics"]["judge_score"] == pytest.approx(min(verdict, pts) / pts)
    t = results["tasks"]["gaokao_science_open"]
    assert t["score"] == pytest.approx(100 * awarded / possible)
    assert t["metrics"]["judge_clamped"] == clamped > 0 and t["metrics"]["judge_unparsed"] == unread > 0
    assert results["judge"]["judge_clamped"] == {"gaokao_science_open": clamped}
    assert set(t["aggregate"]["groups"]["subset"]) == {"2010-2022_Physics_Open-ended_Questions",
                                                       "2010-2022_Chemistry_Open-ended_Questions",
                                                       "2010-2022_Biology_Open-ended_Questions"}


def test_a_metric_without_values_is_null_not_a_failed_run(data_dir: Path, tmp_path: Path) -> None:
    """A model that never starts with A or B leaves accuracy_answered without a single item: the run still succeeds
    and the results file holds null there (the CLI used to check the in-memory NaN against the schema and exit 2)."""
    model = FakeServer()
    model.reply = lambda body: {"text": "两个续写都不准确", "finish_reason": "stop", "stop_reason": None}
    try:
        assert main(["eval", "--backend", "openai", "--base-url", model.url, "--model", "tiny", "--tasks",
                     "uhgeval_selective", "--limit", "3", "--data-dir", str(data_dir), "--output-dir", str(tmp_path),
                     "--no-cache", "--no-progress"]) == 0
    finally:
        model.close()
    (path,) = tmp_path.rglob("*.json")
    t = json.loads(path.read_text(encoding="utf-8"))["tasks"]["uhgeval_selective"]
    assert t["score"] == 0.0 and t["metrics"]["unextracted"] == 3 and t["metrics"]["accuracy_answered"] is None
