"""SVG charts: well-formed, escaped, and drawn to scale; Pareto frontiers worked out by hand."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from harness.leaderboard.svg import Bar, Point, bar_chart, pareto_frontier, scatter_chart

NS = "{http://www.w3.org/2000/svg}"
AXES = {"x_zh": "吞吐 (tok/s)", "x_en": "Throughput (tok/s)", "y_zh": "得分", "y_en": "Score",
        "title_zh": "速度与质量", "title_en": "Speed vs quality"}


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    assert root.get("width") == "100%" and root.get("viewBox", "").startswith("0 0 ")
    assert root[0].tag == f"{NS}title"
    return root


def by_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [el for el in root.iter(f"{NS}{tag}") if cls in (el.get("class") or "").split()]


def xy(points: list[Point]) -> list[tuple[float, float]]:
    return [(p.x, p.y) for p in points]


def test_pareto_frontier_by_hand() -> None:
    pts = [Point("a", 10, 50), Point("b", 20, 40), Point("c", 5, 60), Point("d", 15, 45), Point("b2", 20, 40),
           Point("e", 1, 30)]
    # e is dominated by everything; b and b2 are the same point, kept once
    assert xy(pareto_frontier(pts)) == [(5, 60), (10, 50), (15, 45), (20, 40)]
    # equal x, lower y: dominated; equal y, lower x: dominated
    assert xy(pareto_frontier([Point("a", 10, 50), Point("b", 10, 40), Point("c", 8, 50)])) == [(10, 50)]
    assert xy(pareto_frontier([Point("only", 3, 7)])) == [(3, 7)]
    assert pareto_frontier([]) == []


def test_bar_widths_whiskers_and_not_evaluated() -> None:
    bars = [Bar("满分", "Full", 100.0, 2.0), Bar("一半", "Half", 50.0), Bar("未测", "Missing", None, 3.0),
            Bar("零误差", "Zero error", 25.0, 0.0)]
    root = parse(bar_chart(bars, title_zh="知识", title_en="Knowledge"))
    rects = by_class(root, "rect", "bar")
    assert len(rects) == 3  # no bar for the row not evaluated
    widths = [float(r.get("width")) for r in rects]
    assert widths[1] == pytest.approx(widths[0] / 2)
    assert widths[2] == pytest.approx(widths[0] / 4)
    assert len(by_class(root, "path", "whisker")) == 1  # only the row with stderr > 0
    values = [el.text for el in by_class(root, "text", "value")]
    assert values[:2] == ["100.0", "50.0"] and values[3] == "25.0"
    na = by_class(root, "text", "na")
    assert len(na) == 1 and {t.get("lang"): t.text for t in na[0]} == {"zh": "未评测", "en": "not evaluated"}
    assert root[0].text == "知识 / Knowledge"


def test_bilingual_tspans_sit_at_the_parent_position() -> None:
    root = parse(bar_chart([Bar("推理", "Reasoning", 10.0)], title_zh="总分", title_en="Total"))
    spans = list(root.iter(f"{NS}tspan"))
    assert spans and all(s.get("class") == "t" and s.get("lang") in ("zh", "en") for s in spans)
    assert not any(s.get(a) for s in spans for a in ("x", "y", "dx", "dy"))
    title = by_class(root, "text", "title")[0]
    assert [(s.get("lang"), s.text) for s in title] == [("zh", "总分"), ("en", "Total")]


def test_whisker_is_clipped_to_the_scale() -> None:
    root = parse(bar_chart([Bar("a", "a", 99.0, 5.0), Bar("b", "b", 100.0)], title_zh="t", title_en="t"))
    full_end = float(by_class(root, "rect", "bar")[1].get("x")) + float(by_class(root, "rect", "bar")[1].get("width"))
    d = by_class(root, "path", "whisker")[0].get("d")
    right = float(d.split("H")[1].split("M")[0])
    assert right == pytest.approx(full_end)


def test_labels_are_escaped() -> None:
    evil = '<script>alert(1)</script> & "quotes"'
    svg = scatter_chart([Point(evil, 10, 50, href='x.html?a=1&b="2"'), Point("ok", 20, 40)], **AXES)
    assert "<script" not in svg and "&lt;script&gt;" in svg and "&quot;quotes&quot;" in svg
    root = parse(svg)
    assert not list(root.iter(f"{NS}script")) and not list(root.iter("script"))
    assert evil in [el.text for el in by_class(root, "text", "label")]
    assert root.find(f".//{NS}a").get("href") == 'x.html?a=1&b="2"'
    svg = bar_chart([Bar(evil, evil, 1.0)], title_zh=evil, title_en=evil)
    assert "<script" not in svg
    assert parse(svg)[0].text == f"{evil} / {evil}"


def test_log_axis_positions() -> None:
    root = parse(scatter_chart([Point("a", 1, 10), Point("b", 10, 20), Point("c", 100, 30)], **AXES))
    cx = [float(c.get("cx")) for c in root.iter(f"{NS}circle")]
    assert cx[1] - cx[0] == pytest.approx(cx[2] - cx[1], abs=0.11) and cx[2] > cx[0]
    ticks = [t.text for t in by_class(root, "text", "tick")]
    assert {"1", "10", "100"} <= set(ticks) and {"0", "20", "100"} <= set(ticks)


def test_linear_axis_and_y_kept_0_to_100() -> None:
    root = parse(scatter_chart([Point("a", 10, 61), Point("b", 20, 62), Point("c", 30, 63)], log_x=False, **AXES))
    cx = [float(c.get("cx")) for c in root.iter(f"{NS}circle")]
    assert cx[1] - cx[0] == pytest.approx(cx[2] - cx[1], abs=0.11)  # coordinates have 1 decimal
    cy = [float(c.get("cy")) for c in root.iter(f"{NS}circle")]
    assert abs(cy[2] - cy[0]) < 10  # 2 points of score are a small distance on a 0..100 axis
    assert [t.text for t in by_class(root, "text", "tick")][:6] == ["0", "20", "40", "60", "80", "100"]


def test_frontier_points_links_and_hover_titles() -> None:
    pts = [Point("fast", 100, 40, href="models/fast.html"), Point("good", 10, 70), Point("bad", 5, 30)]
    root = parse(scatter_chart(pts, **AXES))
    frontier = by_class(root, "circle", "frontier")
    hover = sorted(c.find(f"{NS}title").text for c in frontier)
    assert hover == ["fast: 40.0 (100.0 tok/s)", "good: 70.0 (10.0 tok/s)"]
    assert len(by_class(root, "circle", "point")) == 3
    assert len(by_class(root, "polyline", "frontier-line")) == 1
    links = list(root.iter(f"{NS}a"))
    assert len(links) == 1 and links[0].get("href") == "models/fast.html"
    assert [el.tag for el in links[0]] == [f"{NS}circle", f"{NS}text"] and links[0][1].text == "fast"
    unsafe = parse(scatter_chart([Point("x", 1, 1, href="javascript:alert(1)")], **AXES))
    assert not list(unsafe.iter(f"{NS}a"))


@pytest.mark.parametrize("xs", [[0.5, 50000], [7, 7], [0, 0], [-1, 5], [1000, 1001]])
def test_awkward_x_ranges_stay_finite(xs: list[float]) -> None:
    for log_x in (True, False):
        svg = scatter_chart([Point(f"m{i}", x, 50) for i, x in enumerate(xs)], log_x=log_x, **AXES)
        assert "nan" not in svg and "inf" not in svg
        root = parse(svg)
        for c in root.iter(f"{NS}circle"):
            assert 0 <= float(c.get("cx")) <= 640


def test_empty_inputs() -> None:
    for svg in (bar_chart([], title_zh="知识", title_en="Knowledge"), scatter_chart([], **AXES)):
        root = parse(svg)
        empty = by_class(root, "text", "empty")[0]
        assert {t.get("lang"): t.text for t in empty} == {"zh": "暂无数据", "en": "No data"}
        assert not list(root.iter(f"{NS}rect")) and not list(root.iter(f"{NS}circle"))


def test_pareto_frontier_when_lower_x_is_better_by_hand() -> None:
    # x is a cost (tokens per correct answer): fewer tokens and more points win
    pts = [Point("cheap", 100, 40), Point("good", 2000, 80), Point("mid", 500, 60), Point("waste", 3000, 70),
           Point("worse", 600, 50)]
    assert xy(pareto_frontier(pts, lower_x_better=True)) == [(100, 40), (500, 60), (2000, 80)]
    assert xy(pareto_frontier([Point("a", 10, 50), Point("b", 10, 40), Point("c", 8, 50)], lower_x_better=True)) == [(8, 50)]


def test_cost_chart_frontier_unit_and_bilingual_tag() -> None:
    pts = [Point("Qwen3-8B", 1125, 70, href="models/q--thinking.html", tag_zh="思考", tag_en="thinking"),
           Point("Qwen3-8B", 100, 60, href="models/q.html"), Point("waste", 5000, 50)]
    root = parse(scatter_chart(pts, x_unit="tokens/correct", lower_x_better=True, **AXES))
    hover = sorted(c.find(f"{NS}title").text for c in by_class(root, "circle", "frontier"))
    assert hover == ["Qwen3-8B (思考/thinking): 70.0 (1125.0 tokens/correct)", "Qwen3-8B: 60.0 (100.0 tokens/correct)"]
    labels = by_class(root, "text", "label")
    assert [el.text for el in labels] == ["Qwen3-8B ", "Qwen3-8B", "waste"]  # a space, then the tag
    tag = labels[0].find(f"{NS}tspan")
    assert tag.get("class") == "tag" and [(s.get("lang"), s.text) for s in tag] == [("zh", "思考"), ("en", "thinking")]
    assert labels[1].find(f"{NS}tspan") is None
