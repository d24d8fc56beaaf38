"""Suites as separate boards (harness/leaderboard/boards.py): results of the 2023 `superclue` suite, the 2025
`superclue-2025` suite, its judge-free subset and a `--tasks` run, built into one site.

What must hold: each board's categories and total follow its own suite (the shared category id
`instruction_following` is CPIFOpen alone on the 2023 board, CFBench + FollowBench + CPIFOpen on the 2025 one),
a model run on part of a suite appears with the rest not evaluated, tasks of no suite get a board of their own, the
2025 boards rank reasoning entries apart, and category pages link their tasks. Every total below is worked by hand.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from test_leaderboard_site import (
    PLAN_OFF,
    PLAN_ON,
    broken_links,
    parse,
    slug,
    task_block,
)

from harness.leaderboard.boards import suite_boards, suite_definitions
from harness.leaderboard.collect import load_results
from harness.leaderboard.site import build_site
from harness.tasks.suites import Suite, aggregate_suite, load_suite

# (model, thinking plan, suite or None for --tasks, {task: score}); the category of a task block does not matter
# to a suite board (the suite's definition does), only to the board of tasks outside the suites
RUNS: list[tuple[str, dict[str, Any] | None, str | None, dict[str, float]]] = [
    ("Qwen2.5-7B", None, "superclue", {"ceval": 80, "cmmlu": 60, "cpifopen": 50, "humaneval_zh": 44, "mtbench_zh": 70}),
    ("Qwen3-8B", PLAN_ON, "superclue-2025", {"olymmath_zh": 30, "math24o": 50, "cfbench": 60, "followbench_zh": 70,
                                             "cpifopen": 80, "humaneval_zh": 90}),
    ("Qwen3-8B", PLAN_OFF, "superclue-2025", {"olymmath_zh": 10, "cfbench": 40, "cpifopen": 50, "humaneval_zh": 60}),
    ("GLM-4-9B", None, None, {"cpifopen": 70, "chinese_simpleqa": 20, "custom_task": 55}),
    ("Yi-9B", None, "superclue-2025-objective", {"cpifopen": 30, "halluqa_mc": 50}),
]
# by hand, per board: entry -> total
TOTALS = {
    # 2023: knowledge (ceval, cmmlu), instruction_following (cpifopen), code (humaneval_zh), dialogue (mtbench_zh)
    "superclue": {("Qwen2.5-7B", False): (70 + 50 + 44 + 70) / 4, ("Qwen3-8B", True): (80 + 90) / 2,
                  ("Qwen3-8B", False): (50 + 60) / 2, ("GLM-4-9B", False): 70.0, ("Yi-9B", False): 30.0},
    # 2025: math (olymmath_zh, math24o), instruction_following (cfbench, followbench_zh, cpifopen), code,
    # hallucination (chinese_simpleqa, halluqa_mc)
    "superclue-2025": {("Qwen3-8B", True): ((30 + 50) / 2 + (60 + 70 + 80) / 3 + 90) / 3,
                       ("Qwen3-8B", False): (10 + (40 + 50) / 2 + 60) / 3, ("Qwen2.5-7B", False): (50 + 44) / 2,
                       ("GLM-4-9B", False): (70 + 20) / 2, ("Yi-9B", False): (30 + 50) / 2},
    # 2025 judge-free: instruction_following is CPIFOpen alone, hallucination halluqa_mc (chinese_simpleqa is judged)
    "superclue-2025-objective": {("Qwen3-8B", True): ((30 + 50) / 2 + 80 + 90) / 3,
                                 ("Qwen3-8B", False): (10 + 50 + 60) / 3, ("Qwen2.5-7B", False): (50 + 44) / 2,
                                 ("GLM-4-9B", False): 70.0, ("Yi-9B", False): (30 + 50) / 2},
    "other-tasks": {("GLM-4-9B", False): 55.0},
}




def _suite_2025(name: str, categories: dict[str, tuple[str, str, list[str]]]) -> Suite:
    """The 2025 suites as tasks/suites/superclue-2025*.yaml define them (the categories these runs touch, in the
    file's order), written out so the test reads the suite's rule from here, not from whichever file is checked in."""
    return Suite.model_validate({
        "name": name, "version": 1, "description": "2025 dimensions", "category_rule": "mean_of_tasks",
        "rule": "dimension = mean of its tasks; total = mean of the evaluated dimensions",
        "categories": [{"id": k, "zh": zh, "en": en, "tasks": tasks} for k, (zh, en, tasks) in categories.items()]})


SUITES = {
    "superclue": load_suite("superclue"),  # the 2023 suite, as checked in
    "superclue-2025": _suite_2025("superclue-2025", {
        "math_reasoning": ("数学推理", "Math reasoning", ["olymmath_zh", "math24o", "tal_scq5k_cn"]),
        "science_reasoning": ("科学推理", "Science reasoning", ["gaokao_science_open", "gaokao_science_mcq"]),
        "code_generation": ("代码生成", "Code generation", ["humaneval_zh"]),
        "instruction_following": ("精确指令遵循", "Precise instruction following", ["cfbench", "followbench_zh", "cpifopen"]),
        "hallucination": ("幻觉控制", "Hallucination control",
                          ["chinese_simpleqa", "halluqa", "halluqa_mc", "uhgeval_selective"]),
        "agents": ("智能体", "Agents (tool use)", ["acebench_normal_zh", "acebench_special_zh"])}),
    "superclue-2025-objective": _suite_2025("superclue-2025-objective", {
        "math_reasoning": ("数学推理", "Math reasoning", ["olymmath_zh", "math24o", "tal_scq5k_cn"]),
        "science_reasoning": ("科学推理", "Science reasoning", ["gaokao_science_mcq"]),
        "code_generation": ("代码生成", "Code generation", ["humaneval_zh"]),
        "instruction_following": ("精确指令遵循", "Precise instruction following", ["cpifopen"]),
        "hallucination": ("幻觉控制", "Hallucination control", ["halluqa_mc", "uhgeval_selective"]),
        "agents": ("智能体", "Agents (tool use)", ["acebench_normal_zh", "acebench_special_zh"])}),
}


def write_results(root: Path) -> Path:
    for i, (model, plan, suite, scores) in enumerate(RUNS):
        tasks = {t: {**task_block(s, "generate"), "category": "misc" if t == "custom_task" else "x"}
                 for t, s in scores.items()}
        data: dict[str, Any] = {
            "schema_version": 2, "run_id": f"run{i}", "finished_at": f"2026-03-0{i + 1}T00:00:00+00:00",
            "model": {"name": model, "family": "qwen3", "type": "chat", **({"thinking": plan} if plan else {})},
            "tasks": tasks,
            "suite": aggregate_suite(SUITES[suite], tasks) if suite else None,
        }
        folder = root / slug(model)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"run{i}.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return root


@pytest.fixture
def runs(tmp_path: Path) -> list[dict[str, Any]]:
    skipped: list[str] = []
    out = load_results(write_results(tmp_path / "results"), skipped)
    assert skipped == [] and len(out) == len(RUNS)
    return out


def test_each_board_follows_its_own_suite(runs: list[dict[str, Any]]) -> None:
    boards = suite_boards(runs)
    assert [(b.key, b.page) for b in boards] == [
        ("superclue", "index.html"), ("superclue-2025", "boards/superclue-2025.html"),
        ("superclue-2025-objective", "boards/superclue-2025-objective.html"), ("other-tasks", "boards/other-tasks.html")]
    for b in boards:
        got = {r.key: r.total for r in b.board.rows}
        assert got == pytest.approx(TOTALS[b.key]), b.key
    by = {b.key: b for b in boards}
    old, new = by["superclue"].board, by["superclue-2025"].board
    # the shared id, with each suite's own tasks and names
    assert {c.key: c.tasks for c in old.categories}["instruction_following"] == ("cpifopen",)
    assert set({c.key: c.tasks for c in new.categories}["instruction_following"]) == {"cfbench", "followbench_zh", "cpifopen"}
    assert [c.en for c in new.categories] == ["Math reasoning", "Code generation", "Precise instruction following",
                                              "Hallucination control"]  # suite order; only the evaluated ones
    thinker = {r.key: r for r in new.rows}[("Qwen3-8B", True)]
    assert thinker.categories["instruction_following"] == pytest.approx(70.0)
    assert {r.key: r for r in old.rows}[("Qwen3-8B", True)].categories["instruction_following"] == 80.0
    assert thinker.coverage["math_reasoning"] == (2, 3)  # tal_scq5k_cn not run: known from the suite, not evaluated
    assert "math_reasoning" not in {r.key: r for r in old.rows}[("Qwen2.5-7B", False)].categories
    # a board has only its suite's task columns
    assert set(by["other-tasks"].board.columns) == {"custom_task@v1"}
    assert "mtbench_zh@v1" not in new.columns and "cfbench@v1" not in old.columns
    # the judge-free board is listed as a variant of the full suite
    assert by["superclue-2025-objective"].variant_of == "superclue-2025" and by["superclue"].variant_of is None


def test_reasoning_entries_are_ranked_apart_on_the_2025_boards_only(runs: list[dict[str, Any]]) -> None:
    by = {b.key: b for b in suite_boards(runs)}
    sections = [(key, [(r.model, r.rank) for r in rows]) for key, rows in by["superclue-2025"].sections]
    assert sections == [("thinking", [("Qwen3-8B", 1)]),
                        ("plain", [("Qwen2.5-7B", 1), ("GLM-4-9B", 2), ("Yi-9B", 3), ("Qwen3-8B", 4)])]
    # judge-free: the thinking entry (70) alone in its section, so not tied with GLM's 70 of the other section
    objective = by["superclue-2025-objective"].sections
    assert [(k, [(r.model, r.rank, r.tied_with_previous) for r in rows]) for k, rows in objective][0] == (
        "thinking", [("Qwen3-8B", 1, False)])
    assert [k for k, _ in objective] == ["thinking", "plain"]
    (only,) = by["superclue"].sections  # the 2023 board: one ranking, the thinking entry first by its total
    assert only[0] == "all" and [(r.model, r.thinking, r.rank) for r in only[1]][:2] == [("Qwen3-8B", True, 1),
                                                                                        ("GLM-4-9B", False, 2)]


def test_category_rule_weighted_by_items(runs: list[dict[str, Any]]) -> None:
    """A suite whose rule weighs a category's tasks by their items: (50 x 10 + 90 x 30) / 40 = 80, not the mean 70."""
    run = {**runs[0], "_file": "w.json", "model": {"name": "w"}}
    run["tasks"] = {"a": {**task_block(50, "generate"), "n_samples": 10}, "b": {**task_block(90, "generate"), "n_samples": 30}}
    run["suite"] = {"name": "weighted", "version": 1, "category_rule": "weighted_by_items",
                    "categories": {"k": {"zh": "k", "en": "k", "tasks": {"a": 50, "b": 90}}}}
    (board,) = suite_boards([run])
    assert board.category_rule == "weighted_by_items" and board.board.rows[0].total == pytest.approx(80.0)


def test_a_block_without_task_lists_takes_them_from_the_suite_file(runs: list[dict[str, Any]]) -> None:
    """A sparse block (no task lists) of a suite the harness has at the same version: its tasks from the file; at
    another version, or a suite the harness does not know: only what the block says."""
    block = {"name": "superclue", "version": SUITES["superclue"].version,
             "categories": {"knowledge": {"zh": "知识百科", "en": "Knowledge"}}}
    (d,) = suite_definitions([{**runs[3], "suite": block}])
    assert d.categories[0].tasks == ("ceval", "cmmlu", "gaokao", "agieval_gaokao")
    for other in ({**block, "version": "0"}, {**block, "name": "tasks/suites/superclue.yaml"}):
        assert suite_definitions([{**runs[3], "suite": other}]) == []  # no task named: nothing to rank, no board
    block["categories"]["knowledge"]["missing_tasks"] = ["ceval"]
    (d,) = suite_definitions([{**runs[3], "suite": {**block, "version": "0"}}])
    assert d.categories[0].tasks == ("ceval",)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    out = tmp_path / "site"
    info = build_site(write_results(tmp_path / "results"), out)
    assert info["skipped"] == [] and info["models"] == 5
    return out


def _rows(html: str, table_id: str) -> list[str]:
    table = html[html.index(f'id="{table_id}"'):]
    table = table[:table.index("</table>")]
    return re.findall(r'<td data-v="[^"]*" class="model">.*?>([^<]+)</a>', table)


def test_site_has_a_page_per_board_with_tabs_sections_and_downloads(site: Path) -> None:
    assert broken_links(site) == []
    index = (site / "index.html").read_text(encoding="utf-8")
    tabs = [u for u in parse(site / "index.html").urls if u.startswith("boards/") and u.count("/") == 1]
    assert tabs == ["boards/superclue-2025.html", "boards/superclue-2025-objective.html", "boards/other-tasks.html"]
    assert 'aria-current="page"' in index.split('data-board="superclue"')[1].split("</a>")[0]
    assert "SuperCLUE 2023 categories" in index and "SuperCLUE 2025 dimensions" in index
    assert _rows(index, "ranking") == ["Qwen3-8B", "GLM-4-9B", "Qwen2.5-7B", "Qwen3-8B", "Yi-9B"]
    assert 'id="f-thinking"' in index and 'id="ranking-thinking"' not in index  # 2023: one table, a filter
    page = (site / "boards/superclue-2025.html").read_text(encoding="utf-8")
    assert _rows(page, "ranking-thinking") == ["Qwen3-8B"]
    assert _rows(page, "ranking-plain") == ["Qwen2.5-7B", "GLM-4-9B", "Yi-9B", "Qwen3-8B"]
    assert 'id="f-thinking"' not in page and 'id="ranking"' not in page
    assert "Reasoning entries (thinking on)" in page and "推理模型（开启思考）" in page
    # each entry has some of the board's four evaluated dimensions: partial (*)
    assert '<td data-v="66.66666666666667" class="num total">66.7*<small>' in page
    assert '<td data-v="45.0" class="num total">45.0*<small>' in page
    # the site-wide exports rank by the index's board (2023), each board has its own
    data = json.loads((site / "data/ranking.json").read_text(encoding="utf-8"))
    assert {(r["model"], r["thinking"]): r["total"] for r in data["rows"]} == pytest.approx(TOTALS["superclue"])
    data = json.loads((site / "data/boards/superclue-2025.json").read_text(encoding="utf-8"))
    assert {(r["model"], r["thinking"]): r["total"] for r in data["rows"]} == pytest.approx(TOTALS["superclue-2025"])
    assert [c["key"] for c in data["categories"]] == ["math_reasoning", "code_generation", "instruction_following",
                                                      "hallucination"]
    other = (site / "boards/other-tasks.html").read_text(encoding="utf-8")
    assert _rows(other, "ranking") == ["GLM-4-9B"] and "Tasks outside the suites" in other


def test_category_pages_link_their_tasks(site: Path) -> None:
    board = parse(site / "boards/superclue-2025.html").urls
    assert "superclue-2025/instruction_following.html" in [u.removeprefix("../boards/") for u in board]
    page = site / "boards/superclue-2025/instruction_following.html"
    urls = parse(page).urls
    for task in ("cfbench", "followbench_zh", "cpifopen"):
        assert f"../../tasks/{task}.html" in urls
    html = page.read_text(encoding="utf-8")
    table = html[html.index("category-scores"):]
    # best first: 70 (GLM's CPIFOpen alone; the thinking entry's (60 + 70 + 80) / 3, equal, after it by name), 50, 45, 30
    assert re.findall(r'models/([^"]+)\.html', table) == [slug("GLM-4-9B"), slug("Qwen3-8B") + "--thinking",
                                                         slug("Qwen2.5-7B"), slug("Qwen3-8B"), slug("Yi-9B")]
    old = (site / "boards/superclue/instruction_following.html").read_text(encoding="utf-8")
    assert "tasks/cpifopen.html" in old and "tasks/cfbench.html" not in old
    # the 2025 math dimension names its task with no results yet, unlinked
    math = (site / "boards/superclue-2025/math_reasoning.html").read_text(encoding="utf-8")
    assert "tal_scq5k_cn <small>" in math and "tasks/tal_scq5k_cn.html" not in math
    tasks = (site / "tasks.html").read_text(encoding="utf-8")
    assert tasks.count('href="tasks/cpifopen.html"') == 1  # listed once, under the first board that has it
    assert 'href="boards/superclue-2025/instruction_following.html"' in tasks


def test_model_page_shows_each_board(site: Path) -> None:
    html = (site / f"models/{slug('Qwen3-8B')}--thinking.html").read_text(encoding="utf-8")
    part = html[html.index('class="standings"'):html.index("</section>", html.index('class="standings"'))]
    assert part.count('class="bar-chart"') == 3 or part.count("<svg") == 3  # 2023, 2025 and its judge-free subset
    assert '../boards/superclue-2025.html' in part and "../index.html" in part


def test_one_suite_is_one_board_as_before(tmp_path: Path) -> None:
    """A folder with runs of one suite: the index is that board alone, with no tabs and no sections."""
    root = tmp_path / "results"
    write_results(root)
    for p in root.rglob("*.json"):
        if json.loads(p.read_text(encoding="utf-8"))["suite"] is None or "2025" in p.read_text(encoding="utf-8"):
            p.unlink()
    out = tmp_path / "site"
    build_site(root, out)
    assert not (out / "boards" / "superclue-2025.html").exists() and broken_links(out) == []
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'class="boards"' not in index and _rows(index, "ranking") == ["Qwen2.5-7B"]


def test_a_suite_name_with_markup_is_text(runs: list[dict[str, Any]], tmp_path: Path) -> None:
    root = tmp_path / "odd"
    write_results(root)
    path = next(root.rglob("run0.json"))
    data = json.loads(path.read_text(encoding="utf-8"))
    data["suite"]["name"] = "<img src=x onerror=alert(1)>"
    path.write_text(json.dumps(data), encoding="utf-8")
    out = tmp_path / "site"
    build_site(root, out)
    assert broken_links(out) == []
    for page in out.rglob("*.html"):
        assert "<img src=x" not in page.read_text(encoding="utf-8"), page
