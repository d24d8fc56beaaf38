"""Issue 17 item 6: a smoke run never hides a full one. Per (model, task, version) the leaderboard shows the run
covering the most items, then the latest of those, and says when a later, smaller run was passed over; throughput
still comes from the latest run that measured it, with that run's date."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.leaderboard.collect import build, load_results


def write(folder: Path, name: str, when: str, n: int, score: float, generated: int = 0, seconds: float = 0.0) -> None:
    tasks = {"ceval": {"version": 1, "score": score, "n_samples": n, "mode": "generate", "category": "knowledge",
                       "template_hash": "t", "cached_requests": 0,
                       "throughput": {"samples": n, "prompt_tokens": 100 * n, "generated_tokens": generated,
                                      "seconds": seconds}}}
    data: dict[str, Any] = {"schema_version": 2, "finished_at": when,
                            "model": {"name": "m-7b", "backend": "hf", "dtype": "bfloat16", "engine": {"engine": "transformers"}},
                            "throughput": {"accelerator": {"kind": "cpu", "name": "Xeon", "count": 1}, "samples": n,
                                           "seconds": seconds + 1, "generated_tokens": generated, "measured": True},
                            "tasks": tasks}
    (folder / "m-7b").mkdir(parents=True, exist_ok=True)
    (folder / "m-7b" / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")


def test_a_later_smoke_run_does_not_hide_a_fuller_one(tmp_path: Path) -> None:
    """The case from the issue: a 20-item C-Eval score of 15.0, then a 5-item run's 0.0. Before, the later run won."""
    write(tmp_path, "full", "2026-01-01T00:00:00", 20, 15.0, generated=2000, seconds=10.0)
    write(tmp_path, "smoke", "2026-02-01T00:00:00", 5, 0.0, generated=1000, seconds=2.0)
    (row,) = build(load_results(tmp_path)).rows
    s = row.scores["ceval@v1"]
    assert (s.score, s.n, s.run_file) == (15.0, 20, "m-7b/full.json")
    assert s.passed_over == ((5, "2026-02-01T00:00:00", "m-7b/smoke.json"),)
    assert row.total == 15.0
    # throughput is another matter: the latest run that measured it (the smoke run), with its date
    (tp,) = row.throughput.values()
    assert (tp.run_file, tp.finished_at, tp.generated_tokens_per_s) == ("m-7b/smoke.json", "2026-02-01T00:00:00", 500.0)

    # a later run as full as the first replaces it (the latest of the fullest); the earlier smoke run is not "later"
    write(tmp_path, "full2", "2026-03-01T00:00:00", 20, 30.0)
    s = build(load_results(tmp_path)).rows[0].scores["ceval@v1"]
    assert (s.score, s.run_file, s.passed_over) == (30.0, "m-7b/full2.json", ())
    # and a fuller run wins whenever it ran
    write(tmp_path, "fuller", "2025-12-01T00:00:00", 40, 20.0)
    s = build(load_results(tmp_path)).rows[0].scores["ceval@v1"]
    assert (s.score, s.n) == (20.0, 40)
    assert [x[2] for x in s.passed_over] == ["m-7b/full.json", "m-7b/smoke.json", "m-7b/full2.json"]


def test_the_site_says_which_run_is_shown(tmp_path: Path) -> None:
    from harness.leaderboard.site import build_site

    results = tmp_path / "results"
    write(results, "full", "2026-01-01T00:00:00", 20, 15.0, generated=2000, seconds=10.0)
    write(results, "smoke", "2026-02-01T00:00:00", 5, 0.0, generated=1000, seconds=2.0)
    build_site(results, tmp_path / "site", with_samples=False)
    for page in (next((tmp_path / "site" / "models").glob("*.html")), tmp_path / "site" / "tasks" / "ceval.html"):
        html = page.read_text(encoding="utf-8")
        assert "the run with the most items; later runs with fewer items not shown:" in html
        assert "5 <span class=\"t\" lang=\"zh\">题</span><span class=\"t\" lang=\"en\">items</span> (2026-02-01 00:00)" in html


def test_one_definition_of_generated_tokens_per_second() -> None:
    """The site's help and the summary line name the same figure: generate-mode tokens over their own time."""
    from harness.leaderboard.i18n import STRINGS
    from harness.results.summary import throughput_line
    from harness.results.throughput import run_figures

    tasks = {"ceval": {"mode": "likelihood", "throughput": {"samples": 40, "prompt_tokens": 4000, "generated_tokens": 0,
                                                           "seconds": 8.0}},
             "cmath": {"mode": "generate", "throughput": {"samples": 10, "prompt_tokens": 500, "generated_tokens": 2000,
                                                         "seconds": 2.0}}}
    tp = {"accelerator": {"kind": "cpu", "name": "Xeon", "count": 1}, "seconds": 20.0, **run_figures(tasks, 20.0, 1, None)}
    line = throughput_line(tp)
    assert "generated 1000.0 tok/s over 2.0s of generation" in line and "wall: generated 100.0 tok/s" in line
    help_en = STRINGS["throughput_help"][1]
    assert "generate-mode tasks" in help_en and "generated … tok/s over …s of generation" in help_en
    assert "latest run on this accelerator and backend that measured throughput" in help_en
