"""The efficiency page's cross-accelerator sections, built from fixture results of two accelerators (8x NVIDIA H800
with vLLM tensor parallelism, one Ascend 910B with transformers) and a `harness bench` file: the model x
accelerator matrix with rates over all devices and per device (figures worked by hand from the task blocks), the
Pareto fronts over every (model, accelerator) pair, cost where a run recorded one, and the bench runs beside the
eval throughput; a bench file that does not match its schema is one line in the build's report."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from test_leaderboard_site import task_block, write_run

from harness.bench.metrics import RequestRecord, summarize
from harness.leaderboard.site import build_site

H800 = {"kind": "cuda", "name": "NVIDIA H800", "count": 8, "parallel": {"tensor": 8}}
ASCEND = {"kind": "npu", "name": "Ascend 910B", "count": 1}


def _run(results: Path, model: str, when: str, generated: int, acc: dict[str, Any], backend: str,
         score: float, cost: dict[str, Any] | None = None) -> None:
    """A run of two tasks; its generate task made `generated` tokens in 2.0 s."""
    tasks = {"ceval": task_block(score, "likelihood"), "cmath": task_block(score, "generate")}
    tasks["cmath"]["throughput"]["generated_tokens"] = generated
    folder = write_run(results, model, when, tasks, None)
    path = max(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["throughput"]["accelerator"] = acc
    data["model"]["backend"] = backend
    if backend == "vllm":
        data["model"]["engine"] = {"engine": "vllm", "engine_version": "0.11", "tensor_parallel_size": acc["count"]}
    if cost is not None:
        data["throughput"]["cost"] = cost
    path.rename(folder / f"{when}-{backend}.json")
    (folder / f"{when}-{backend}.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _bench(results: Path) -> None:
    recs = [RequestRecord(i, ttft=0.05 * (i + 1), itl=[0.01] * 9, latency=0.05 * (i + 1) + 0.09, prompt_len=100,
                          output_len=10, success=True) for i in range(4)]
    scen = {**summarize(recs, 2.0), "name": "concurrency=4", "request_rate": None, "max_concurrency": 4,
            "per_accelerator": {"output_tokens_per_s": 20 / 8}}
    doc = {"bench_schema_version": 1, "kind": "harness-bench", "finished_at": "2026-11-03T00:00:00+00:00",
           "model": {"name": "Qwen-A", "backend": "vllm"}, "accelerator": H800, "devices": 8,
           "workload": {"source": "random", "num_prompts": 4, "input_len": {"mean": 100, "min": 100, "max": 100},
                        "output_len": {"mean": 10, "min": 10, "max": 10}}, "scenarios": [scen]}
    (results / "bench").mkdir()
    (results / "bench" / "bench-qwen-a.json").write_text(json.dumps(doc), encoding="utf-8")
    broken = {**doc, "scenarios": [{**scen, "completed": "4"}]}
    (results / "bench" / "bench-broken.json").write_text(json.dumps(broken), encoding="utf-8")


class _Cells(HTMLParser):
    """Text of every table cell, by table id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.table: str | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.table = dict(attrs).get("id") or ""
            self.tables[self.table] = []
        elif tag == "tr" and self.table is not None:
            self.tables[self.table].append([])
        elif tag in ("td", "th") and self.table is not None:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None and self.table is not None:
            self.tables[self.table][-1].append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "table":
            self.table = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    results = tmp_path_factory.mktemp("eff-results")
    _run(results, "Qwen-A", "2026-11-01", 400, H800, "vllm", 60.0)  # 400 tok / 2 s = 200 tok/s, 25 per device
    _run(results, "Qwen-A", "2026-11-02", 40, ASCEND, "hf", 60.0,  # 20 tok/s on one device
         cost={"currency": "CNY", "total": 0.002, "per_million_generated_tokens": 12.5})
    _run(results, "Yi-B", "2026-11-01", 100, {**H800, "count": 1, "parallel": {}}, "vllm", 40.0)  # 50 tok/s
    _bench(results)
    site = tmp_path_factory.mktemp("eff-site") / "site"
    info = build_site(results, site, with_samples=False)
    return site, info


def test_model_by_accelerator_matrix(built: tuple[Path, dict[str, Any]]) -> None:
    site, _ = built
    parser = _Cells()
    parser.feed((site / "efficiency.html").read_text(encoding="utf-8"))
    head, *rows = parser.tables["matrix-table"]
    assert head[2:] == ["Ascend 910B", "NVIDIA H800"]  # one column per accelerator, whatever the device count
    by_model = {r[0]: r for r in rows}
    a, b = by_model["Qwen-A"], by_model["Yi-B"]
    tok_s, per = "token/秒tok/s", "token/秒tok/s 每设备per device"  # both languages are in the page
    assert a[3].startswith(f"200.0 {tok_s}") and "8×" in a[3] and f"25.0 {per}" in a[3] and "★" in a[3]
    assert a[2].startswith(f"20.0 {tok_s}") and f"20.0 {per}" in a[2] and "12.5000 CNY/M tok" in a[2]
    assert "★" not in a[2]  # 20 per device is slower than the H800 cell's 25
    assert b[2] == "–" and b[3].startswith(f"50.0 {tok_s}") and "★" not in b[3]  # one cell: nothing to compare


def test_fronts_across_accelerators(built: tuple[Path, dict[str, Any]]) -> None:
    site, _ = built
    html = (site / "efficiency.html").read_text(encoding="utf-8")
    speed = html[html.index('data-front="speed"'):]
    front = re.search(r"Pareto frontier</span>:(.*?)</p>", speed, re.S)
    assert front is not None
    points = re.findall(r">([^<>]+ @ [^<>]+)</a> \(([\d.]+), (\d+) tok/s\)", front.group(1))
    # per device: Yi-B 50 (total 40), Qwen-A on H800 25 (total 60); Qwen-A on the 910B (20, 60) is dominated
    assert points == [("Qwen-A @ 8x NVIDIA H800", "60.0", "25"), ("Yi-B @ NVIDIA H800", "40.0", "50")]
    assert 'data-front="cost"' in html  # a cost chart: one run recorded a cost


def test_bench_beside_eval_throughput(built: tuple[Path, dict[str, Any]]) -> None:
    site, info = built
    parser = _Cells()
    parser.feed((site / "efficiency.html").read_text(encoding="utf-8"))
    head, *rows = parser.tables["bench-table"]
    (row,) = rows  # the broken file is left out
    cells = dict(zip(head, row))
    assert cells["场景Scenario"] == "concurrency=4" and cells["请求/秒req/s"] == "2.00"
    assert cells["输出 token/秒output tok/s"] == "20.0" and cells["每设备per device"] == "2.5"
    assert cells["TTFT p50 / p99"] == "125.0 / 198.5"  # 50, 100, 150, 200 ms
    assert cells["评测时生成 token/秒eval generated tok/s"] == "200.0"  # Qwen-A's eval on the same H800s
    assert any("bench-broken.json" in line and "scenarios.0.completed" in line for line in info["skipped"])


def test_page_in_the_browser(built: tuple[Path, dict[str, Any]]) -> None:
    """Opened in Debian's chromium: the sections show, no script error, both languages switch; screenshots kept."""
    import os

    from needs import require

    chromium = Path("/usr/bin/chromium")
    require(chromium.exists(), f"{chromium} not found: install Debian's chromium and fonts-wqy-zenhei (see .ci/run)")
    from playwright.sync_api import sync_playwright

    site, _ = built
    shots = Path(os.environ.get("HARNESS_TEST_OUTPUT", Path(__file__).resolve().parent.parent / "test-output")) / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"])
        pg = b.new_context(viewport={"width": 1280, "height": 900}).new_page()
        pg.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto((site / "efficiency.html").resolve().as_uri())
        assert pg.locator("#matrix-table tbody tr").count() == 2 and pg.locator("#bench-table tbody tr").count() == 1
        assert pg.locator("#fronts svg").count() == 2 and pg.locator("#matrix-table .fastest").count() == 1
        assert "每设备" in pg.locator("#matrix-table").inner_text()
        pg.screenshot(path=str(shots / "efficiency-accelerators-zh.png"), full_page=True)
        pg.click("#lang-switch")
        assert "per device" in pg.locator("#matrix-table").inner_text()
        pg.screenshot(path=str(shots / "efficiency-accelerators-en.png"), full_page=True)
        b.close()
    assert errors == []
