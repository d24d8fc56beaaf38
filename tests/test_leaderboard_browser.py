"""The built site in a real browser: Playwright drives Debian's chromium over pages built from real `harness eval`
runs of three tiny models. Any console error or uncaught exception on any page fails the test that opened it.
Screenshots of the index and a model page land in test-output/browser/ (or $HARNESS_TEST_OUTPUT)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest
from conftest import SUPERCLUE_LIMIT
from needs import require

from harness.cli import main
from harness.leaderboard.samples import FIELD_CHARS

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parent.parent
SHOTS = Path(os.environ.get("HARNESS_TEST_OUTPUT", REPO / "test-output")) / "browser"
INJECTED = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
HUGE = "<b>长</b>" * 5_000  # 40,000 characters with markup: cut in the page, whole in the download
ODD_NAME = "tiny-llama-chat<b>&"  # markup in a model folder name must show as text; "-chat" makes it a chat model


def _need_browser() -> None:
    require(CHROMIUM.exists(), f"{CHROMIUM} not found: install Debian's chromium and fonts-wqy-zenhei (see .ci/run)")


@pytest.fixture(scope="module")
def site(tiny_models: dict[str, Path], data_dir: Path, scripted_judge: Path, superclue_qwen2_run: Path,
         tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three real suite runs (qwen2, llama under an odd name, glm4), one sample output replaced by markup, built.
    The qwen2 run is the session's (conftest.py, SUPERCLUE_LIMIT items a task), copied: its samples are edited."""
    tmp = tmp_path_factory.mktemp("board")
    odd = tmp / "models" / ODD_NAME
    shutil.copytree(tiny_models["llama"], odd)
    results = tmp / "results"
    shutil.copytree(superclue_qwen2_run, results / "tiny-qwen2")
    for model in (odd, tiny_models["glm4"]):
        args = ["eval", "--model", str(model), "--suite", "superclue", "--data-dir", str(data_dir), "--limit", str(SUPERCLUE_LIMIT),
                "--max-new-tokens", "16", "--output-dir", str(results), "--no-progress", "--judge-model", str(scripted_judge),
                "--no-cache"]  # measured here: a run answered from the session's cache has no throughput to show
        assert main(args) == 0
    # the first cmath sample of the qwen2 run answers with markup
    (jsonl,) = (results / "tiny-qwen2").glob("*.samples.jsonl")
    lines = [json.loads(x) for x in jsonl.read_text(encoding="utf-8").splitlines()]
    first = next(r for r in lines if r["task"] == "cmath")
    first["output"] = first["prediction"] = INJECTED
    second = [r for r in lines if r["task"] == "cmath"][1]  # an output too long to show whole
    second["output"] = HUGE
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    out = tmp / "site"
    assert main(["leaderboard", "build", str(results), "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _need_browser()
    SHOTS.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM),
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page that records console errors and page errors; the test fails if any occurred."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    pg.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    yield pg
    context.close()
    assert errors == []


def _url(site: Path, rel: str) -> str:
    return (site / rel).resolve().as_uri()


def _column(pg: Any, n: int) -> list[str]:
    return pg.eval_on_selector_all(f"#ranking tbody tr:not([hidden]) td:nth-child({n})",
                                   "cells => cells.map(c => c.dataset.v)")


def test_index_sorts_by_a_column_and_keeps_it_in_the_url(site: Path, page: Any) -> None:
    page.goto(_url(site, "index.html"))
    assert len(_column(page, 2)) == 3
    totals = [float(v) for v in _column(page, 3)]
    assert totals == sorted(totals, reverse=True)  # ranked by total
    page.click("th[data-sort='c-knowledge']")
    knowledge = [float(v) for v in _column(page, 4)]
    assert knowledge == sorted(knowledge, reverse=True)
    assert "sort=c-knowledge" in page.url
    page.click("th[data-sort='c-knowledge']")
    assert [float(v) for v in _column(page, 4)] == sorted(knowledge)
    assert "dir=asc" in page.url
    page.click("th[data-sort='model']")
    names = _column(page, 2)
    assert names == sorted(names)
    # the permalink restores the view
    url = page.url
    page.goto(_url(site, "efficiency.html"))
    page.goto(url)
    assert _column(page, 2) == names
    page.screenshot(path=str(SHOTS / "index.png"), full_page=True)


def test_index_filters_and_search(site: Path, page: Any) -> None:
    page.goto(_url(site, "index.html"))
    page.select_option("#f-family", "glm4")
    assert _column(page, 2) == ["tiny-glm4"]
    assert "family=glm4" in page.url
    page.fill("#f-q", "qwen")
    assert _column(page, 2) == []
    assert page.inner_text("#f-count") == "0 / 3"
    page.click("#f-reset")
    assert len(_column(page, 2)) == 3
    page.fill("#f-q", "LLAMA")
    assert _column(page, 2) == [ODD_NAME]
    page.goto(_url(site, "index.html") + "#size=gt40b")
    assert _column(page, 2) == []
    page.goto(_url(site, "index.html") + "#size=lt1b&type=chat")
    assert _column(page, 2) == [ODD_NAME]
    assert page.input_value("#f-type") == "chat"  # the form follows the link
    page.goto(_url(site, "index.html") + "#type=base&family=nonexistent")
    assert len(_column(page, 2)) == 2  # an unknown family in a stale link is ignored


def _follow(page: Any, selector: str) -> None:
    """Click a link and wait until the new page has loaded and its script has applied the language (data-lang):
    a click returns once the navigation is committed, before the page's text is switched to #lang=en."""
    with page.expect_navigation():
        page.click(selector)
    page.wait_for_selector("html[data-lang]")


def test_language_switch_is_kept_in_the_url_and_links(site: Path, page: Any) -> None:
    page.goto(_url(site, "index.html"))
    assert page.is_visible("h1 .t[lang=zh]") and not page.is_visible("h1 .t[lang=en]")
    page.click("#lang-switch")
    assert page.inner_text("h1") == "Chinese LLM leaderboard"
    assert "lang=en" in page.url
    assert page.get_attribute("th[data-sort='total']", "title").startswith("Weighted mean")
    # following a model link keeps the language
    _follow(page, f"#ranking a:text-is('{ODD_NAME}')")
    assert "/models/" in page.url and "lang=en" in page.url
    assert page.inner_text("h1") == ODD_NAME  # markup in a model name is text
    assert page.is_visible("text=Score per capability")
    page.click("#lang-switch")
    assert page.is_visible("text=能力类别得分")


def test_model_page_has_chart_tables_and_reproducibility(site: Path, page: Any) -> None:
    page.goto(_url(site, "index.html"))
    _follow(page, "#ranking a:text-is('tiny-qwen2')")
    svg = page.locator("svg.bar-chart")
    assert svg.count() == 1
    assert svg.locator("rect.bar").count() >= 1 or svg.locator("text.value").count() == 5
    assert page.locator("section.repro article.card").count() == 1
    assert "harness eval --model" in page.inner_text("code.cmd")
    assert page.locator("table.throughput tbody tr").count() == 1
    page.screenshot(path=str(SHOTS / "model.png"), full_page=True)


def test_sample_browser_shows_injected_markup_as_text(site: Path, page: Any) -> None:
    page.goto(_url(site, "tasks/cmath.html") + "#model=tiny-qwen2")
    page.wait_for_selector("#s-list li.sample")
    outputs = page.locator("#s-list li.sample .field.output pre").all_inner_texts()
    assert INJECTED in outputs  # shown literally
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#s-list script, #s-list img").count() == 0
    # filter: the tiny model gets every cmath item wrong
    page.check("input[name=s-filter][value=right]")
    page.wait_for_selector("#s-list li.empty")
    assert "filter=right" in page.url
    page.check("input[name=s-filter][value=wrong]")
    page.wait_for_selector("#s-list li.sample.bad")
    assert page.locator("#s-list li.sample.ok").count() == 0


def test_sample_browser_cuts_a_huge_field_and_links_the_full_text(site: Path, page: Any) -> None:
    page.goto(_url(site, "tasks/cmath.html") + "#model=tiny-qwen2&lang=en")
    page.wait_for_selector("#s-list li.sample")
    cut = page.locator("#s-list li.sample:has(.field-cut)")
    assert cut.count() == 1
    assert cut.locator(".field.output pre").inner_text() == HUGE[:FIELD_CHARS]  # text, markup and all
    note = cut.locator(".field-cut")
    assert "output: 40,000" in note.inner_text() and "the JSONL download has all of it" in note.inner_text()
    href = note.locator("a").get_attribute("href")
    assert href.endswith("/samples.jsonl") and note.locator("a").get_attribute("download") == ""
    full = (site / "tasks" / href).resolve().read_text(encoding="utf-8")
    assert HUGE in [json.loads(x).get("output") for x in full.splitlines()]
    assert page.locator("#s-list b").count() == 0


def test_sample_browser_likelihood_items_and_model_switch(site: Path, page: Any) -> None:
    page.goto(_url(site, "tasks/ceval.html"))
    page.wait_for_selector("#s-list li.sample")
    assert page.locator("#s-list li.sample").count() == SUPERCLUE_LIMIT
    first = page.locator("#s-list li.sample").first
    assert first.locator(".logprobs tr").count() == 4  # A-D
    chosen = page.locator("#s-model option").nth(2)
    key = chosen.get_attribute("data-key")
    page.select_option("#s-model", index=2)
    page.wait_for_selector(f"#s-list[data-shown='{key}|all|1']")
    assert page.locator("#s-list li.sample").count() == SUPERCLUE_LIMIT
    assert f"model={key.split('|')[2]}" in page.url


def test_efficiency_and_phone_layout(site: Path, page: Any) -> None:
    page.goto(_url(site, "efficiency.html"))
    # the quality-versus-speed chart of the accelerator, then the cross-accelerator chart (score against tokens/s
    # per device over every model x accelerator pair; one accelerator here, so the same three points)
    charts = page.locator("svg.scatter-chart")
    assert charts.count() == 2
    chart = charts.first
    assert chart.locator("circle").count() == 3 and charts.last.locator("circle").count() == 3
    assert chart.locator("circle.frontier").count() >= 1
    page.click("#lang-switch")
    chart.locator("a circle").last.click()  # the point drawn last is on top; it links to its model page, in the chosen language
    assert "/models/" in page.url and page.url.endswith("#lang=en")
    page.go_back()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(_url(site, "index.html"))
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1  # the table scrolls inside its box; the page itself does not
    page.screenshot(path=str(SHOTS / "index-phone.png"), full_page=True)


def test_ranking_fits_a_wide_screen_in_both_languages(site: Path, page: Any) -> None:
    """At 1920 px the whole ranking (nine categories, total, throughput) shows without scrolling sideways, in English
    too, whose category names are long (before: the page kept to 1200 px and the English table scrolled inside it).
    At 1280 px the table may scroll, inside its own box only."""
    measure = """() => { const wrap = document.querySelector('.table-wrap');
        return {page: document.documentElement.scrollWidth, box: wrap.clientWidth, table: wrap.scrollWidth}; }"""
    for width, fits in ((1920, True), (1280, False)):
        page.set_viewport_size({"width": width, "height": 1080})
        for lang in ("en", "zh"):
            page.goto(_url(site, "index.html") + ("#lang=en" if lang == "en" else ""))
            page.wait_for_selector(f"html[data-lang='{lang}']")
            m = page.evaluate(measure)
            assert m["page"] <= width, (width, lang, m)  # the page never scrolls sideways
            if fits:
                assert m["table"] <= m["box"], (width, lang, m)
                page.screenshot(path=str(SHOTS / f"index-{lang}-{width}.png"))


def test_judged_samples_show_dialogue_verdicts_and_score(site: Path, page: Any) -> None:
    page.goto(_url(site, "tasks/mtbench_zh.html") + "#lang=en")
    page.wait_for_selector("#s-list li.sample")
    first = page.locator("#s-list li.sample").first
    badge = first.locator(".badge")
    assert badge.inner_text() == "Score: 0.100"  # the scripted judge's 1 of 10
    color, background = badge.evaluate("b => [getComputedStyle(b).color, getComputedStyle(b).backgroundColor]")
    assert color != background
    assert first.locator(".dialogue pre.turn").count() == 4  # two user turns, two answers
    assert first.locator(".field.judge-output pre").count() == 2 and "综合得分：1" in first.locator(".field.judge-output pre").first.inner_text()
    assert "⚖" in page.inner_text("table.data")  # the per-model table names the judge


# ---------- thinking: a real tiny Qwen3 evaluated with thinking on and off ----------

INJECTED_REASONING = '<img src=x onerror="window.__pwned = 3">让我想想</think>'


@pytest.fixture(scope="module")
def thinking_site(tiny_qwen3: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real runs of one tiny Qwen3 (its real chat template: a hybrid thinker), --thinking on and off, built into
    one site. The thinking run's first gsm8k_zh sample gets reasoning with markup in it, left unfinished."""
    tmp = tmp_path_factory.mktemp("thinking-board")
    results = tmp / "results"
    for mode in ("on", "off"):
        assert main(["eval", "--model", str(tiny_qwen3), "--chat-template", "on", "--thinking", mode, "--tasks",
                     "gsm8k_zh,ceval", "--limit", "4", "--max-new-tokens", "16", "--data-dir", str(data_dir),
                     "--output-dir", str(results), "--no-cache", "--no-progress"]) == 0
    runs = [json.loads(p.read_text(encoding="utf-8")) for p in (results / "tiny-qwen3").glob("*.json")]
    (on,) = [r for r in runs if r["model"]["thinking"]["enabled"]]
    jsonl = results / "tiny-qwen3" / on["samples_file"]
    lines = [json.loads(x) for x in jsonl.read_text(encoding="utf-8").splitlines()]
    first = next(r for r in lines if r["task"] == "gsm8k_zh")
    first.update(reasoning=INJECTED_REASONING, reasoning_finished=False)
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    out = tmp / "site"
    assert main(["leaderboard", "build", str(results), "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def cost_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-computed thinking board of test_leaderboard_site (someone answered right, so the cost chart has points)."""
    from test_leaderboard_site import write_thinking_results

    from harness.leaderboard.site import build_site

    tmp = tmp_path_factory.mktemp("cost-board")
    out = tmp / "site"
    build_site(write_thinking_results(tmp / "results"), out)
    return out


def test_thinking_entry_badge_filter_and_pages(thinking_site: Path, page: Any) -> None:
    page.goto(_url(thinking_site, "index.html"))
    assert _column(page, 2) == ["tiny-qwen3", "tiny-qwen3"]  # one model, two entries
    assert page.locator("#ranking tbody tr .badge.thinking").count() == 1
    page.select_option("#f-thinking", "on")
    assert page.locator("#ranking tbody tr:not([hidden])").count() == 1
    assert page.locator("#ranking tbody tr:not([hidden]) .badge.thinking").count() == 1 and "thinking=on" in page.url
    page.select_option("#f-thinking", "off")
    assert page.locator("#ranking tbody tr:not([hidden]) .badge.thinking").count() == 0
    assert page.inner_text("#f-count") == "1 / 2"
    page.click("#f-reset")
    page.fill("#f-q", "思考")  # the search finds the badge's word too
    assert page.locator("#ranking tbody tr:not([hidden])").count() == 1
    page.click("#f-reset")
    page.screenshot(path=str(SHOTS / "thinking-index-zh.png"), full_page=True)
    page.click("#lang-switch")
    assert page.inner_text("#ranking tbody .badge.thinking") == "thinking"
    page.screenshot(path=str(SHOTS / "thinking-index-en.png"), full_page=True)
    _follow(page, "#ranking a[href*='--thinking']")
    assert page.url.endswith("models/tiny-qwen3--thinking.html#lang=en")
    page.wait_for_selector("html[data-lang='en']")
    assert page.inner_text("h1") == "tiny-qwen3 thinking"
    facts = page.inner_text("section.thinking dl")
    assert "thinking on" in facts and "on or off (hybrid)" in facts and '{"enable_thinking": true}' in facts
    assert page.locator("table.decoding tbody tr").count() == 2 and page.locator("table.cost tbody tr").count() == 2
    page.screenshot(path=str(SHOTS / "thinking-model-en.png"), full_page=True)
    page.click("#lang-switch")
    assert "开启思考" in page.inner_text("section.thinking dl")
    page.screenshot(path=str(SHOTS / "thinking-model-zh.png"), full_page=True)
    page.goto(_url(thinking_site, "efficiency.html"))
    assert page.locator("#tpc-table tbody tr").count() == 2
    page.screenshot(path=str(SHOTS / "thinking-efficiency-zh.png"), full_page=True)


def test_reasoning_is_collapsed_escaped_and_marked_unfinished(thinking_site: Path, page: Any) -> None:
    page.goto(_url(thinking_site, "tasks/gsm8k_zh.html") + "#model=tiny-qwen3--thinking&lang=en")
    page.wait_for_selector("#s-list li.sample")
    first = page.locator("#s-list li.sample").first
    box = first.locator("details.field.reasoning")
    assert box.count() == 1 and box.get_attribute("open") is None  # collapsed until asked for
    assert not box.locator("pre").is_visible()
    assert "Unfinished reasoning" in box.locator("summary").inner_text()
    assert first.locator(".sample-head .badge.unfinished").inner_text() == "Unfinished reasoning"
    box.locator("summary").click()
    assert box.locator("pre").is_visible() and box.locator("pre").inner_text() == INJECTED_REASONING  # shown as text
    assert page.evaluate("window.__pwned") is None and page.locator("#s-list img, #s-list script").count() == 0
    # the reasoning sits apart from the answer, before it
    order = first.evaluate("li => Array.from(li.children).map(c => c.className)")
    assert order.index("field reasoning unfinished") < order.index("field output")
    page.screenshot(path=str(SHOTS / "thinking-samples-en.png"), full_page=True)


def test_tokens_per_correct_chart_links_entries(cost_site: Path, page: Any) -> None:
    page.goto(_url(cost_site, "efficiency.html"))
    chart = page.locator("#tokens-per-correct svg.scatter-chart")
    assert chart.locator("circle").count() == 2 and chart.locator("circle.frontier").count() == 2
    assert page.locator("#tpc-table tbody tr").count() == 2
    page.screenshot(path=str(SHOTS / "cost-efficiency-zh.png"), full_page=True)
    page.click("#lang-switch")
    assert chart.locator(".tag .t[lang=en]").first.is_visible()
    page.screenshot(path=str(SHOTS / "cost-efficiency-en.png"), full_page=True)
    chart.locator("a[href*='--thinking'] circle").click()
    assert "--thinking.html" in page.url and page.url.endswith("#lang=en")


# ---------- suites as separate boards: the 2023 and 2025 suites, the 2025 one with reasoning entries apart ----------

@pytest.fixture(scope="module")
def boards_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-computed two-suite site of test_leaderboard_boards."""
    from test_leaderboard_boards import write_results

    from harness.leaderboard.site import build_site

    tmp = tmp_path_factory.mktemp("boards")
    out = tmp / "site"
    build_site(write_results(tmp / "results"), out)
    return out


def test_suite_boards_tabs_sections_and_category_pages(boards_site: Path, page: Any) -> None:
    page.goto(_url(boards_site, "index.html"))
    assert page.locator("nav.boards a").count() == 4 and len(_column(page, 2)) == 5
    _follow(page, "nav.boards a[data-board='superclue-2025']")
    assert page.url.endswith("boards/superclue-2025.html")
    thinking, plain = page.locator("#ranking-thinking tbody tr"), page.locator("#ranking-plain tbody tr")
    assert thinking.count() == 1 and plain.count() == 4
    assert page.locator("#ranking-thinking .badge.thinking").count() == 1
    assert page.locator("#ranking-plain .badge.thinking").count() == 0
    page.screenshot(path=str(SHOTS / "board-2025-zh.png"), full_page=True)
    # one sort for both sections, each sorted within itself; one filter over both
    page.click("#ranking-plain th[data-sort='model']")
    names = page.eval_on_selector_all("#ranking-plain tbody tr td:nth-child(2)", "cells => cells.map(c => c.dataset.v)")
    assert names == sorted(names) and "sort=model" in page.url
    page.fill("#f-q", "qwen3-8b")
    assert page.inner_text("#f-count") == "2 / 5"
    assert page.locator("#ranking-thinking tbody tr:not([hidden])").count() == 1
    page.click("#f-reset")
    page.click("#lang-switch")
    assert page.locator("#section-thinking h3 .t[lang=en]").inner_text().startswith("Reasoning entries")
    page.screenshot(path=str(SHOTS / "board-2025-en.png"), full_page=True)
    page.click("a.category-link:has-text('Precise instruction following')")
    assert page.url.endswith("boards/superclue-2025/instruction_following.html#lang=en")
    assert page.locator("a.task-link").count() == 3
    page.screenshot(path=str(SHOTS / "board-2025-category-en.png"), full_page=True)
    page.click("a.task-link:text-is('cfbench')")
    assert page.url.endswith("tasks/cfbench.html#lang=en")
