"""Data loading and prompt building on the real C-Eval and CMMLU files (../shared/data), plus tiny tasks in
tmp for the row shapes the real files do not have."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from harness.errors import HarnessError
from harness.tasks.task import Task, discover_tasks, stratified_limit
from harness.types import Sample

REPO = Path(__file__).resolve().parent.parent
KNOWLEDGE = REPO / "tasks" / "knowledge"


def read_csv(path: Path) -> list[dict[str, str]]:
    """The reference reading of a file, independent of the harness (stdlib csv, everything a string)."""
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def ceval() -> Task:
    return Task.load(KNOWLEDGE / "ceval.yaml")


@pytest.fixture(scope="module")
def cmmlu() -> Task:
    return Task.load(KNOWLEDGE / "cmmlu.yaml")


@pytest.fixture(scope="module")
def ceval_samples(ceval: Task, data_dir: Path) -> list[Sample]:
    return ceval.samples(data_dir)


@pytest.fixture(scope="module")
def cmmlu_samples(cmmlu: Task, data_dir: Path) -> list[Sample]:
    return cmmlu.samples(data_dir)


@pytest.fixture(scope="module")
def ceval_by_subset(ceval_samples: list[Sample]) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = {}
    for s in ceval_samples:
        out.setdefault(s.meta["subset"], []).append(s)
    return out


# ---------------------------------------------------------------- sizes


def test_registered_tasks_are_the_repo_files() -> None:
    found = discover_tasks()
    assert found["ceval"].resolve() == (KNOWLEDGE / "ceval.yaml").resolve()
    assert found["cmmlu"].resolve() == (KNOWLEDGE / "cmmlu.yaml").resolve()
    assert not any(name.endswith(".subsets") for name in found)


def test_ceval_sizes(ceval: Task, ceval_samples: list[Sample]) -> None:
    assert len(ceval_samples) == 1346
    subsets = Counter(s.meta["subset"] for s in ceval_samples)
    assert len(subsets) == 52
    assert subsets["middle_school_geography"] == 12
    assert len({s.sample_id for s in ceval_samples}) == 1346
    assert ceval.data_origin == "local"


def test_cmmlu_sizes(cmmlu: Task, cmmlu_samples: list[Sample]) -> None:
    assert len(cmmlu_samples) == 11582
    assert len({s.meta["subset"] for s in cmmlu_samples}) == 67
    assert len({s.sample_id for s in cmmlu_samples}) == 11582
    assert cmmlu.data_origin == "local"


def test_cmmlu_dev_has_five_rows_per_subject(cmmlu: Task, data_dir: Path) -> None:
    pool = cmmlu.fewshot_pool(data_dir, 5)
    assert len(pool) == 67
    assert {k: len(v) for k, v in pool.items()} == {k: 5 for k in pool}


def test_ceval_dev_has_five_rows_per_subject(ceval: Task, data_dir: Path) -> None:
    pool = ceval.fewshot_pool(data_dir, 5)
    assert len(pool) == 52 and all(len(v) == 5 for v in pool.values())


def test_samples_match_the_files(ceval_samples: list[Sample], cmmlu_samples: list[Sample], data_dir: Path) -> None:
    """Every C-Eval row, and a CMMLU subject, read by the harness equals the stdlib csv reading of the file."""
    by_id = {s.sample_id: s for s in ceval_samples}
    for path in sorted((data_dir / "ceval" / "val").glob("*_val.csv")):
        subject = path.name[: -len("_val.csv")]
        for row in read_csv(path):
            s = by_id[f"{subject}/{row['id']}"]
            assert s.question == row["question"]
            assert s.choices == (row["A"], row["B"], row["C"], row["D"])
            assert s.target_label == row["answer"]
            assert s.meta["subset"] == subject
    rows = read_csv(data_dir / "cmmlu" / "test" / "anatomy.csv")
    got = [s for s in cmmlu_samples if s.meta["subset"] == "anatomy"]
    assert len(got) == len(rows)
    for s, row in zip(got, rows):
        assert s.sample_id == f"anatomy/{row['']}"
        assert (s.question, s.choices, s.target_label) == (row["Question"], (row["A"], row["B"], row["C"], row["D"]), row["Answer"])


def test_subset_metadata_attached(ceval_samples: list[Sample], cmmlu_samples: list[Sample]) -> None:
    phys = next(s for s in ceval_samples if s.meta["subset"] == "high_school_physics")
    assert phys.meta == {"subset": "high_school_physics", "zh": "高中物理", "en": "High School Physics", "group": "STEM"}
    hist = next(s for s in cmmlu_samples if s.meta["subset"] == "chinese_history")
    assert hist.meta["zh"] == "中国历史" and "China specific" in hist.meta["group"]


# ---------------------------------------------------------------- file hashes


def test_data_file_hashes_recorded(data_dir: Path) -> None:
    task = Task.load(KNOWLEDGE / "ceval.yaml")  # a fresh task: its hashes start empty
    task.samples(data_dir, limit=10)
    hashes = dict(task.data_hashes)
    assert len(hashes) == 52  # every file read, even with --limit
    assert all(k.startswith("ceval/val/") and k.endswith("_val.csv") for k in hashes)
    for rel, digest in hashes.items():
        assert digest == hashlib.sha256((data_dir / rel).read_bytes()).hexdigest(), rel
    task.fewshot_pool(data_dir, 5)
    dev = {k: v for k, v in task.data_hashes.items() if k.startswith("ceval/dev/")}
    assert len(dev) == 52 and len(task.data_hashes) == 104
    rel = "ceval/dev/accountant_dev.csv"
    assert dev[rel] == hashlib.sha256((data_dir / rel).read_bytes()).hexdigest()


def test_zero_shot_reads_no_dev_files(data_dir: Path) -> None:
    task = Task.load(KNOWLEDGE / "cmmlu.yaml")
    assert task.fewshot_pool(data_dir, 0) == {}
    task.samples(data_dir, limit=3)
    assert len(task.data_hashes) == 67 and not any("/dev/" in k for k in task.data_hashes)


# ---------------------------------------------------------------- stratified_limit


def ids(samples: list[Sample]) -> list[str]:
    return [s.sample_id for s in samples]


def test_limit_is_deterministic(ceval_by_subset: dict[str, list[Sample]]) -> None:
    a = stratified_limit(ceval_by_subset, 100, seed=7)
    b = stratified_limit(ceval_by_subset, 100, seed=7)
    assert len(a) == 100 and ids(a) == ids(b)


def test_limit_changes_with_seed(ceval_by_subset: dict[str, list[Sample]]) -> None:
    picks = {tuple(ids(stratified_limit(ceval_by_subset, 100, seed=s))) for s in (1, 2, 3)}
    assert len(picks) == 3


def test_limit_is_not_the_first_rows(ceval_by_subset: dict[str, list[Sample]]) -> None:
    chosen = stratified_limit(ceval_by_subset, 104, seed=1234)
    firsts = {s.sample_id for v in ceval_by_subset.values() for s in v[:2]}
    assert set(ids(chosen)) != firsts


def test_limit_52_takes_each_ceval_subject_once(ceval_by_subset: dict[str, list[Sample]]) -> None:
    for seed in (0, 1234):
        chosen = stratified_limit(ceval_by_subset, 52, seed=seed)
        assert Counter(s.meta["subset"] for s in chosen) == Counter({k: 1 for k in ceval_by_subset})


@pytest.mark.parametrize("limit", [1, 10, 51, 53, 200, 600])
def test_limit_spreads_evenly(ceval_by_subset: dict[str, list[Sample]], limit: int) -> None:
    chosen = stratified_limit(ceval_by_subset, limit, seed=99)
    assert len(chosen) == limit
    assert len(set(ids(chosen))) == limit
    counts = Counter(s.meta["subset"] for s in chosen)
    # every subject has >= 12 rows, so up to 12 per subject the deal is even: counts differ by at most one
    full = [counts.get(k, 0) for k in ceval_by_subset]
    assert max(full) - min(full) <= 1, counts


def test_limit_with_small_subsets_gives_the_rest_to_bigger_ones() -> None:
    by = {"big": _fake("big", 10), "small": _fake("small", 1), "mid": _fake("mid", 3)}
    chosen = stratified_limit(by, 12, seed=5)
    counts = Counter(s.meta["subset"] for s in chosen)
    assert counts == {"small": 1, "mid": 3, "big": 8}


def test_limit_keeps_dataset_order(ceval_by_subset: dict[str, list[Sample]]) -> None:
    full = stratified_limit(ceval_by_subset, None, seed=0)
    pos = {s.sample_id: i for i, s in enumerate(full)}
    chosen = stratified_limit(ceval_by_subset, 300, seed=3)
    order = [pos[s.sample_id] for s in chosen]
    assert order == sorted(order)


@pytest.mark.parametrize("limit", [None, 1346, 5000])
def test_limit_at_or_over_size_returns_everything(ceval_by_subset: dict[str, list[Sample]], ceval_samples: list[Sample], limit) -> None:
    chosen = stratified_limit(ceval_by_subset, limit, seed=1)
    assert ids(chosen) == ids(ceval_samples)


def test_limit_just_under_size_drops_one(ceval_by_subset: dict[str, list[Sample]]) -> None:
    assert len(stratified_limit(ceval_by_subset, 1345, seed=1)) == 1345


def test_task_samples_applies_the_limit(ceval: Task, data_dir: Path) -> None:
    a = ceval.samples(data_dir, limit=52, seed=11)
    b = ceval.samples(data_dir, limit=52, seed=11)
    c = ceval.samples(data_dir, limit=52, seed=12)
    assert ids(a) == ids(b) != ids(c)
    assert len({s.meta["subset"] for s in a}) == 52


def _fake(subset: str, n: int) -> list[Sample]:
    return [Sample("t", f"{subset}/{i}", "q", ("a", "b"), ("A", "B"), 0, {"subset": subset}) for i in range(n)]


def test_limit_same_across_processes(tmp_path: Path) -> None:
    """Seeded by value, not by Python's per-process string hashing: two interpreters with different
    PYTHONHASHSEED pick the same items."""
    code = (
        "from harness.types import Sample; from harness.tasks.task import stratified_limit\n"
        "by = {f's{k}': [Sample('t', f's{k}/{i}', 'q', ('a',), ('A',), 0, {'subset': f's{k}'}) for i in range(20 + k)] for k in range(9)}\n"
        "print(','.join(s.sample_id for s in stratified_limit(by, 25, 42)))\n"
    )
    outs = []
    for hashseed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout.strip())
    assert outs[0] == outs[1] and len(outs[0].split(",")) == 25


# ---------------------------------------------------------------- tiny tasks in tmp


def _task(folder: Path, name: str, dataset: dict, fields: dict, **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "name": name, "version": 1, "category": "test", "description": "d", "source": "tests", "license": "MIT",
        "dataset": dataset, "fields": fields, "prompt": "{{ doc.question }}", **extra,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


def test_csv_cells_stay_strings(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "strs").mkdir(parents=True)
    (data / "strs" / "test.csv").write_text(
        "id,question,A,B,C,D,answer\n"
        "007,0.10,0.50,NA,None,007,B\n"
        "008,1e3,nan,NULL,TRUE,-0,D\n"
        "009,问题,,N/A,1.0,00,A\n",
        encoding="utf-8",
    )
    path = _task(tmp_path / "tasks", "strs", {"format": "csv", "eval": "strs/test.csv"},
                 {"id": "id", "question": "question", "choices": ["A", "B", "C", "D"], "target": "answer"})
    samples = Task.load(path).samples(data)
    assert [s.choices for s in samples] == [
        ("0.50", "NA", "None", "007"),
        ("nan", "NULL", "TRUE", "-0"),
        ("", "N/A", "1.0", "00"),
    ]
    assert [s.question for s in samples] == ["0.10", "1e3", "问题"]
    assert [s.sample_id for s in samples] == ["007", "008", "009"]
    assert [s.target for s in samples] == [1, 3, 0]
    assert all(isinstance(c, str) for s in samples for c in s.choices)
    assert samples[0].raw["id"] == "007" and samples[0].raw["A"] == "0.50"


def test_tsv_with_column_names(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "t").mkdir(parents=True)
    (data / "t" / "test.tsv").write_text("问一\t0.50\tNA\t1\n问二\t007\tNone\tNone\n", encoding="utf-8")
    path = _task(tmp_path / "tasks", "tsvtask",
                 {"format": "tsv", "eval": "t/test.tsv", "column_names": ["q", "x", "y", "ans"]},
                 {"question": "q", "choices": ["x", "y"], "target": "ans"})
    samples = Task.load(path).samples(data)
    assert [(s.question, s.choices, s.target) for s in samples] == [("问一", ("0.50", "NA"), 1), ("问二", ("007", "None"), 1)]


ROWS = [
    # target index 2, 0, 3 in turn; "text" targets are the option texts, "one" one-element lists
    {"q": "一", "opts": ["甲", "乙", "丙", "丁"], "letter": "C", "index": 2, "index_str": "2", "text": "丙", "one": ["C"], "one_idx": [2]},
    {"q": "二", "opts": ["0.5", "NA", "x", "y"], "letter": "A", "index": 0, "index_str": "0", "text": "0.5", "one": ["A"], "one_idx": [0]},
    {"q": "三", "opts": ["红", "黄", "蓝", "绿色的"], "letter": "D", "index": 3, "index_str": "3", "text": "绿色的", "one": ["D"], "one_idx": [3]},
]


def _jsonl_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "j").mkdir(parents=True)
    with open(data / "j" / "rows.jsonl", "w", encoding="utf-8") as f:
        for r in ROWS:
            r = dict(r)
            r["opts_text"] = "\n".join(f"{l}. {t}" for l, t in zip("ABCD", r["opts"]))
            r["opts_mixed"] = "A．{}\n\nB、{}\nC:{}\n  D) {}\n".format(*r["opts"])
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return data


@pytest.mark.parametrize("choices", ["opts", "opts_text", "opts_mixed"])
@pytest.mark.parametrize("target", ["letter", "index", "index_str", "text", "one", "one_idx"])
def test_target_shapes_normalise(tmp_path: Path, choices: str, target: str) -> None:
    data = _jsonl_data(tmp_path)
    path = _task(tmp_path / "tasks", "shapes", {"format": "jsonl", "eval": "j/rows.jsonl"},
                 {"question": "q", "choices": choices, "target": target})
    samples = Task.load(path).samples(data)
    assert [s.choices for s in samples] == [tuple(r["opts"]) for r in ROWS]
    assert [s.target for s in samples] == [2, 0, 3]
    assert [s.target_label for s in samples] == ["C", "A", "D"]
    assert [s.sample_id for s in samples] == ["0", "1", "2"]


def test_unknown_target_is_a_harness_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "j").mkdir(parents=True)
    (data / "j" / "rows.jsonl").write_text(json.dumps({"q": "一", "opts": ["甲", "乙"], "ans": "戊"}, ensure_ascii=False) + "\n", encoding="utf-8")
    path = _task(tmp_path / "tasks", "badtarget", {"format": "jsonl", "eval": "j/rows.jsonl"},
                 {"question": "q", "choices": "opts", "target": "ans"})
    with pytest.raises(HarnessError) as exc:
        Task.load(path).samples(data)
    assert "badtarget" in str(exc.value) and "戊" in str(exc.value) and "row 0" in str(exc.value)


def test_missing_column_is_a_harness_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "c").mkdir(parents=True)
    (data / "c" / "test.csv").write_text("question,A,B,answer\nq,x,y,A\n", encoding="utf-8")
    path = _task(tmp_path / "tasks", "nocol", {"format": "csv", "eval": "c/test.csv"},
                 {"question": "question", "choices": ["A", "B", "C"], "target": "answer"})
    with pytest.raises(HarnessError) as exc:
        Task.load(path).samples(data)
    assert "'C'" in str(exc.value) and "nocol" in str(exc.value)


def test_undeclared_subsets_are_discovered(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "g").mkdir(parents=True)
    for subj, ans in (("zeta", "A"), ("alpha", "B")):
        (data / "g" / f"{subj}_val.csv").write_text(f"question,A,B,answer\n{subj}?,x,y,{ans}\n", encoding="utf-8")
    (data / "g" / "notes.txt").write_text("not data")
    path = _task(tmp_path / "tasks", "globbed", {"format": "csv", "eval": "g/{subset}_val.csv"},
                 {"question": "question", "choices": ["A", "B"], "target": "answer"})
    task = Task.load(path)
    samples = task.samples(data)
    assert [(s.meta["subset"], s.sample_id, s.target) for s in samples] == [("alpha", "alpha/0", 1), ("zeta", "zeta/0", 0)]
    assert set(task.data_hashes) == {"g/alpha_val.csv", "g/zeta_val.csv"}


def test_missing_local_files_without_hub(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    path = _task(tmp_path / "tasks", "nohub", {"format": "csv", "eval": "n/test.csv"},
                 {"question": "question", "choices": ["A", "B"], "target": "answer"})
    with pytest.raises(HarnessError) as exc:
        Task.load(path).samples(data)
    msg = str(exc.value)
    assert str(data / "n" / "test.csv") in msg and "--data-dir" in msg and "no hub copy" in msg


# ---------------------------------------------------------------- prompts


def test_fewshot_exemplars_are_first_k_dev_rows_of_same_subject(ceval: Task, ceval_samples: list[Sample], data_dir: Path) -> None:
    pool = ceval.fewshot_pool(data_dir, 5)
    for subject in ("accountant", "high_school_physics", "art_studies"):
        dev = read_csv(data_dir / "ceval" / "dev" / f"{subject}_dev.csv")
        assert [s.question for s in pool[subject]] == [r["question"] for r in dev]
        sample = next(s for s in ceval_samples if s.meta["subset"] == subject)
        for k in (1, 3):
            prompt = ceval.prompts([sample], pool, k, "likelihood")[0].prompt
            used = [r for r in dev if r["question"] + "\n" in prompt]
            assert used == dev[:k], (subject, k)
    # no exemplar from another subject
    acc = next(s for s in ceval_samples if s.meta["subset"] == "accountant")
    prompt = ceval.prompts([acc], pool, 5, "likelihood")[0].prompt
    other = read_csv(data_dir / "ceval" / "dev" / "art_studies_dev.csv")
    assert not any(r["question"] in prompt for r in other)


def test_too_few_exemplars_is_a_harness_error(ceval: Task, ceval_samples: list[Sample], data_dir: Path) -> None:
    pool = ceval.fewshot_pool(data_dir, 5)
    with pytest.raises(HarnessError, match="6 asked"):
        ceval.prompts(ceval_samples[:1], pool, 6, "likelihood")


def _question_block(row: dict[str, str], q: str, opts: str = "ABCD") -> str:
    return row[q] + "".join(f"\n{c}. {row[c]}" for c in opts)


def test_ceval_zero_shot_prompt(ceval: Task, ceval_samples: list[Sample], data_dir: Path) -> None:
    """Built from the raw CSV row (no benchmark text in the repository): header, question, options, 答案："""
    row = read_csv(data_dir / "ceval" / "val" / "high_school_physics_val.csv")[1]
    sample = next(s for s in ceval_samples if s.sample_id == "high_school_physics/1")
    expected = "以下是中国关于高中物理考试的单项选择题，请选出其中的正确答案。\n\n" + _question_block(row, "question") + "\n答案："
    [ps] = ceval.prompts([sample], {}, 0, "likelihood")
    assert ps.prompt == expected
    assert ps.continuations == ("A", "B", "C", "D")
    assert sample.target_label == row["answer"]
    [gen] = ceval.prompts([sample], {}, 0, "generate")
    assert gen.prompt == expected and gen.continuations == ()


def test_cmmlu_zero_shot_prompt(cmmlu: Task, cmmlu_samples: list[Sample], data_dir: Path) -> None:
    row = read_csv(data_dir / "cmmlu" / "test" / "anatomy.csv")[0]
    sample = next(s for s in cmmlu_samples if s.sample_id == "anatomy/0")
    expected = "以下是关于解剖学的单项选择题，请直接给出正确答案的选项。\n\n题目：" + _question_block(row, "Question") + "\n答案是："
    [ps] = cmmlu.prompts([sample], {}, 0, "likelihood")
    assert ps.prompt == expected
    assert sample.target_label == row["Answer"]


def test_ceval_five_shot_prompt(ceval: Task, ceval_samples: list[Sample], data_dir: Path) -> None:
    sample = next(s for s in ceval_samples if s.sample_id == "accountant/0")
    pool = ceval.fewshot_pool(data_dir, 5)
    prompt = ceval.prompts([sample], pool, 5, "likelihood")[0].prompt
    dev = read_csv(data_dir / "ceval" / "dev" / "accountant_dev.csv")
    blocks = re.findall(r"答案：([A-D])\n\n", prompt)
    assert blocks == [r["answer"] for r in dev[:5]]
    assert prompt.startswith("以下是中国关于注册会计师考试的单项选择题，请选出其中的正确答案。\n\n" + dev[0]["question"] + "\nA. " + dev[0]["A"] + "\n")
    first_block = (f"{dev[0]['question']}\nA. {dev[0]['A']}\nB. {dev[0]['B']}\nC. {dev[0]['C']}\nD. {dev[0]['D']}\n答案：{dev[0]['answer']}\n\n")
    assert first_block in prompt
    zero = ceval.prompts([sample], {}, 0, "likelihood")[0].prompt
    header = "以下是中国关于注册会计师考试的单项选择题，请选出其中的正确答案。\n\n"
    assert prompt.endswith(zero[len(header):])  # the question itself comes last, unanswered
    assert prompt.endswith("答案：") and prompt.count("答案：") == 6
    assert "explanation" not in prompt and dev[0]["explanation"][:20] not in prompt  # dev explanations are not shown


def test_cmmlu_five_shot_prompt(cmmlu: Task, cmmlu_samples: list[Sample], data_dir: Path) -> None:
    sample = next(s for s in cmmlu_samples if s.sample_id == "anatomy/0")
    pool = cmmlu.fewshot_pool(data_dir, 5)
    prompt = cmmlu.prompts([sample], pool, 5, "likelihood")[0].prompt
    dev = read_csv(data_dir / "cmmlu" / "dev" / "anatomy.csv")
    assert re.findall(r"答案是：([A-D])\n\n", prompt) == [r["Answer"] for r in dev]
    assert prompt.count("题目：") == 6
    row = read_csv(data_dir / "cmmlu" / "test" / "anatomy.csv")[0]
    assert prompt.endswith("题目：" + _question_block(row, "Question") + "\n答案是：")


def test_fewshot_on_a_task_without_fewshot_split_is_a_clear_error(data_dir: Path) -> None:
    task = Task.load(discover_tasks()["cmath"])
    with pytest.raises(HarnessError, match="no few-shot split"):
        task.fewshot_pool(data_dir, 1)


def test_skipped_rows_are_counted_once_per_load(data_dir: Path, tmp_path: Path) -> None:
    src = discover_tasks()["agieval_gaokao"]
    skipping = tmp_path / "agieval_gaokao.yaml"
    skipping.write_text(src.read_text(encoding="utf-8").replace("multi_answer: set", "multi_answer: skip"), encoding="utf-8")
    shutil.copy(src.parent / "agieval_zh.jinja", tmp_path)
    task = Task.load(skipping)
    task.samples(data_dir)
    task.samples(data_dir, limit=5)
    assert task.skipped == 42  # 35 multi-answer physics rows + 7 math QA rows, not doubled by a second call


def test_multi_answer_rows_become_label_sets(data_dir: Path) -> None:
    """multi_answer: set keeps the 42 AGIEval-gaokao rows with several correct options (they were skipped)."""
    task = Task.load(discover_tasks()["agieval_gaokao"])
    samples = task.samples(data_dir)
    multi = [s for s in samples if s.is_multi_choice]
    assert task.skipped == 0 and len(multi) == 42
    assert Counter(s.meta["subset"] for s in multi) == {"physics": 35, "mathqa": 7}
    rows = {}
    for subset in ("physics", "mathqa"):
        with open(data_dir / "agieval" / "v1" / f"gaokao-{subset}.jsonl", encoding="utf-8") as f:
            rows.update({(subset, str(i)): json.loads(line) for i, line in enumerate(f)})
    for s in multi:  # the set read independently from the file: its label list, in order
        label = rows[(s.meta["subset"], s.sample_id.split("/")[1])]["label"]
        letters = sorted(label if isinstance(label, list) else [c for c in label if c.isalpha()])  # "A B D" in math QA
        assert len(letters) > 1
        assert s.answers == tuple(letters) and s.target_label == "".join(letters) and s.target == -1


def _options_task(tmp_path: Path, rows: list[dict], name: str) -> tuple[Path, Path]:
    data = tmp_path / "data"
    (data / "o").mkdir(parents=True, exist_ok=True)
    (data / "o" / "rows.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    path = _task(tmp_path / "tasks", name, {"format": "jsonl", "eval": "o/rows.jsonl"},
                 {"question": "q", "choices": ["A", "B", "C", "D"], "target": "ans"})
    return path, data


def test_a_null_or_absent_trailing_option_is_no_option(tmp_path: Path) -> None:
    """Before: a null option column became an option reading "None" (a 3-option row in a 4-column table)."""
    path, data = _options_task(tmp_path, [{"q": "一", "A": "甲", "B": "乙", "C": "丙", "D": None, "ans": "B"},
                                          {"q": "二", "A": "甲", "B": "乙", "C": "", "D": "", "ans": "A"}], "nulls")
    samples = Task.load(path).samples(data)
    assert [s.choices for s in samples] == [("甲", "乙", "丙"), ("甲", "乙")]
    assert [s.labels for s in samples] == [("A", "B", "C"), ("A", "B")]


def test_an_empty_option_before_a_present_one_is_an_error(tmp_path: Path) -> None:
    path, data = _options_task(tmp_path, [{"q": "一", "A": "甲", "B": None, "C": "丙", "D": "丁", "ans": "A"}], "hole")
    with pytest.raises(HarnessError, match=r"task hole, subset .*row 0: option column 'B' is empty while a later option is not"):
        Task.load(path).samples(data)


def test_option_text_targets_match_options_cleaned_alike(tmp_path: Path) -> None:
    """Before: an option with a trailing space never matched its (stripped) target text, so the file failed to load."""
    path, data = _options_task(tmp_path, [{"q": "一", "A": "北京 ", "B": "上海", "C": "广州", "D": "深圳", "ans": "北京"}], "spaces")
    (s,) = Task.load(path).samples(data)
    assert s.target == 0 and s.choices[0] == "北京 "  # the prompt shows the option as the data has it


# ---------------------------------------------------------------- streaming
def test_streamed_json_rows_equal_a_plain_reading(data_dir: Path) -> None:
    """OCNLI through the streaming `datasets` reader, against json.loads line by line (with its exclusion)."""
    from harness.tasks.data import open_split

    task = Task.load(discover_tasks()["ocnli"])
    source = open_split(task.spec, "eval", data_dir)
    (subset,) = source.subsets
    lines = (data_dir / "ocnli" / "dev.json").read_text(encoding="utf-8").splitlines()
    plain = [r for r in map(json.loads, filter(str.strip, lines)) if r["label"] != "-"]
    assert len(plain) > 2000
    assert list(source.rows(subset)) == plain
    assert list(source.rows(subset)) == plain  # a second pass reads the file again


def test_a_plan_yields_the_same_items_on_every_pass(ceval: Task, data_dir: Path) -> None:
    stream = ceval.plan(data_dir, limit=60, seed=5)
    first = list(stream)
    assert len(stream) == len(first) == 60
    assert list(stream) == first == ceval.samples(data_dir, limit=60, seed=5)
    assert stream.chosen is not None and sum(sum(flags) for flags in stream.chosen.values()) == 60
    whole = ceval.plan(data_dir)
    assert whole.chosen is None and len(whole) == 1346 == sum(1 for _ in whole)


def test_json_files_arrow_cannot_type_are_read_by_the_python_reader(tmp_path: Path) -> None:
    """A column that is empty in one subset's file and text in another's makes arrow refuse the split (as
    AGIEval's files do): the plain JSON reader takes over, with the same rows."""
    from harness.tasks.data import _local_reader

    (tmp_path / "d").mkdir()
    rows = {"a": [{"q": "一", "t": "A", "x": None}, {"q": "二", "t": "B", "x": None}],
            "b": [{"q": "三", "t": "A", "x": "文字"}]}
    for subset, rs in rows.items():
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rs)
        (tmp_path / "d" / f"{subset}.jsonl").write_text(text, encoding="utf-8")
    path = _task(tmp_path / "tasks", "t", {"format": "jsonl", "eval": "d/{subset}.jsonl"},
                 {"question": "q", "target": "t"}, answer_type="span", mode="generate", modes=["generate"])
    task = Task.load(path)
    files = {s: tmp_path / "d" / f"{s}.jsonl" for s in rows}
    assert _local_reader(task.spec.dataset, files).__name__ == "python"
    samples = task.samples(tmp_path)
    assert [s.raw for s in samples] == rows["a"] + rows["b"]
