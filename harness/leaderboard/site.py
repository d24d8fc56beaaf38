"""Build the static leaderboard site: results folder -> a folder of HTML, CSS, one script and data files.

No server, no CDN: every page opens from `file://`. Charts are SVG drawn here, so they read without JavaScript;
the script only sorts, filters, switches language and pages through samples. Jinja2 autoescaping is on for every
template, so model names, outputs and anything else from results files reach the page as text.
"""

from __future__ import annotations

import datetime as _dt
import json
import shlex
import shutil
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from harness.errors import HarnessError
from harness.leaderboard import i18n, svg
from harness.leaderboard.boards import SuiteBoard, newest_by_task, suite_boards, suite_definitions
from harness.leaderboard.collect import Leaderboard, ModelRow, TaskScore, build, load_results, slug
from harness.leaderboard.efficiency import efficiency_view, load_bench
from harness.leaderboard.export import ranking_csv, ranking_json
from harness.leaderboard.samples import read_samples_by_task, write_sample_files
from harness.resources import bundled

SITE_SOURCES = bundled("leaderboard")  # the site's templates and assets (harness/resources.py)
SIZE_BUCKETS = (("lt1b", 1e9, "<1B"), ("1-4b", 4.5e9, "1–4B"), ("4-15b", 15e9, "4–15B"), ("15-40b", 40e9, "15–40B"),
                ("gt40b", float("inf"), "≥40B"))


def size_bucket(params: int | None) -> str:
    if not params:
        return "unknown"
    return next(key for key, upper, _ in SIZE_BUCKETS if params < upper)


def fmt_params(params: int | None) -> str:
    if not params:
        return "?"
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        value = float(f"{params / div:.3g}")  # rounded first: 999.6M is 1B, not "1e+03M"
        if value >= 1:
            return f"{value:g}{unit}"
    return str(params)


def fmt_num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def fmt_bytes(n: int | None) -> str:
    if not n:
        return "–"
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(SITE_SOURCES / "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(t=i18n.t, pair=i18n.pair, attrs=i18n.attrs, option=i18n.option, size_buckets=SIZE_BUCKETS,
                       thinking_badge=lambda: Markup(f'<span class="badge thinking" {i18n.attrs("title", "thinking_badge_help")}>'
                                                     f'{i18n.t("thinking_badge")}</span>'))
    env.filters.update(jsontext=lambda v: json.dumps(v, ensure_ascii=False, default=str),  # escaped by autoescape
                       when=lambda iso: str(iso)[:16].replace("T", " "), num=fmt_num, params=fmt_params, bytes=fmt_bytes, slug=slug, size_bucket=size_bucket,
                       shell=lambda argv: shlex.join(str(a) for a in argv) if isinstance(argv, list) else str(argv))
    return env


def entry_names(row: ModelRow) -> tuple[str, str]:
    """An entry's name as plain text in both languages: a thinking entry carries the tag ("Qwen3-8B（思考）")."""
    if not row.thinking:
        return row.model, row.model
    zh, en = i18n.STRINGS["thinking_badge"]
    return f"{row.model}（{zh}）", f"{row.model} ({en})"


def _tag(row: ModelRow) -> dict[str, str]:
    zh, en = i18n.STRINGS["thinking_badge"]
    return {"tag_zh": zh, "tag_en": en} if row.thinking else {}


def _category_chart(row: ModelRow, board: Leaderboard) -> Markup:
    bars = [svg.Bar(c.zh, c.en, row.categories.get(c.key), row.category_stderr.get(c.key)) for c in board.categories]
    zh, en = entry_names(row)
    return Markup(svg.bar_chart(bars, title_zh=f"{zh} 各能力得分", title_en=f"{en}: score per capability"))


def board_title(sb: SuiteBoard, only: bool = False) -> tuple[str, str]:
    """A board's name in both languages: the known suites by what they measure, another suite by its name."""
    if sb.name is None:
        return i18n.STRINGS["board_all" if only else "board_other"]
    return i18n.STRINGS.get(f"board:{sb.name}", (sb.name, sb.name))


def _standings(row: ModelRow, boards: list[SuiteBoard], main: Leaderboard) -> list[dict[str, Any]]:
    """Where an entry stands on each board it is on: the board, its row there and its category chart (the main
    board's chart when it is on none)."""
    out = []
    for sb in boards:
        there = next((r for r in sb.board.rows if r.key == row.key), None)
        if there is not None:
            out.append({"sb": sb, "title": board_title(sb, len(boards) == 1), "row": there,
                        "chart": _category_chart(there, sb.board)})
    return out or [{"sb": None, "title": None, "row": row, "chart": _category_chart(row, main)}]


def _category_entries(sb: SuiteBoard, key: str) -> list[tuple[ModelRow, dict[str, TaskScore]]]:
    """A category page's rows: every entry with a score in the category, best first, with its task scores."""
    rows = [r for r in sb.board.rows if key in r.categories]
    rows.sort(key=lambda r: (-r.categories[key], r.model, r.thinking))
    return [(r, newest_by_task(r)) for r in rows]


def _task_groups(boards: list[SuiteBoard]) -> list[dict[str, Any]]:
    """The task list by board and category, each task listed once (under the first board that has it)."""
    seen: set[str] = set()
    groups = []
    for sb in boards:
        cats = []
        for c in sb.board.categories:
            names = [t for t in c.tasks if t in sb.board.tasks and t not in seen]
            seen.update(names)
            if names:
                cats.append((c, names))
        if cats:
            groups.append({"sb": sb, "title": board_title(sb, len(boards) == 1), "categories": cats})
    return groups


def _task_chart(task: str, entries: list[tuple[ModelRow, TaskScore]]) -> Markup:
    bars = [svg.Bar(*entry_names(r), s.score, s.stderr) for r, s in entries]
    return Markup(svg.bar_chart(bars, title_zh=f"{task} 各模型得分", title_en=f"{task}: score per model"))


def _efficiency_charts(board: Leaderboard) -> list[dict[str, Any]]:
    charts = []
    for key in board.throughput_keys:
        points = []
        for r in board.rows:
            tps = r.throughput[key].generated_tokens_per_s if key in r.throughput else None
            if tps is not None and tps > 0 and r.total is not None:
                points.append(svg.Point(r.model, tps, r.total, f"models/{r.slug}.html", **_tag(r)))
        if not points:
            continue
        chart = svg.scatter_chart(points, x_zh="生成 token/秒", x_en="generated tokens/s", y_zh="总分", y_en="total score",
                                  title_zh=f"{key}：质量与速度", title_en=f"{key}: quality versus speed")
        charts.append({"key": key, "svg": Markup(chart), "frontier": svg.pareto_frontier(points), "points": points})
    return charts


def _tokens_per_correct(board: Leaderboard) -> dict[str, Any]:
    """The efficiency page's tokens-per-correct-answer view: every entry with a Cost (cheapest first, entries with
    nothing right last) and, for those with a total and a right answer, total score against tokens per correct
    answer on a log axis, frontier towards fewer tokens and more points."""
    def tpc(r: ModelRow) -> float | None:
        return r.cost.tokens_per_correct if r.cost is not None else None

    rows = sorted((r for r in board.rows if r.cost is not None),
                  key=lambda r: (tpc(r) is None, tpc(r) or 0.0, r.model, r.thinking))
    points = []
    for r in rows:
        x = tpc(r)
        if x is not None and r.total is not None:
            points.append(svg.Point(r.model, x, r.total, f"models/{r.slug}.html", **_tag(r)))
    x_zh, x_en = i18n.STRINGS["tpc_axis"]
    title_zh, title_en = i18n.STRINGS["tpc_chart_title"]
    chart = svg.scatter_chart(points, x_zh=x_zh, x_en=x_en, y_zh="总分", y_en="total score", title_zh=title_zh,
                              title_en=title_en, x_unit="tokens/correct", lower_x_better=True) if points else None
    return {"rows": rows, "svg": Markup(chart) if chart else None,
            "frontier": svg.pareto_frontier(points, lower_x_better=True),
            "left_out": [r for r in rows if tpc(r) is None or r.total is None],
            "no_stats": [r for r in board.rows if r.cost is None]}


def _contributing_runs(row: ModelRow) -> list[dict[str, Any]]:
    """The results files this model's shown scores and throughput come from, newest first."""
    used = {s.run_file for s in row.scores.values()} | {tp.run_file for tp in row.throughput.values()}
    return [r for r in reversed(row.runs) if r["_file"] in used]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def build_site(results_dir: Path, out_dir: Path, samples_limit: int | None = None, with_samples: bool = True,
               prices: Path | None = None) -> dict[str, Any]:
    """Write the whole site into `out_dir` (replacing a previous build there); returns counts for the CLI, and under
    "skipped" one line per results or samples file (or part of one) that could not be read, saying which and why.
    `prices`: a prices file (harness/results/prices.py) that prices every entry's measured time and energy."""
    from harness.leaderboard.costs import apply_prices, efficiency_rows
    from harness.results.prices import load_prices

    priced = load_prices(prices) if prices is not None else None  # a bad file: one line, before any work
    skipped: list[str] = []
    runs = load_results(results_dir, skipped)
    if not runs:
        why = f"; {len(skipped)} could not be read, the first: {skipped[0]}" if skipped else ""
        raise HarnessError(f"leaderboard: no results files (*.json written by `harness eval`) under {results_dir}{why}")
    if out_dir.exists():
        if not out_dir.is_dir():
            raise HarnessError(f"leaderboard: -o {out_dir} is a file; pick a folder for the site")
        is_site = (out_dir / "index.html").is_file() and (out_dir / "data" / "ranking.json").is_file()
        if not is_site and any(out_dir.iterdir()):
            raise HarnessError(f"leaderboard: -o {out_dir} exists and is not a leaderboard site; pick an empty or new folder")
        if out_dir.resolve() in results_dir.resolve().parents or out_dir.resolve() == results_dir.resolve():
            raise HarnessError(f"leaderboard: -o {out_dir} holds the results folder {results_dir}; a rebuild would delete it")
        shutil.rmtree(out_dir)
    # one board per suite (harness/leaderboard/boards.py); the site-wide board (exports, model and task pages,
    # efficiency) ranks by the first one's categories and rule, the board the index shows
    defs = suite_definitions(runs)
    board = build(runs, list(defs[0].categories), defs[0].category_rule) if defs else build(runs)
    if priced is not None:
        apply_prices(board, priced)
    boards = suite_boards(runs, board)
    for sb in boards:  # a task of no category on the site-wide board is named by its category on its own board
        for name, info in sb.board.tasks.items():
            if "category_zh" in info and "category_zh" not in board.tasks.get(name, {"category_zh": ""}):
                board.tasks[name].update(category_zh=info["category_zh"], category_en=info["category_en"])
    env = _env()
    built_at = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    common = {"built_at": built_at, "n_runs": len(runs), "board": board, "boards": boards,
              "board_title": lambda sb: board_title(sb, len(boards) == 1)}

    common["efficiency"] = efficiency_view(board, load_bench(results_dir, skipped))  # matrix, fronts, bench runs

    # samples: one folder per (task column, model), from the run that gave the shown score
    sample_sets: dict[str, list[dict[str, Any]]] = {}  # task -> [{model, slug, column, dir, n, right}]
    if with_samples:
        cache: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for row in board.rows:
            for col, s in row.scores.items():
                run = next(r for r in row.runs if r["_file"] == s.run_file)
                path = Path(run["_path"]).parent / str(run.get("samples_file") or "")  # a bare name (the schema)
                if str(path) not in cache:
                    name = (Path(run["_file"]).parent / str(run.get("samples_file") or "")).as_posix()
                    cache[str(path)] = read_samples_by_task(path, skipped, name) if run.get("samples_file") else {}
                records = cache[str(path)].get(s.task, [])
                if not records:
                    continue
                rel = f"data/samples/{slug(s.task)}/v{slug(s.version)}/{row.slug}"
                m = write_sample_files(records, out_dir / rel, f"{s.task}|{s.version}|{row.slug}", samples_limit)
                zh, en = entry_names(row)
                sample_sets.setdefault(s.task, []).append({"model": row.model, "name_zh": zh, "name_en": en,
                                                           "thinking": row.thinking, "slug": row.slug, "column": col,
                                                           "version": s.version, "dir": rel, "n": m["n"],
                                                           "right": m["ok"].count("1")})

    pages = {}
    for sb in boards:
        root = "" if sb.page == "index.html" else "../"
        pages[sb.page] = env.get_template("index.html").render(root=root, page="index", **{**common, "board": sb.board},
                                                               sb=sb)
        for c in sb.board.categories:
            pages[sb.category_page(c.key)] = env.get_template("category.html").render(
                root="../../", page="index", **{**common, "board": sb.board}, sb=sb, cat=c,
                entries=_category_entries(sb, c.key))
    pages |= {
        "efficiency.html": env.get_template("efficiency.html").render(root="", page="efficiency",
                                                                       charts=_efficiency_charts(board),
                                                                       tpc=_tokens_per_correct(board),
                                                                       energy_cost=efficiency_rows(board), **common),
        "tasks.html": env.get_template("tasks.html").render(  # not tasks/index.html: a task may be named index
            root="", page="tasks", task_models={t: sum(any(s.task == t for s in r.scores.values()) for r in board.rows)
                                                   for t in board.tasks}, task_groups=_task_groups(boards), **common),
    }
    for row in board.rows:
        pages[f"models/{row.slug}.html"] = env.get_template("model.html").render(
            root="../", page="model", row=row, standings=_standings(row, boards, board), runs=_contributing_runs(row),
            **common)
    for task, info in board.tasks.items():
        entries = sorted(((r, s) for r in board.rows for s in r.scores.values() if s.task == task),
                         key=lambda e: (-int(e[1].version) if e[1].version.isdigit() else 0, -e[1].score, e[0].model,
                                        e[0].thinking))
        strings = {k: i18n.STRINGS[k] for k in i18n.SCRIPT_KEYS}
        pages[f"tasks/{slug(task)}.html"] = env.get_template("task.html").render(
            root="../", page="task", task=info, entries=entries, chart=_task_chart(task, entries),
            sample_sets=sample_sets.get(task, []), script_strings=_json_for_html(strings), **common)
    for rel, html in pages.items():
        _write(out_dir / rel, html)
    shutil.copytree(SITE_SOURCES / "static", out_dir / "assets", dirs_exist_ok=True)
    _write(out_dir / "data" / "ranking.json", ranking_json(board, built_at))
    _write(out_dir / "data" / "ranking.csv", ranking_csv(board))
    for sb in boards:  # each board's own ranking, as its page shows it
        _write(out_dir / "data" / "boards" / f"{sb.key}.json", ranking_json(sb.board, built_at))
        _write(out_dir / "data" / "boards" / f"{sb.key}.csv", ranking_csv(sb.board))
    return {"models": len(board.rows), "tasks": len(board.tasks), "runs": len(runs), "pages": len(pages),
            "index": out_dir / "index.html", "skipped": skipped}


def _json_for_html(obj: Any) -> Markup:
    """JSON safe inside a <script type="application/json"> element: no '<' can close it."""
    text = json.dumps(obj, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)
