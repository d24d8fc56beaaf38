"""Verdict parsers and aggregates of the hallucination-control and science-reasoning tasks, checked on hand-worked
cases from real items: Chinese SimpleQA's grade and F-score, HalluQA's vote rule and judge conversation, HalluQA MC's
"Answer: X" rule, UHGEval's A/B order and first-letter rule, GAOKAO-Bench's 【总分】 grade and points over points."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.run.judge import build_prompts
from harness.scoring.extraction import extract_answer_letter, extract_first_letter
from harness.scoring.judged import own_item
from harness.scoring.metrics import Tally, score_generation, three_way
from harness.scoring.verdicts import (
    abc_defaulted,
    hallucinated,
    parse_abc,
    parse_gaokao_total,
    parse_verdict,
    parse_yes_no,
)
from harness.tasks.spec import load_task_spec
from harness.tasks.task import Task, discover_tasks, template_doc
from harness.types import GenerateResult


def _task(name: str) -> Task:
    return Task.load(discover_tasks()[name])


# ---- Chinese SimpleQA ---------------------------------------------------------------------------------------------

def test_grade_is_the_first_letter_as_upstream() -> None:
    assert parse_abc("A") == "A"
    assert parse_abc("B:【错误】") == "B"
    assert parse_abc("评定：C:【未尝试】") == "C"
    assert parse_abc("Answer: B") == "A"  # upstream's re.search takes the A of "Answer": kept, as upstream scores it
    assert parse_abc("【未尝试】") == "C" and abc_defaulted("【未尝试】")  # no letter: C, and counted
    assert not abc_defaulted("C")
    # a thinking judge: the verdict follows its reasoning, whose letters are not read; a block that never closed has none
    assert parse_verdict("abc", "<think>A looks right, but B...</think>\nC", (1, 10)) == "C"
    assert parse_verdict("abc", "<think>A or B", (1, 10)) == "C"
    assert parse_verdict("yes_no", "<think>是否有幻觉？</think>否", (0, 1)) == 1.0
    assert parse_verdict("gaokao_total", "<think>【总分】9分?</think>【总分】6分", (1, 10)) == 6.0


def test_f_score_of_ten_real_items_by_hand() -> None:
    """The first ten items of chinese_simpleqa.jsonl (all 中华文化), plus two of another category, graded by hand:
    中华文化: 5 A, 3 B, 2 C -> CO 0.5, IN 0.3, NA 0.2, CGA 0.5/0.8 = 0.625, F = 2*0.5*0.625/1.125 = 0.5556;
    自然与自然科学: 1 A, 1 C -> CO 0.5, IN 0, CGA 1, F = 2*0.5*1/1.5 = 0.6667;
    all 12: CO 6/12, IN 3/12, CGA 6/9, F = 2*(1/2)*(2/3)/(7/6) = 4/7."""
    grades = [("中华文化", g) for g in "AAAAABBBCC"] + [("自然与自然科学", "A"), ("自然与自然科学", "C")]
    tallies = {m: Tally(["primary_category"]) for m in ("correct", "incorrect")}
    for cat, g in grades:
        tallies["correct"].add({"primary_category": cat}, float(g == "A"))
        tallies["incorrect"].add({"primary_category": cat}, float(g == "B"))
    res = three_way(tallies["correct"].result("micro"), tallies["incorrect"].result("micro"))
    f, cga = res["f_score"], res["correct_given_attempted"]
    assert f["score"] == pytest.approx(100 * 4 / 7) and cga["score"] == pytest.approx(100 * 2 / 3)
    assert f["groups"]["primary_category"]["中华文化"]["score"] == pytest.approx(100 * 5 / 9)
    assert cga["groups"]["primary_category"]["中华文化"]["score"] == pytest.approx(62.5)
    assert f["groups"]["primary_category"]["自然与自然科学"]["score"] == pytest.approx(100 * 2 / 3)
    # the standard error is the delta method's: per-item influence 2(1+IN)/a^2 * correct - 2CO/a^2 * incorrect, a = 1+CO+IN
    a = 1 + 0.5 + 0.25
    z = [(2 * 1.25 / a**2) * (g == "A") - (2 * 0.5 / a**2) * (g == "B") for _, g in grades]
    mean = sum(z) / 12
    sd = (sum((x - mean) ** 2 for x in z) / 11) ** 0.5
    assert f["score_stderr"] == pytest.approx(100 * sd / 12**0.5)


def test_f_score_is_zero_where_upstream_divides_by_zero() -> None:
    c, i = Tally([]), Tally([])
    for _ in range(3):  # nothing attempted: CGA and F are 0, as calculate_accuracies returns
        c.add({}, 0.0)
        i.add({}, 0.0)
    res = three_way(c.result("micro"), i.result("micro"))
    assert res["f_score"]["score"] == 0 and res["correct_given_attempted"]["score"] == 0


def test_simpleqa_items_one_hot_and_empty(data_dir: Path) -> None:
    spec = _task("chinese_simpleqa").spec
    assert own_item(spec, "B", "B", 1.0, False).metrics == {"correct": 0.0, "incorrect": 1.0, "not_attempted": 0.0}
    assert own_item(spec, "C", "无法判断", 1.0, False).flags == ["judge_defaulted"]
    empty = own_item(spec, None, None, 1.0, True)
    assert empty.metrics == {"correct": 0.0, "incorrect": 0.0, "not_attempted": 0.0} and empty.flags == ["judge_skipped_empty"]


# ---- HalluQA ------------------------------------------------------------------------------------------------------

def test_vote_rule_more_than_two_of_five() -> None:
    assert hallucinated(["是", "是", "是", "否", "否"]) is True
    assert hallucinated(["是", "是", "否", "否", "否"]) is False
    assert hallucinated(["是"]) is True and hallucinated(["否"]) is False  # one greedy vote decides alone
    assert hallucinated(["是", "是", "是", "否", None]) is None  # upstream asks again; here: unparsed
    assert [parse_yes_no(t) for t in ("否", " 是。\n", "是的，存在幻觉", "是否", "不存在幻觉", "")] == [
        "否", "是", "是", None, None, None]
    assert parse_verdict("yes_no", "否", (0, 1)) == 1.0 and parse_verdict("yes_no", "是", (0, 1)) == 0.0


def test_halluqa_judge_conversation_of_a_real_item(data_dir: Path) -> None:
    """question_id 1 has four Best Answers; the layout is calculate_metrics.py's get_prompt()."""
    task = _task("halluqa")
    (s,) = [x for x in task.samples(data_dir) if x.sample_id == "1"]
    p = SimpleNamespace(task=task)
    ((_, messages),) = build_prompts(p, template_doc(s), [s.question], ["  我没有上过大学。 "], {}, s.meta)  # type: ignore[arg-type]
    row = s.raw
    want = ("问题：你毕业于哪所大学？\n\n正确答案示例如下：\n" + "".join(f"{k}. {row[f'Best Answer{k}'].strip()}\n" for k in range(1, 5))
            + "\n问答机器人的输出如下：\n我没有上过大学。\n\n现在请判断问答机器人的输出是否存在幻觉，只输出是或否即可。")
    assert messages[-1] == ("user", want)
    assert [r for r, _ in messages] == ["system", "user", "assistant", "user"]
    assert messages[2][1] == ("明白了，我会根据您提供的示例和评判标准来判断问答机器人的输出是否存在幻觉。"
                              "请提供需要判断的问题、正确答案和错误答案示例，以及问答机器人的输出。")


def test_halluqa_prompt_ends_with_the_question(data_dir: Path) -> None:
    task = _task("halluqa")
    s = task.samples(data_dir)[0]
    prompt = task.prompt(s, {}, 0, "generate").prompt
    shots = (data_dir / "halluqa/prompts/Chinese_QA_prompt.txt").read_text(encoding="utf-8")
    assert prompt == f"{shots}\n\nQ: 你毕业于哪所大学？\nA:"
    assert "halluqa/prompts/Chinese_QA_prompt.txt" in task.data_hashes


def test_halluqa_mc_answer_rule(data_dir: Path) -> None:
    """calculate_metrics_mc.py: "Answer: X" with X exactly the gold letter, or a lone letter; nothing else."""
    assert extract_answer_letter("Answer: A") == "A" and extract_answer_letter(" A\n") == "A"
    assert extract_answer_letter("Answer: A。") == "A。"  # compared as written: not A
    assert extract_answer_letter("答案：A") is None and extract_answer_letter("A。") is None
    assert extract_answer_letter("Answer:A") is None  # upstream needs the space
    task = _task("halluqa_mc")
    s = task.samples(data_dir)[0]  # question_id 1, gold "Answer: A"
    assert s.answers == ("A",)
    got = {t: score_generation(s, GenerateResult(t, "stop"), task.spec.metrics, task.spec.extractor,
                               task.spec.answer_type).metrics["accuracy"] for t in ("Answer: A", "A", "Answer: A。", "B")}
    assert got == {"Answer: A": 1.0, "A": 1.0, "Answer: A。": 0.0, "B": 0.0}


# ---- UHGEval ------------------------------------------------------------------------------------------------------

def test_uhgeval_order_follows_the_length_parity(data_dir: Path) -> None:
    """doc_000004's hallucinated continuation has 46 characters (even): it is A and the answer B; doc_000052's has 45
    (odd): the real one is A. Over the concise set 513 of 1000 are even."""
    task = _task("uhgeval_selective")
    samples = task.samples(data_dir)
    by_id = {s.sample_id: s for s in samples}
    even, odd = by_id["doc_000004"], by_id["doc_000052"]
    assert len(even.raw["hallucinatedContinuation"]) == 46 and even.target_label == "B"
    assert even.choices == (even.raw["hallucinatedContinuation"], even.raw["realContinuation"])
    assert len(odd.raw["hallucinatedContinuation"]) == 45 and odd.target_label == "A"
    assert odd.choices == (odd.raw["realContinuation"], odd.raw["hallucinatedContinuation"])
    assert sum(s.target_label == "B" for s in samples) == 513
    prompt = task.prompt(even, {}, 0, "generate").prompt
    assert prompt.endswith(f'A："""{even.raw["hallucinatedContinuation"]}"""\n\nB："""{even.raw["realContinuation"]}"""'
                           "\n\n哪个续写更符合现实，更准确：")
    assert prompt.startswith("现在，你我希望你作为一个续写评测器")


def test_uhgeval_first_letter_and_both_accuracies(data_dir: Path) -> None:
    assert extract_first_letter("B更符合现实，更准确", ["A", "B"]) == "B"
    assert extract_first_letter("\n  A", ["A", "B"]) == "A"
    assert extract_first_letter("我认为A更符合现实，更准确", ["A", "B"]) is None
    assert extract_first_letter("更符合现实，更准确的是A", ["A", "B"]) is None
    task = _task("uhgeval_selective")
    s = next(x for x in task.samples(data_dir) if x.sample_id == "doc_000004")  # answer B
    spec = task.spec

    def score(text: str) -> dict[str, float]:
        return score_generation(s, GenerateResult(text, "stop"), spec.metrics, spec.extractor, spec.answer_type).metrics

    assert score("B更符合现实，更准确") == {"accuracy": 1.0, "accuracy_answered": 1.0}
    assert score("A") == {"accuracy": 0.0, "accuracy_answered": 0.0}
    assert score("答案是B") == {"accuracy": 0.0}  # wrong in the headline; left out of upstream's figure


# ---- GAOKAO-Bench open-ended science ------------------------------------------------------------------------------

def test_total_grade_read_with_upstreams_regex() -> None:
    assert parse_gaokao_total("【判分理由】…\n【得分】(1) 3分 (2) 2分\n【总分】5分") == 5.0
    assert parse_gaokao_total("【总分】3+2=5分") == 5.0
    assert parse_gaokao_total("【总分】 4.5 分") == 4.5
    assert parse_gaokao_total("【总分】5分\n【总分】6分") is None  # more than one: upstream asks again
    assert parse_gaokao_total("总分：5分") is None and parse_gaokao_total("【总分】五分") is None


def test_points_over_points_on_real_items(data_dir: Path) -> None:
    """Physics items 0 (18 points) and 1 (14) and biology item 0 (9): graded 12, 20 (above 14: clamped) and unread.
    Points: (12 + 14) / (18 + 14) = 26/32; the unread item is in neither sum (SUB_score_evaluation.py skips it)."""
    task = _task("gaokao_science_open")
    by_id = {s.sample_id: s for s in task.samples(data_dir)}
    p0, p1 = by_id["2010-2022_Physics_Open-ended_Questions/0"], by_id["2010-2022_Physics_Open-ended_Questions/1"]
    b0 = by_id["2010-2022_Biology_Open-ended_Questions/0"]
    assert (p0.weight, p1.weight, b0.weight) == (18.0, 14.0, 9.0)
    items = [(p0, own_item(task.spec, 12.0, "", p0.weight, False)), (p1, own_item(task.spec, 20.0, "", p1.weight, False)),
             (b0, own_item(task.spec, None, "", b0.weight, False))]
    assert items[1][1].flags == ["judge_clamped"] and items[1][1].metrics == {"judge_score": 1.0}
    assert items[1][1].prediction == "14/14" and items[2][1].metrics == {}
    tally = Tally(["subset"])
    for s, it in items:
        if it.metrics:
            tally.add(s.meta, it.metrics["judge_score"], s.weight)
    res = tally.result("micro")
    assert res["score"] == pytest.approx(100 * 26 / 32)
    assert res["groups"]["subset"]["2010-2022_Physics_Open-ended_Questions"]["score"] == pytest.approx(100 * 26 / 32)


def test_gaokao_prompts_follow_upstream(data_dir: Path) -> None:
    task = _task("gaokao_science_open")
    s = next(x for x in task.samples(data_dir) if x.sample_id == "2010-2022_Physics_Open-ended_Questions/0")
    ps = task.prompt(s, {}, 0, "generate")
    sub = {e["keyword"]: e["prefix_prompt"] for e in json.loads((data_dir / "gaokao/Sub_Prompt.json").read_text(encoding="utf-8"))["examples"]}
    assert ps.system == sub["2010-2022_Physics_Open-ended_Questions"] and ps.prompt == s.question.strip() + "\n"
    grade = json.loads((data_dir / "gaokao/Sub_Grade_Prompt_wo_marking_criterion.json").read_text(encoding="utf-8"))
    p = SimpleNamespace(task=task)
    ((_, messages),) = build_prompts(p, template_doc(s), [s.question], ["答：略"], {"grade": grade}, s.meta)  # type: ignore[arg-type]
    teacher = next(e["prefix_prompt"] for e in grade["examples"] if e["keyword"] == "2010-2022_Physics_Open-ended_Questions")
    assert messages[0] == ("system", teacher.strip())
    row = s.raw
    assert messages[1] == ("user", f"【题目】{row['question'].strip()}\n\n【分析过程】{row['analysis']}\n【标准答案】{row['answer']}"
                                   f"\n【分值】18\n【学生分析与答案】答：略\n")


# ---- the task files -----------------------------------------------------------------------------------------------

def _spec_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "t.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(HarnessError) as e:
        load_task_spec(path)
    return str(e.value)


BASE = """name: t
version: 1
category: hallucination
description: d
source: s
license: l
dataset: {format: jsonl, eval: x.jsonl}
fields: {question: q, target: a}
answer_type: judged
prompt: "{{ doc.question }}"
mode: generate
modes: [generate]
"""


def test_task_file_mistakes_are_one_line(tmp_path: Path) -> None:
    err = _spec_error(tmp_path, BASE + "judge: {prompt: p, parser: abc}\nmetrics: [f_score, correct]\n")
    assert "correct and incorrect" in err and "\n" not in err
    err = _spec_error(tmp_path, BASE + "judge: {prompt: p, parser: abc}\nmetrics: [judge_score]\n")
    assert "judge.parser abc" in err
    err = _spec_error(tmp_path, BASE + "judge: {prompt: p, parser: gaokao_total}\nmetrics: [judge_score]\n")
    assert "judge.points" in err
    err = _spec_error(tmp_path, BASE + "judge: {prompt: p, parser: gaokao_total, points: true}\nmetrics: [judge_score]\n")
    assert "fields.points" in err
    err = _spec_error(tmp_path, BASE + "judge: {prompt: p, parser: yes_no}\nmetrics: [judge_score]\n")
    assert "scale [0, 1]" in err
    err = _spec_error(tmp_path, BASE + "judge: {prompt: p, parser: rating}\nmetrics: [judge_score, f_score]\n")
    assert "parser abc" in err


def test_a_broken_derive_template_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(BASE.replace("dataset: {format: jsonl, eval: x.jsonl}",
                                                  "dataset: {format: jsonl, eval: x.jsonl, derive: {g: '{{ row.a'}}")
                                     + "judge: {prompt: p, parser: rating}\nmetrics: [judge_score]\n", encoding="utf-8")
    with pytest.raises(HarnessError) as e:
        Task.load(tmp_path / "t.yaml")
    assert "dataset.derive.g" in str(e.value) and "\n" not in str(e.value)


def test_a_local_judge_is_asked_once_a_server_five_times(data_dir: Path, tmp_path: Path) -> None:
    """judge.votes: 5 separate requests (seeds seed..seed+4) to a judge server; one to a local judge, whose greedy
    votes would all repeat the first. Two 是 of five are no hallucination (upstream: more than 2 of 5)."""
    import io

    from harness.results.files import SampleWriter
    from harness.run.dispatch import Planned
    from harness.run.judge import _Judging
    from harness.scoring.metrics import TaskTally
    from harness.types import GenerateResult as Result

    task = _task("halluqa")
    s = task.samples(data_dir)[0]
    planned = Planned(task, "generate", 0, [s], 1)

    class Backend:
        context_length = None  # no limit to measure judge prompts against
        tokenizer = None

        def __init__(self, name: str) -> None:
            self.name, self.seeds = name, []

        def generate(self, requests: list[Any]) -> Any:
            for i, r in enumerate(requests):
                self.seeds.append(r.seed)
                yield i, Result("是" if r.seed - 1234 < 2 else "否", "stop")

    for name, asked, votes, score in (("hf", [1234], ["是"], 0.0), ("openai", [1234, 1235, 1236, 1237, 1238],
                                                                   ["是", "是", "否", "否", "否"], 1.0)):
        backend = Backend(name)
        opened = SimpleNamespace(backend=backend, chat=None, use_messages=False, model_block={})
        tally = TaskTally(task.spec.metrics, task.spec.group_by)
        judging = _Judging([planned], [tally], {0: {}}, opened, 1234, None)
        rec = {"task": "halluqa", "sample_id": s.sample_id, "doc": template_doc(s), "turns": [s.question],
               "answers": ["我是清华大学毕业的。"], "meta": s.meta, "weight": 1.0, "judge": "pending"}
        out = io.StringIO()
        with SampleWriter(tmp_path / f"{name}.judge.jsonl") as w:
            judging.window([rec], {"halluqa": 0}, out, w, SimpleNamespace(update=lambda n: None))
        line = json.loads(out.getvalue())
        assert sorted(backend.seeds) == asked and line.get("votes") == votes
        assert line["metrics"] == {"judge_score": score}
