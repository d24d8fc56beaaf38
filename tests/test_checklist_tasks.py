"""The CFBench and FollowBench (zh) task files: judge prompts equal to upstream's, the checks that keep checklist
parsers and their metrics together, and macro averages over (file, level) cells."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.scoring.metrics import aggregate
from harness.tasks.spec import load_task_spec
from harness.tasks.task import Task, template_doc

TASKS = Path(__file__).resolve().parent.parent / "tasks" / "instruction_following"


def test_cfbench_judge_prompt_is_upstreams(data_dir: Path) -> None:
    """sha256 of gpt_judge_for_cfbench(prompt, gold, "好的", checkpoints joined by blank lines) for idx 0, as
    code/evalaute.py @ 0bcbf9b0 renders it (computed once from upstream's f-string)."""
    task = Task.load(TASKS / "cfbench.yaml")
    samples = task.samples(data_dir)
    assert len(samples) == 1000 and sum(s.meta["split"] == "hard" for s in samples) == 500
    (sample,) = [s for s in samples if s.sample_id == "0"]
    assert task.judge_prompt is not None
    text = task.judge_prompt.render(doc=template_doc(sample), output="好的", outputs=["好的"], turn=1, ctx={},
                                    subset=sample.meta)
    assert text.startswith("\n我想让你扮演一个质量评估器的角色。") and text.endswith("[你的评估]: \n")
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == \
        "4a2dfb405b066e85ca643979eaab9e179f8980724dad02c66e6312f224900514"


def test_followbench_items_and_excluded_seeds(data_dir: Path) -> None:
    task = Task.load(TASKS / "followbench_zh.yaml")
    samples = task.samples(data_dir)
    assert len(samples) == 790 and task.excluded == 118  # level-0 seeds: not scored, counted
    assert {s.meta["level"] for s in samples} == {1, 2, 3, 4, 5}
    assert all("example_id" in s.meta for s in samples)  # the CSL chain travels with each item


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "t.yaml").write_text(text, encoding="utf-8")
    return tmp_path / "t.yaml"


BASE = """name: t
version: 1
category: instruction_following
description: d
source: s
license: l
dataset: {format: json, eval: x.json}
fields: {question: q}
answer_type: judged
prompt: "{{ doc.question }}"
modes: [generate]
mode: generate
"""


@pytest.mark.parametrize("extra,message", [
    ("judge: {prompt: j, parser: cfbench}\nmetrics: [judge_score]\n", "judge parser cfbench gives csr, isr, psr"),
    ("judge: {prompt: j, parser: rating}\nmetrics: [psr]\n", "psr comes from a checklist judge parser (cfbench)"),
    ("judge: {prompt: j, parser: followbench}\nmetrics: [hsr, psr]\n", "not psr"),
    ("judge: {prompt: j, parser: cfbench}\nmetrics: [psr]\ncsl: {chain: example_id, level: level}\n",
     "field 'csl': needs judge parser followbench"),
    ("judge: {prompt: j, parser: cfbench, rules: followbench}\nmetrics: [psr]\n", "field 'judge.rules'"),
])
def test_checklist_fields_go_together(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(HarnessError) as e:
        load_task_spec(_write(tmp_path, BASE + extra))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_macro_over_cells_gives_upstreams_level_and_file_figures() -> None:
    """Two files, two levels. content: L1 1 1 (1.0), L2 0 1 (.5); style: L1 0 (0), L2 1 (1). Overall = mean of the
    four cells (.625); level 1 = mean over files (.5), level 2 (.75); content = mean over its levels (.75), style .5.
    A per-item mean would say 4/6 instead."""
    rows = [({"subset": "content", "level": 1}, 1.0), ({"subset": "content", "level": 1}, 1.0),
            ({"subset": "content", "level": 2}, 0.0), ({"subset": "content", "level": 2}, 1.0),
            ({"subset": "style", "level": 1}, 0.0), ({"subset": "style", "level": 2}, 1.0)]
    r = aggregate(rows, ["subset+level", "level", "subset"], "macro")
    assert r["score"] == pytest.approx(62.5) and r["micro"] == pytest.approx(100 * 4 / 6)
    assert set(r["groups"]["subset+level"]) == {"content/1", "content/2", "style/1", "style/2"}
    assert r["groups"]["level"]["1"]["score"] == pytest.approx(50.0)
    assert r["groups"]["level"]["2"]["score"] == pytest.approx(75.0)
    assert r["groups"]["subset"]["content"]["score"] == pytest.approx(75.0)
    assert r["groups"]["subset"]["style"]["score"] == pytest.approx(50.0)
