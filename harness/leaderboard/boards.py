"""Suites as separate boards: one ranking per suite, computed from that suite's own definition.

Why: two suites may share a category id with different tasks (`instruction_following` is CPIFOpen alone in the
2023 `superclue` suite, CFBench + FollowBench + CPIFOpen in `superclue-2025`) and each defines its own total, so
merging their categories into one board would mix both totals. Each suite named in a results file's `suite` block
gets a board: its categories, weights and category rule come from the newest block of that suite (the category's
task list is the tasks it ran plus its `missing_tasks`, in the order of the suite file when the harness knows the
suite at the same version), and it ranks every entry that has a score on any of its tasks, with only those tasks:
a model evaluated with `--tasks` on part of a suite appears with the other categories "not evaluated", as before.
A judge-free suite (`superclue-objective`) is a board of its own, because its total is computed over other tasks
than the full suite's; a filter could only hide rows, not recompute totals. Tasks that no suite names go to a
board of their own, categorised by each task's category; without any suite block, that is the only board
(the site as before suites were told apart).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError
from harness.leaderboard.collect import (
    Category,
    Leaderboard,
    ModelRow,
    TaskScore,
    _version_key,
    build,
    categories_from_runs,
    rank,
    slug,
)

# suites in the order their boards are listed; the first one present is the index page (the 2023 board first)
KNOWN_ORDER = ("superclue", "superclue-objective", "superclue-2025", "superclue-2025-objective")
# boards that rank reasoning (thinking) entries apart from the others, as SuperCLUE's 2025 report has a board of its
# own for reasoning models (its 2023 boards had none, so those keep one ranking with a filter)
SEPARATE_REASONING = ("superclue-2025", "superclue-2025-objective")
# a judge-free suite is listed as a variant of the suite it is a subset of
VARIANT_OF = {"superclue-objective": "superclue", "superclue-2025-objective": "superclue-2025"}
OTHER = "other-tasks"  # the key of the board of tasks outside every suite


@dataclass(frozen=True)
class SuiteDef:
    """What a board is computed from: the suite's categories (tasks, weights) and rule, as its newest results
    file records them."""

    name: str
    version: str
    rule: str | None
    category_rule: str
    categories: tuple[Category, ...]

    @property
    def tasks(self) -> set[str]:
        return {t for c in self.categories for t in c.tasks}


@dataclass
class SuiteBoard:
    key: str  # file-name-safe id: boards/<key>.html, boards/<key>/<category>.html, data/boards/<key>.json
    name: str | None  # the suite's name; None for the board of tasks outside every suite
    version: str | None
    rule: str | None
    category_rule: str
    board: Leaderboard
    split_thinking: bool = False  # reasoning entries ranked in a section of their own
    variant_of: str | None = None  # the key of the suite this judge-free board is a subset of
    page: str = ""  # the board's page, from the site root: index.html for the first, else boards/<key>.html
    sections: list[tuple[str, list[ModelRow]]] = field(default_factory=list)  # (section key, rows), ranked within

    def category_page(self, category: str) -> str:
        return f"boards/{self.key}/{slug(category)}.html"


def suite_definitions(runs: list[dict[str, Any]]) -> list[SuiteDef]:
    """Every suite named in the results' suite blocks, from its newest block (runs come oldest first), listed in
    KNOWN_ORDER then by name. A block without a name is the suite "suite"; one that names no task is no board."""
    found: dict[str, SuiteDef] = {}
    files: dict[tuple[str, str], dict[str, list[str]]] = {}
    for run in runs:
        block = run.get("suite")
        if not isinstance(block, dict) or not block.get("categories"):
            continue
        name = str(block.get("name") or "suite")
        version = str(block.get("version") if block.get("version") is not None else "")
        if (name, version) not in files:
            files[(name, version)] = _suite_file_order(name, version)
        order = files[(name, version)]
        cats = []
        for key, c in block["categories"].items():
            tasks = list(c.get("tasks") or {}) + [t for t in c.get("missing_tasks") or [] if t not in (c.get("tasks") or {})]
            if key in order:  # the suite file's order, with anything the block adds after it
                tasks = [t for t in order[key] if t in tasks or not tasks] + [t for t in tasks if t not in order[key]]
            cats.append(Category(key, c.get("zh") or key, c.get("en") or key, tuple(tasks), float(c.get("weight", 1.0))))
        rule, category_rule = block.get("rule"), block.get("category_rule")
        found[name] = SuiteDef(name, version, rule if isinstance(rule, str) else None,
                               category_rule if isinstance(category_rule, str) else "mean_of_tasks", tuple(cats))
    position = {n: i for i, n in enumerate(KNOWN_ORDER)}  # a block naming no task at all has nothing to rank
    return sorted((d for d in found.values() if d.tasks), key=lambda d: (position.get(d.name, len(position)), d.name))


def _suite_file_order(name: str, version: str) -> dict[str, list[str]]:
    """category id -> task list of the suite file the harness has under that name, when it is the same version;
    else {} (the block alone is used: the leaderboard never needs the task files). Only suites the harness knows
    by name are looked up: a name from a results file is never read as a path."""
    from harness.tasks.suites import discover_suites, load_suite

    if name not in discover_suites():
        return {}
    try:
        suite = load_suite(name)
    except (HarnessError, OSError, ValueError):
        return {}
    return {c.id: list(c.tasks) for c in suite.categories} if str(suite.version) == version else {}


def _only(runs: list[dict[str, Any]], tasks: set[str], keep_suite: bool) -> list[dict[str, Any]]:
    """The runs that have any of `tasks`, each with only those tasks (a shallow copy; the results stay as read)."""
    out = []
    for run in runs:
        kept = {t: b for t, b in run["tasks"].items() if t in tasks}
        if kept:
            out.append({**run, "tasks": kept, **({} if keep_suite else {"suite": None})})
    return out


def board_for(defn: SuiteDef, runs: list[dict[str, Any]], main: Leaderboard | None = None) -> Leaderboard:
    """The suite's board: its categories and rule over the entries with any of its tasks. Throughput (a property
    of the whole run, not of some of its tasks) is the entry's on `main` when given."""
    board = build(_only(runs, defn.tasks, keep_suite=True), list(defn.categories), defn.category_rule)
    if main is not None:
        _whole_throughput(board, main)
    return board


def _whole_throughput(board: Leaderboard, main: Leaderboard) -> None:
    """Give the board's entries their throughput over whole runs (from `main`), not over the board's tasks alone."""
    whole = {r.key: r for r in main.rows}
    for row in board.rows:
        if row.key in whole:
            row.throughput = whole[row.key].throughput
    board.throughput_keys = sorted({k for r in board.rows for k in r.throughput})


def suite_boards(runs: list[dict[str, Any]], main: Leaderboard | None = None) -> list[SuiteBoard]:
    """One board per suite in the results (see the module docstring), then the board of tasks no suite names
    (when there are any); the first board's page is index.html."""
    defs = suite_definitions(runs)
    out: list[SuiteBoard] = []
    taken = {n: slug(n) for n in [d.name for d in defs]}
    for d in defs:
        out.append(SuiteBoard(taken[d.name], d.name, d.version, d.rule, d.category_rule, board_for(d, runs, main),
                              d.name in SEPARATE_REASONING, taken.get(VARIANT_OF.get(d.name, ""))))
    in_suites = set().union(*(d.tasks for d in defs)) if defs else set()
    rest = {t for r in runs for t in r["tasks"] if t not in in_suites}
    if rest or not out:
        key = OTHER if OTHER not in taken.values() else f"{OTHER}-{len(out)}"
        loose = _only(runs, rest, keep_suite=False) if defs else runs
        board = build(loose, categories_from_runs(loose))
        if main is not None and defs:
            _whole_throughput(board, main)
        out.append(SuiteBoard(key, None, None, None, "mean_of_tasks", board))
    for i, sb in enumerate(out):
        sb.page = "index.html" if i == 0 else f"boards/{sb.key}.html"
        sb.sections = _sections(sb)
    return out


def _sections(sb: SuiteBoard) -> list[tuple[str, list[ModelRow]]]:
    """The board's rows as the page shows them: one ranking, or (on a board that ranks reasoning entries apart and
    has any) the reasoning entries and the others, each ranked on its own."""
    rows = sb.board.rows
    if not sb.split_thinking or not any(r.thinking for r in rows):
        return [("all", rows)]
    for r in rows:  # ranked again within its section: nothing kept from the board-wide ranking
        r.rank, r.tied_with_previous = None, False
    return [(key, rank([r for r in rows if r.thinking == on])) for key, on in (("thinking", True), ("plain", False))
            if any(r.thinking == on for r in rows)]


def newest_by_task(row: ModelRow) -> dict[str, TaskScore]:
    """task -> the entry's score on the newest version of it it ran (what its category means are made of)."""
    out: dict[str, TaskScore] = {}
    for s in row.scores.values():
        if s.task not in out or _version_key(s.version) > _version_key(out[s.task].version):
            out[s.task] = s
    return out
