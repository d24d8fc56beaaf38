"""Build-time SVG charts for the static leaderboard: no JavaScript, no web fonts, nothing fetched at view time.

Every function returns an inline `<svg>` string to embed in a page. It scales with its container (width="100%"
and a viewBox) and stays readable without the site's CSS: colours are presentation attributes, which any
stylesheet rule overrides. Interface text is written twice, as `<tspan class="t" lang="zh">` and `lang="en"`, at
one position; the page's CSS shows one of them. Text from data (model names, labels) is always escaped, so a
results file cannot inject markup into the site.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from urllib.parse import urlsplit

WIDTH = 640


@dataclass(frozen=True)
class Bar:
    zh: str  # label in Chinese
    en: str  # label in English
    value: float | None  # 0-100 score; None = not evaluated
    stderr: float | None = None  # error whisker value ± stderr when > 0


@dataclass(frozen=True)
class Point:
    label: str  # model name (untrusted text)
    x: float  # generated tokens per second (or tokens per correct answer)
    y: float  # quality score 0-100
    href: str | None = None  # relative URL that the point and its label link to
    tag_zh: str = ""  # a bilingual tag after the label (a thinking entry's "思考" / "thinking")
    tag_en: str = ""


def _e(text: str) -> str:
    return escape(str(text), quote=True)


def _f(v: float) -> str:
    """Coordinates at a fixed precision, so the output is stable and small."""
    return f"{v:.1f}"


def _bi(zh: str, en: str) -> str:
    """Both languages at one position; the page's CSS hides one (so no x/dx on the tspans)."""
    return f'<tspan class="t" lang="zh">{_e(zh)}</tspan><tspan class="t" lang="en">{_e(en)}</tspan>'


def _svg(kind: str, height: float, title_zh: str, title_en: str, body: list[str]) -> str:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {_f(height)}" width="100%" role="img" '
            f'class="chart {kind}" font-family="sans-serif" font-size="12">'
            f'<title>{_e(title_zh + " / " + title_en)}</title>')
    return "\n".join([head, *body, "</svg>"])


def _title(title_zh: str, title_en: str) -> str:
    return f'<text class="title" x="{WIDTH / 2:.1f}" y="20" text-anchor="middle" font-size="14" ' \
           f'font-weight="bold">{_bi(title_zh, title_en)}</text>'


def _empty(kind: str, title_zh: str, title_en: str) -> str:
    """A small chart that says there is nothing to show, rather than an empty box or a broken page."""
    return _svg(f"{kind} empty", 64, title_zh, title_en, [
        _title(title_zh, title_en),
        f'<text class="empty" x="{WIDTH / 2:.1f}" y="48" text-anchor="middle" fill="#666">'
        f'{_bi("暂无数据", "No data")}</text>'])


def bar_chart(bars: list[Bar], *, title_zh: str, title_en: str, max_value: float = 100.0) -> str:
    """Horizontal bar chart: one row per bar, label on the left, bar, value text at bar end (1 decimal).

    Bars share one scale (0..max_value) so widths compare across rows; a row not evaluated keeps its place and
    says so instead of drawing a zero-length bar that would read as a score of 0."""
    if not bars:
        return _empty("bar-chart", title_zh, title_en)
    top, row_h, bar_h, x0, span = 36.0, 26.0, 16.0, 170.0, 400.0
    scale = span / max_value if max_value > 0 else 0.0

    def px(v: float) -> float:
        return x0 + min(max(v, 0.0), max_value) * scale

    body = [_title(title_zh, title_en)]
    for i, b in enumerate(bars):
        y = top + i * row_h
        mid = y + row_h / 2
        body.append(f'<text class="label" x="{_f(x0 - 6)}" y="{_f(mid + 4)}" text-anchor="end">'
                    f'{_bi(b.zh, b.en)}</text>')
        if b.value is None or not math.isfinite(b.value):
            body.append(f'<text class="value na" x="{_f(x0 + 4)}" y="{_f(mid + 4)}" fill="#666">– '
                        f'{_bi("未评测", "not evaluated")}</text>')
            continue
        end = px(b.value)
        body.append(f'<rect class="bar" x="{_f(x0)}" y="{_f(mid - bar_h / 2)}" width="{_f(end - x0)}" '
                    f'height="{_f(bar_h)}" fill="#4c78a8"/>')
        text_x = end
        if b.stderr is not None and math.isfinite(b.stderr) and b.stderr > 0:
            lo, hi = px(b.value - b.stderr), px(b.value + b.stderr)
            c0, c1 = mid - 4, mid + 4
            body.append(f'<path class="whisker" d="M{_f(lo)} {_f(mid)}H{_f(hi)}M{_f(lo)} {_f(c0)}V{_f(c1)}'
                        f'M{_f(hi)} {_f(c0)}V{_f(c1)}" stroke="#333" fill="none"/>')
            text_x = max(text_x, hi)
        body.append(f'<text class="value" x="{_f(text_x + 4)}" y="{_f(mid + 4)}">{b.value:.1f}</text>')
    body.append(f'<line class="axis" x1="{_f(x0)}" y1="{_f(top)}" x2="{_f(x0)}" y2="{_f(top + len(bars) * row_h)}" '
                f'stroke="#333"/>')
    return _svg("bar-chart", top + len(bars) * row_h + 10, title_zh, title_en, body)


def pareto_frontier(points: list[Point], lower_x_better: bool = False) -> list[Point]:
    """Points not dominated by any other (higher-or-equal x AND y, one strictly higher), sorted by x ascending:
    the models worth considering for a given speed. Identical (x, y) pairs are kept once (the first). With
    lower_x_better (x is a cost, e.g. tokens per correct answer) a point is dominated by one with lower-or-equal x
    and higher-or-equal y."""
    unique: dict[tuple[float, float], Point] = {}
    for p in points:
        unique.setdefault((p.x, p.y), p)

    def at_least_as_good(q: Point, p: Point) -> bool:
        return (q.x <= p.x if lower_x_better else q.x >= p.x) and q.y >= p.y

    front = [p for p in unique.values()
             if not any(at_least_as_good(q, p) and (q.x != p.x or q.y != p.y) for q in unique.values())]
    return sorted(front, key=lambda p: (p.x, -p.y))


def _tick_text(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v / 1000:g}k"
    return f"{v:g}"


def _log_ticks(lo_d: int, hi_d: int) -> list[float]:
    """Powers of ten, plus 2x and 5x when there are few decades (otherwise they crowd the axis)."""
    mults = (1, 2, 5) if hi_d - lo_d <= 2 else (1,)
    return [m * 10.0 ** d for d in range(lo_d, hi_d + 1) for m in mults if m * 10.0 ** d <= 10.0 ** hi_d]


def _linear_range(lo: float, hi: float) -> tuple[float, float, float]:
    """A padded range with a 'nice' step (1, 2 or 5 x 10^k), so a single x value still has a width."""
    if hi - lo <= 0:
        lo, hi = lo - 1.0, hi + 1.0
    raw = (hi - lo) / 5
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    return math.floor(lo / step) * step, math.ceil(hi / step) * step, step


def scatter_chart(points: list[Point], *, x_zh: str, x_en: str, y_zh: str, y_en: str, title_zh: str, title_en: str,
                  log_x: bool = True, x_unit: str = "tok/s", lower_x_better: bool = False) -> str:
    """Score against throughput, Pareto frontier highlighted and joined. x is log10 when log_x and every x > 0
    (throughput spans decades, CPU to GPU), else linear; y stays 0..100 so all charts compare at a glance.
    `x_unit` follows x in a point's hover text; `lower_x_better` when x is a cost (see pareto_frontier)."""
    if not points:
        return _empty("scatter-chart", title_zh, title_en)
    height, left, right, top, bottom = 400.0, 56.0, WIDTH - 24.0, 36.0, 400.0 - 48.0
    xs = [p.x for p in points]
    log = log_x and min(xs) > 0
    if log:
        lo_d, hi_d = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
        hi_d = max(hi_d, lo_d + 1)
        lo, hi, ticks = float(lo_d), float(hi_d), _log_ticks(lo_d, hi_d)
    else:
        lo, hi, step = _linear_range(min(min(xs), 0.0), max(xs))
        ticks = [lo + i * step for i in range(round((hi - lo) / step) + 1)]

    def sx(x: float) -> float:
        v = math.log10(x) if log else x
        return left + (v - lo) / (hi - lo) * (right - left)

    def sy(y: float) -> float:
        return bottom - min(max(y, 0.0), 100.0) / 100.0 * (bottom - top)

    body = [_title(title_zh, title_en)]
    for t in range(0, 101, 20):
        y = sy(t)
        body.append(f'<line class="grid" x1="{_f(left)}" y1="{_f(y)}" x2="{_f(right)}" y2="{_f(y)}" stroke="#ddd"/>')
        body.append(f'<text class="tick" x="{_f(left - 6)}" y="{_f(y + 4)}" text-anchor="end">{t}</text>')
    for tick in ticks:
        x = sx(tick)
        body.append(f'<line class="grid" x1="{_f(x)}" y1="{_f(top)}" x2="{_f(x)}" y2="{_f(bottom)}" stroke="#ddd"/>')
        body.append(f'<text class="tick" x="{_f(x)}" y="{_f(bottom + 16)}" text-anchor="middle">{_tick_text(tick)}</text>')
    body.append(f'<path class="axis" d="M{_f(left)} {_f(top)}V{_f(bottom)}H{_f(right)}" stroke="#333" fill="none"/>')
    body.append(f'<text class="axis-title" x="{_f((left + right) / 2)}" y="{_f(height - 8)}" text-anchor="middle">'
                f'{_bi(x_zh, x_en)}</text>')
    cy = (top + bottom) / 2
    body.append(f'<text class="axis-title" x="16" y="{_f(cy)}" text-anchor="middle" '
                f'transform="rotate(-90 16 {_f(cy)})">{_bi(y_zh, y_en)}</text>')

    front = pareto_frontier(points, lower_x_better)
    on_front = {(p.x, p.y) for p in front}
    line = " ".join(f"{_f(sx(p.x))},{_f(sy(p.y))}" for p in front)
    body.append(f'<polyline class="frontier-line" points="{line}" fill="none" stroke="#d62728"/>')
    for p in points:
        x, y = sx(p.x), sy(p.y)
        frontier = (p.x, p.y) in on_front
        cls, fill = ("point frontier", "#d62728") if frontier else ("point", "#888")
        near_right = x > left + 0.75 * (right - left)  # put the label on the side with room
        lx, anchor = (x - 6, "end") if near_right else (x + 6, "start")
        name = f"{p.label} ({p.tag_zh}/{p.tag_en})" if p.tag_zh or p.tag_en else p.label
        tag = f' <tspan class="tag" fill="#6f42c1">{_bi(p.tag_zh, p.tag_en)}</tspan>' if p.tag_zh or p.tag_en else ""
        mark = (f'<circle class="{cls}" cx="{_f(x)}" cy="{_f(y)}" r="4" fill="{fill}">'
                f'<title>{_e(name)}: {p.y:.1f} ({p.x:.1f} {_e(x_unit)})</title></circle>'
                f'<text class="label" pointer-events="none" x="{_f(lx)}" y="{_f(y - 6)}" text-anchor="{anchor}">'
                f'{_e(p.label)}{tag}</text>')
        href = p.href if p.href and urlsplit(p.href).scheme in ("", "http", "https") else None
        body.append(f'<a href="{_e(href)}">{mark}</a>' if href else f"<g>{mark}</g>")
    return _svg("scatter-chart", height, title_zh, title_en, body)
