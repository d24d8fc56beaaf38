"""The static site build (harness.leaderboard.site and `harness leaderboard build`), fast, from results files and
per-sample JSONL written by the test in the layout `harness eval` uses (results/<model>/<run>.json with
<run>.samples.jsonl beside it).

What must hold: every page and data file exists and every relative link or script on every page resolves (the
site is opened from file://, where a broken link is silent); text from results files (model names, outputs,
templates) reaches pages only escaped and sample files only inside JSON strings; results from older harness
versions (no description, no template) still build; the number formatting is right by hand; user mistakes
(empty results folder, an -o that is not a site) end in a one-line error and never delete anything.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.errors import HarnessError
from harness.leaderboard.collect import slug
from harness.leaderboard.site import build_site, fmt_bytes, fmt_num, fmt_params, size_bucket

XSS_MODEL = "<script>alert(1)</script>"
XSS_OUTPUT = "<script>x()</script>"
TEMPLATE = "问题：{{ question }}\n<b>答案：</b>"


def task_block(score: float, mode: str, legacy: bool = False) -> dict[str, Any]:
    block = {"version": 1, "category": "knowledge" if mode == "likelihood" else "reasoning", "mode": mode,
             "score": score, "score_stderr": 1.0, "n_samples": 3, "num_fewshot": 0, "primary_metric": "acc",
             "template_hash": "th1", "prompt_hash": "ph1", "data": {"files": {"val.csv": "abc123"}},
             "throughput": {"generated_tokens": 40 if mode == "generate" else 0, "seconds": 2.0}}
    if not legacy:
        block.update(description="测试任务 <i>desc</i>", source="https://example.org", license="MIT", template=TEMPLATE)
    return block


def write_run(results: Path, model: str, when: str, tasks: dict[str, dict[str, Any]],
              samples: list[dict[str, Any]] | None, params: int | None = None, legacy: bool = False) -> Path:
    run_id = f"{when.replace('-', '')}T000000Z-abcdef"
    folder = results / slug(model)
    folder.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {
        "schema_version": 1, "run_id": run_id, "finished_at": f"{when}T00:00:00+00:00",
        "model": {"name": model, "source": f"/models/{model}", "family": "qwen2", "type": "chat", "dtype": "bfloat16",
                  "backend": "hf", "engine": {"engine": "transformers", "engine_version": "4.0", "torch_version": "2.5"},
                  "num_parameters": params, "chat_template_applied": True, "chat_template_hash": "ct1"},
        "harness": {"version": "0.1", "git_commit": "deadbeef"},
        "command": ["harness", "eval", "--model", model],
        "config": {"limit": 3},
        "tasks": tasks,
        "throughput": {"accelerator": {"kind": "cuda", "name": "H100", "count": 1}, "batch_size": 8,
                       "prompt_tokens_per_s": 900.0, "samples_per_s": 2.0, "peak_memory_bytes": 3 * 2**30,
                       "peak_memory_kind": "accelerator_allocated", "samples": 6},
    }
    if not legacy:
        data["suite"] = {"name": "t", "version": "1", "categories": {
            "knowledge": {"zh": "知识", "en": "Knowledge", "weight": 1.0,
                          "tasks": {t: b["score"] for t, b in tasks.items() if b["category"] == "knowledge"}},
            "reasoning": {"zh": "推理", "en": "Reasoning", "weight": 1.0,
                          "tasks": {t: b["score"] for t, b in tasks.items() if b["category"] == "reasoning"}}}}
    if samples is not None:
        data["samples_file"] = f"{run_id}.samples.jsonl"
        (folder / data["samples_file"]).write_text(
            "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples), encoding="utf-8")
    (folder / f"{run_id}.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return folder


def sample(task: str, i: int, ok: bool, output: str | None = None) -> dict[str, Any]:
    base = {"task": task, "sample_id": f"{task}-{i}", "prompt": f"问题 {i}", "target": "A",
            "prediction": "A" if ok else "B", "correct": ok, "metrics": {"acc": float(ok)}}
    if output is None:
        return {**base, "mode": "likelihood", "logprobs": {"A": -0.1, "B": -2.0}}
    return {**base, "mode": "generate", "output": output, "finish_reason": "stop"}


def suite_samples(wrong_output: str = "答案：B") -> list[dict[str, Any]]:
    return ([sample("ceval", i, i != 2) for i in range(3)]
            + [sample("cmath", 0, False, wrong_output)] + [sample("cmath", i, True, "答案：A") for i in (1, 2)])


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    write_run(root, "Qwen2.5-7B", "2026-01-01", {"ceval": task_block(80, "likelihood"), "cmath": task_block(60, "generate")},
              suite_samples(), params=7_615_616_512)
    write_run(root, XSS_MODEL, "2026-01-02", {"ceval": task_block(50, "likelihood"), "cmath": task_block(40, "generate")},
              suite_samples(XSS_OUTPUT), params=227_520)
    write_run(root, "old-model", "2026-01-03", {"legacy_task": task_block(30, "likelihood", legacy=True)}, None,
              legacy=True)
    return root


@pytest.fixture
def site(results: Path, tmp_path: Path) -> Path:
    out = tmp_path / "site"
    info = build_site(results, out)
    assert (info["models"], info["tasks"], info["runs"]) == (3, 3, 3)
    return out


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.sample_dirs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("href", "src") and v is not None]
        if tag == "option" and "data-key" in a and a.get("value"):
            self.sample_dirs.append(a["value"] or "")


def parse(page: Path) -> Links:
    p = Links()
    p.feed(page.read_text(encoding="utf-8"))
    return p


def broken_links(out: Path) -> list[str]:
    broken = []
    for page in out.rglob("*.html"):
        links = parse(page)
        for url in links.urls:
            if url.startswith(("#", "http://", "https://")):
                continue
            target = (page.parent / url.split("#")[0].split("?")[0]).resolve()
            if not target.is_file() or out.resolve() not in target.parents:
                broken.append(f"{page.relative_to(out)} -> {url}")
        for d in links.sample_dirs:  # the sample browser loads <root>/<dir>/manifest.js
            if not (out / d / "manifest.js").is_file():
                broken.append(f"{page.relative_to(out)} -> samples {d}")
    return broken


def test_every_page_and_data_file_exists(site: Path) -> None:
    expected = ["index.html", "efficiency.html", "tasks.html", "assets/site.css", "assets/site.js",
                "data/ranking.csv", "data/ranking.json"]
    expected += [f"models/{slug(m)}.html" for m in ("Qwen2.5-7B", XSS_MODEL, "old-model")]
    expected += [f"tasks/{t}.html" for t in ("ceval", "cmath", "legacy_task")]
    assert [p for p in expected if not (site / p).is_file()] == []
    assert len(json.loads((site / "data/ranking.json").read_text(encoding="utf-8"))["rows"]) == 3


def test_every_relative_link_resolves(site: Path) -> None:
    assert broken_links(site) == []
    # the pages do link what they should: a model page, the task pages, the sample sets of both suite models
    assert f"models/{slug(XSS_MODEL)}.html" in parse(site / "index.html").urls
    assert len(parse(site / "tasks/cmath.html").sample_dirs) == 2


def test_untrusted_text_is_escaped_in_pages_and_json_only_in_samples(site: Path) -> None:
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert XSS_MODEL not in text and XSS_OUTPUT not in text and "<b>答案" not in text and "<i>desc" not in text, page
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for page in ("index.html", "efficiency.html", f"models/{slug(XSS_MODEL)}.html", "tasks/cmath.html"):
        assert escaped in (site / page).read_text(encoding="utf-8"), page
    assert "&lt;b&gt;答案：&lt;/b&gt;" in (site / "tasks/ceval.html").read_text(encoding="utf-8")
    chunks = list((site / "data" / "samples").rglob("chunk-*.js"))
    assert len(chunks) == 4  # (ceval, cmath) x 2 models with samples
    found = []
    for chunk in chunks:
        raw = chunk.read_text(encoding="utf-8")
        assert "<" not in re.sub(r'"(?:[^"\\]|\\.)*"', '""', raw), chunk  # markup only inside JSON strings
        args = json.loads("[" + raw.removeprefix("HarnessSamples.add(").removesuffix(");\n") + "]")
        found += [s["output"] for s in args[2] if s.get("output") == XSS_OUTPUT]
    assert found == [XSS_OUTPUT]


def test_results_without_description_or_template_still_build(site: Path) -> None:
    text = (site / "tasks/legacy_task.html").read_text(encoding="utf-8")
    assert "The results files do not record the template." in text and "结果文件未记录模板。" in text
    assert "No samples" in text  # the legacy run has no samples_file


@pytest.mark.parametrize(("params", "shown", "bucket"), [
    (7_615_616_512, "7.62B", "4-15b"), (227_520, "228K", "lt1b"), (None, "?", "unknown"), (0, "?", "unknown"),
    (494_032_768, "494M", "lt1b"), (1_543_714_304, "1.54B", "1-4b"), (32_763_876_352, "32.8B", "15-40b"),
    (72_706_203_648, "72.7B", "gt40b"), (999, "999", "lt1b"),
])
def test_fmt_params_and_size_bucket(params: int | None, shown: str, bucket: str) -> None:
    assert (fmt_params(params), size_bucket(params)) == (shown, bucket)


@pytest.mark.parametrize("params", [999_600_000, 1_040_000_000_000])  # rounds up to 1000M; Kimi-K2's ~1T
def test_fmt_params_never_uses_exponent_notation(params: int) -> None:
    assert "e+" not in fmt_params(params)


def test_fmt_num_and_bytes() -> None:
    assert (fmt_num(None), fmt_num(1234.567), fmt_num(99.95, 0), fmt_num(0.5, 2)) == ("–", "1,234.6", "100", "0.50")
    assert (fmt_bytes(None), fmt_bytes(0), fmt_bytes(3 * 2**30), fmt_bytes(512 * 2**20)) == ("–", "–", "3.00 GiB", "512 MiB")


def test_empty_results_folder_is_a_one_line_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(HarnessError) as e:
        build_site(empty, tmp_path / "out")
    assert str(empty) in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()


def test_output_folder_that_is_not_a_site_is_left_untouched(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    (out / "sub").mkdir(parents=True)
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    (out / "sub" / "a.html").write_text("<p>mine</p>", encoding="utf-8")
    with pytest.raises(HarnessError, match="not a leaderboard site"):
        build_site(results, out)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == ["notes.txt", "sub", "sub/a.html"]
    assert (out / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_output_path_that_is_a_file_is_a_harness_error(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "site.html"
    out.write_text("keep me", encoding="utf-8")
    with pytest.raises(HarnessError):
        build_site(results, out)
    assert out.read_text(encoding="utf-8") == "keep me"


def test_rebuild_replaces_the_previous_site(results: Path, site: Path) -> None:
    (site / "models" / "gone.html").write_text("stale", encoding="utf-8")
    build_site(results, site)
    assert not (site / "models" / "gone.html").exists()
    assert (site / "index.html").is_file() and broken_links(site) == []


def test_without_samples_or_with_a_limit(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "no-samples"
    build_site(results, out, with_samples=False)
    assert not (out / "data" / "samples").exists() and (out / "data" / "ranking.csv").is_file()
    assert broken_links(out) == [] and "No samples" in (out / "tasks/ceval.html").read_text(encoding="utf-8")
    out = tmp_path / "limited"
    build_site(results, out, samples_limit=1)
    manifest = out / "data/samples/ceval/v1" / slug("Qwen2.5-7B") / "manifest.js"
    assert '"n": 1' in manifest.read_text(encoding="utf-8")


def test_task_named_index_does_not_replace_the_task_list(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_run(results, "m", "2026-01-01", {"ceval": task_block(80, "likelihood"), "index": task_block(70, "likelihood")},
              None)
    out = tmp_path / "site"
    build_site(results, out)
    assert "All tasks" in (out / "tasks.html").read_text(encoding="utf-8")
    assert broken_links(out) == []


def test_cli_build_errors_and_help(results: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["leaderboard", "build", str(results), "-o", str(tmp_path / "out")]) == 0
    assert "leaderboard: 3 models, 3 tasks, 3 results files" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["leaderboard", "build", str(empty), "-o", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and str(empty) in err and "Traceback" not in err
    for argv in (["leaderboard", "--help"], ["leaderboard", "build", "--help"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 0
        assert "usage:" in capsys.readouterr().out


def test_cells_say_what_a_run_did_not_do_as_asked(tmp_path: Path) -> None:
    """Items skipped as too long, given fewer shots or excluded by rule are shown beside the item count, in both
    languages, on the task's and the model's page (and a skipped item's sample line does not break the build)."""
    root = tmp_path / "results"
    block = task_block(70, "likelihood")
    block["context"] = {"limit": 256, "policy": "skip", "skipped": 3, "fewer_shots": 0, "budget_capped": 0,
                        "excluded": {"multi_answer_in_likelihood_mode": {"count": 2, "ids": ["a", "b"]}}}
    skipped = {**sample("ceval", 9, False), "prediction": None, "metrics": {}, "skipped": "prompt too long"}
    write_run(root, "short-context", "2026-01-01", {"ceval": block}, [sample("ceval", 0, True), skipped])
    out = tmp_path / "site"
    build_site(root, out)
    for page in (out / "tasks" / "ceval.html", out / "models" / f"{slug('short-context')}.html"):
        html = page.read_text(encoding="utf-8")
        assert "3 <span class=\"t\" lang=\"zh\">题超出上下文，已跳过</span>" in html
        assert "too long for the context, skipped" in html and "2 <span class=\"t\" lang=\"zh\">题按规则排除" in html
