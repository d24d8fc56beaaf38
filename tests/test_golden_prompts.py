"""Golden prompts: for every task of the suite, the first sample's prompt (0-shot, default mode) equals a string
built independently here from the raw upstream file (read with csv/json, not through the harness), following
each benchmark's published prompt format. No benchmark text is stored in the repository."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Callable

import pytest

from harness.tasks.suites import load_suite
from harness.tasks.task import Task, discover_tasks


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _opts(labels: str | list[str], texts: list[str], fmt: str = "{l}. {t}\n") -> str:
    return "".join(fmt.format(l=l, t=t) for l, t in zip(labels, texts))


def ceval(d: Path) -> str:
    with open(d / "ceval/val/accountant_val.csv", encoding="utf-8") as f:
        r = next(csv.DictReader(f))
    return ("以下是中国关于注册会计师考试的单项选择题，请选出其中的正确答案。\n\n"
            f"{r['question']}\n" + _opts("ABCD", [r[c] for c in "ABCD"]) + "答案：")


def cmmlu(d: Path) -> str:
    with open(d / "cmmlu/test/agronomy.csv", encoding="utf-8") as f:
        r = next(csv.DictReader(f))
    return ("以下是关于农学的单项选择题，请直接给出正确答案的选项。\n\n"
            f"题目：{r['Question']}\n" + _opts("ABCD", [r[c] for c in "ABCD"]) + "答案是：")


def gaokao(d: Path) -> str:
    prompts = {p["keyword"]: p for p in json.loads((d / "gaokao/Obj_Prompt.json").read_text(encoding="utf-8"))["examples"]}
    key = "2010-2013_English_MCQs"
    ex = json.loads((d / f"gaokao/Objective_Questions/{key}.json").read_text(encoding="utf-8"))["example"][0]
    return prompts[key]["prefix_prompt"] + ex["question"].strip() + "\n"  # GAOKAO-Bench's choice_test


def _agieval(row: dict[str, Any]) -> str:
    opts = " ".join(row["options"])  # already "(A)text": AGIEval's options carry their labels
    return f"问题：{row['passage'] or ''}{row['question']} 选项：{opts} \n答案：从A到D, 我们应选择"


def agieval_gaokao(d: Path) -> str:
    return _agieval(_lines(d / "agieval/v1/gaokao-biology.jsonl")[0])


def logiqa_zh(d: Path) -> str:
    return _agieval(_lines(d / "agieval/v1/logiqa-zh.jsonl")[0])


def _classify(text: str, classes: list[str], labels: list[str]) -> str:
    return f"文本：{text}\n问题：这段文本属于哪一类？\n" + _opts(labels, classes) + "答案："


def tnews(d: Path) -> str:
    names = [json.loads(l)["label_zh"] for l in (d / "fewclue/tnews/label_index2en2zh.json").read_text(encoding="utf-8").split("\n") if l.strip()]
    order = ["故事", "文化", "娱乐", "体育", "财经", "房产", "汽车", "教育", "科技", "军事", "旅游", "国际", "股票", "农业", "电竞"]
    assert sorted(names) == sorted(order)  # the task lists the 15 official Chinese names, in label order
    return _classify(_lines(d / "fewclue/tnews/test_public.json")[0]["sentence"], order, list("ABCDEFGHIJKLMNO"))


def iflytek(d: Path) -> str:
    ids: dict[str, int] = {}
    for f in ("train_few_all", "dev_few_all", "test_public"):
        for r in _lines(d / f"fewclue/iflytek/{f}.json"):
            ids[r["label_des"]] = int(r["label"])
    classes = sorted(ids, key=ids.get)
    return _classify(_lines(d / "fewclue/iflytek/test_public.json")[0]["sentence"], classes, [str(i + 1) for i in range(len(classes))])


def csldcp(d: Path) -> str:
    classes = [l.strip() for l in (d / "fewclue/csldcp/labels_all.txt").read_text(encoding="utf-8").split("\n") if l.strip()]
    return _classify(_lines(d / "fewclue/csldcp/test_public.json")[0]["content"], classes, [str(i + 1) for i in range(len(classes))])


def eprstmt(d: Path) -> str:
    r = _lines(d / "fewclue/eprstmt/test_public.json")[0]
    return f"评论：{r['sentence']}\n问题：这条评论的情感倾向是正面还是负面？\nA. 正面\nB. 负面\n答案："


def bustm(d: Path) -> str:
    r = _lines(d / "fewclue/bustm/test_public.json")[0]
    return f"句子一：{r['sentence1']}\n句子二：{r['sentence2']}\n问题：这两句话的意思相同还是不同？\nA. 相同\nB. 不同\n答案："


def _nli(r: dict[str, Any]) -> str:
    return f"前提：{r['sentence1']}\n假设：{r['sentence2']}\n问题：前提与假设是什么关系？\nA. 蕴含\nB. 中立\nC. 矛盾\n答案："


def fewclue_ocnli(d: Path) -> str:
    return _nli(_lines(d / "fewclue/ocnli/test_public.json")[0])


def ocnli(d: Path) -> str:
    return _nli(next(r for r in _lines(d / "ocnli/dev.json") if r["label"] != "-"))


def csl(d: Path) -> str:
    r = _lines(d / "fewclue/csl/test_public.json")[0]
    return f"摘要：{r['abst']}\n关键词：{'，'.join(r['keyword'])}\n问题：这些关键词是否都是这篇摘要的关键词？\nA. 是\nB. 否\n答案："


def chid(d: Path) -> str:
    r = _lines(d / "fewclue/chid/test_public.json")[0]
    return r["content"].replace("#idiom#", "____") + "\n问题：哪个成语最适合填入上文的空白处？\n" + _opts("ABCDEFG", r["candidates"]) + "答案："


def c3(d: Path) -> str:
    lines, questions, _ = json.loads((d / "c3/c3-d-test.json").read_text(encoding="utf-8"))[0]
    q = questions[0]
    return "\n".join(lines) + f"\n问题：{q['question']}\n" + _opts("ABCD", q["choice"]) + "答案："


def cmrc2018(d: Path) -> str:
    para = json.loads((d / "cmrc2018/cmrc2018_dev.json").read_text(encoding="utf-8"))["data"][0]["paragraphs"][0]
    return f"阅读以下文章，从文章中找出问题的答案，直接写出原文片段。\n文章：{para['context']}\n问题：{para['qas'][0]['question']}\n答案："


def cluewsc(d: Path) -> str:
    r = _lines(d / "fewclue/cluewsc/test_public.json")[0]
    t, text = r["target"], r["text"]
    marks = sorted([(t["span1_index"], t["span1_text"], "【", "】"), (t["span2_index"], t["span2_text"], "[", "]")])
    out, pos = "", 0
    for i, span, left, right in marks:
        assert text[i : i + len(span)] == span
        out += text[pos:i] + left + span + right
        pos = i + len(span)
    out += text[pos:]
    return f"{out}\n问题：上文中的[{t['span2_text']}]指的是【{t['span1_text']}】吗？\nA. 是\nB. 否\n答案："


def _math(q: str) -> str:
    return f"问题：{q}\n请一步一步推理，最后一行写“答案是：”加上最终的数字答案。"


def cmath(d: Path) -> str:
    return _math(_lines(d / "cmath/cmath_dev.jsonl")[0]["input"])


def mgsm_zh(d: Path) -> str:
    return _math((d / "mgsm/mgsm_zh.tsv").read_text(encoding="utf-8").split("\n")[0].split("\t")[0])


def gsm8k_zh(d: Path) -> str:
    return _math((d / "gsm8k_zh/gsm8k_Cn.txt").read_text(encoding="utf-8").split("\n")[0].split("[SEP]")[0].strip())


def safetybench_zh(d: Path) -> str:
    r = json.loads((d / "safetybench/test_zh_subset.json").read_text(encoding="utf-8"))[0]
    return f"问题：{r['question'].strip()}\n选项：\n" + _opts("ABCD", r["options"], "({l}) {t}\n") + "答案：("


# Open-ended tasks send the upstream text as it is (their prompts carry their own instructions); HumanEval-zh
# sends the function signature and docstring, then a new line for the body to start on.
def humaneval_zh(d: Path) -> str:
    return _lines(d / "humaneval_zh/humaneval_python_cn.jsonl")[0]["prompt"] + "\n"


def cpifopen(d: Path) -> str:
    return _lines(d / "cpifopen/superclue-all-jqzl.json")[0]["prompt"]


def alignbench(d: Path) -> str:
    return _lines(d / "alignbench/data_v1.1_release.jsonl")[0]["question"]


def belle_eval(d: Path) -> str:
    return _lines(d / "belle_eval/eval_set.json")[0]["question"]


def mtbench_zh(d: Path) -> str:
    return _lines(d / "mtbench_zh/question.jsonl")[0]["turns"][0]


def flames(d: Path) -> str:
    return _lines(d / "flames/Flames_1k_Chinese.jsonl")[0]["prompt"]


def cvalues(d: Path) -> str:
    return _lines(d / "cvalues/cvalues_responsibility_prompts.jsonl")[0]["prompt"]


GOLDEN: dict[str, Callable[[Path], str]] = {f.__name__: f for f in (
    ceval, cmmlu, gaokao, agieval_gaokao, logiqa_zh, tnews, iflytek, csldcp, eprstmt, bustm, fewclue_ocnli, ocnli,
    csl, chid, c3, cmrc2018, cluewsc, cmath, mgsm_zh, gsm8k_zh, safetybench_zh,
    humaneval_zh, cpifopen, alignbench, belle_eval, mtbench_zh, flames, cvalues)}


def test_every_suite_task_has_a_golden_prompt() -> None:
    assert set(GOLDEN) == set(load_suite("superclue").tasks)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_first_prompt_matches_golden(name: str, data_dir: Path) -> None:
    task = Task.load(discover_tasks()[name])
    first = task.samples(data_dir)[0]
    prompt = task.prompts([first], {}, 0, task.spec.mode)[0].prompt
    assert prompt == GOLDEN[name](data_dir)
