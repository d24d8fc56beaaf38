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
              samples: list[dict[str, Any]] | None, params: int | None = None, legacy: bool = False,
              thinking: Any = None) -> Path:
    run_id = f"{when.replace('-', '')}T000000Z-abcdef"
    folder = results / slug(model)
    folder.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {
        "schema_version": 1, "run_id": run_id, "finished_at": f"{when}T00:00:00+00:00",
        "model": {"name": model, "source": f"/models/{model}", "family": "qwen2", "type": "chat", "dtype": "bfloat16",
                  "backend": "hf", "engine": {"engine": "transformers", "engine_version": "4.0", "torch_version": "2.5"},
                  "num_parameters": params, "chat_template_applied": True, "chat_template_hash": "ct1",
                  **({"thinking": thinking} if thinking is not None else {})},
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
    block["data"] = {**block.get("data", {}), "excluded_rows": 4}  # the task file's dataset.exclude
    skipped = {**sample("ceval", 9, False), "prediction": None, "metrics": {}, "skipped": "prompt too long"}
    write_run(root, "short-context", "2026-01-01", {"ceval": block}, [sample("ceval", 0, True), skipped])
    out = tmp_path / "site"
    build_site(root, out)
    for page in (out / "tasks" / "ceval.html", out / "models" / f"{slug('short-context')}.html"):
        html = page.read_text(encoding="utf-8")
        assert "3 <span class=\"t\" lang=\"zh\">题超出上下文，已跳过</span>" in html
        assert "too long for the context, skipped" in html and "2 <span class=\"t\" lang=\"zh\">题按规则排除" in html
        assert "4 <span class=\"t\" lang=\"zh\">行由任务文件排除" in html and "rows left out by the task file" in html


# ---------- thinking (reasoning) runs: their own entries, what their answers cost, reasoning in the samples ----------

QWEN3 = "Qwen3-8B"
XSS_REASONING = '<img src=x onerror="alert(1)">先想一想</think>'
PLAN_ON = {"enabled": True, "mode": "hybrid", "source": "chat_template", "tags": ["<think>", "</think>"],
           "prefilled": False, "template_kwargs": {"enable_thinking": True}, "switch": None}
PLAN_OFF = {**PLAN_ON, "enabled": False, "template_kwargs": {"enable_thinking": False}}
DECODING_ON = {"max_new_tokens": 32768, "temperature": 0.6, "top_p": 0.95, "top_k": 20, "samples": 2, "stop": [],
               "answer_stop": ["\n\n问题："]}


def thinking_block(score: float, mode: str, generations: int, generated: int, tokens_per_correct: float | None,
                   reasoning: int, unfinished: int, decoding: dict[str, Any] | None = None) -> dict[str, Any]:
    block = task_block(score, mode)
    if mode == "generate":
        block["thinking"] = {"generations": generations, "unfinished_reasoning": unfinished,
                             "with_reasoning": generations if reasoning else 0, "generated_tokens": generated,
                             "seconds": 10.0, "seconds_per_item": 10.0 / generations,
                             "generated_tokens_per_s": generated / 10.0, "tokens_per_correct": tokens_per_correct,
                             "reasoning_tokens": {"total": reasoning, "mean": reasoning / generations, "p90": 900, "max": 1000},
                             "answer_tokens": {"total": generated - reasoning, "mean": (generated - reasoning) / generations,
                                               "p90": 60, "max": 80},
                             "reasoning_share": reasoning / generated}
        block["decoding"] = decoding or {"max_new_tokens": 512, "temperature": 0.0, "top_p": 1.0, "top_k": 0,
                                         "samples": 1, "stop": ["\n\n问题："], "answer_stop": []}
    return block


def thinking_samples() -> list[dict[str, Any]]:
    rows = [sample("cmath", 0, True, "答案：A"), sample("cmath", 1, False, ""), sample("ceval", 0, True, "A")]
    rows[0].update(reasoning=XSS_REASONING, reasoning_finished=True)
    rows[1].update(reasoning="想了很久，预算用完了", reasoning_finished=False, finish_reason="length")
    rows[2].update(reasoning="选 A", reasoning_finished=True, reasoning_finished_each=[True, False])
    return rows


@pytest.fixture
def thinking_results(tmp_path: Path) -> Path:
    return write_thinking_results(tmp_path / "results")


def write_thinking_results(root: Path) -> Path:
    """Qwen3-8B without thinking (ceval by likelihood, cmath generated) and with thinking (both generated, 2 samples
    per item), plus a model from before thinking was recorded. By hand:
    thinking:     knowledge 90, reasoning 50 -> total 70; ceval 3000 tokens / (3000 / 600 = 5 right), cmath 6000 tokens /
                  (6000 / 2000 = 3 right) -> 9000 / 8 = 1125 tokens per correct answer; reasoning (2700 + 5400) / 12
                  generations = 675 per generation; unfinished 1 + 2 = 3
    no thinking:  knowledge 70, reasoning 50 -> total 60; cmath 200 tokens / (200 / 100 = 2 right) = 100; reasoning 0"""
    write_run(root, QWEN3, "2026-02-01", {"ceval": thinking_block(70, "likelihood", 0, 0, None, 0, 0),
                                          "cmath": thinking_block(50, "generate", 4, 200, 100.0, 0, 0)},
              suite_samples(), params=8_190_735_360, thinking=PLAN_OFF)
    on = {"ceval": thinking_block(90, "generate", 6, 3000, 600.0, 2700, 1, DECODING_ON),
          "cmath": thinking_block(50, "generate", 6, 6000, 2000.0, 5400, 2, DECODING_ON)}
    on["ceval"]["category"] = "knowledge"  # generated here, still a knowledge task
    on["ceval"]["metrics"] = {"accuracy": 90, "across_samples": {"samples": 2, "per_sample": [88.0, 92.0], "mean": 90.0,
                                                                  "stderr": 2.0, "pass@2": 95.0}}
    write_run(root, QWEN3, "2026-02-02", on, thinking_samples(), params=8_190_735_360, thinking=PLAN_ON)
    write_run(root, "Qwen2.5-7B", "2026-01-01", {"ceval": task_block(70, "likelihood"), "cmath": task_block(30, "generate")},
              suite_samples(), params=7_615_616_512)  # total 50
    return root


@pytest.fixture
def thinking_site(thinking_results: Path, tmp_path: Path) -> Path:
    out = tmp_path / "site"
    info = build_site(thinking_results, out)
    assert (info["models"], info["runs"]) == (3, 3)
    return out


def ranking_rows(page: Path) -> list[str]:
    return re.findall(r"<tr data-model=.*?</tr>", page.read_text(encoding="utf-8"), re.DOTALL)


def test_thinking_and_plain_runs_of_one_model_are_two_entries(thinking_site: Path) -> None:
    data = json.loads((thinking_site / "data/ranking.json").read_text(encoding="utf-8"))
    got = [(r["model"], r["thinking"], r["rank"], r["total"], r["slug"]) for r in data["rows"]]
    assert got == [(QWEN3, True, 1, 70.0, slug(QWEN3) + "--thinking"), (QWEN3, False, 2, 60.0, slug(QWEN3)),
                   ("Qwen2.5-7B", False, 3, 50.0, slug("Qwen2.5-7B"))]
    by = {(r["model"], r["thinking"]): r for r in data["rows"]}
    # never mixed: each entry has its own run's scores (the thinking run's ceval is generated, 90; the other's 70)
    assert by[(QWEN3, True)]["tasks"]["ceval@v1"]["score"] == 90 and by[(QWEN3, True)]["tasks"]["ceval@v1"]["mode"] == "generate"
    assert by[(QWEN3, False)]["tasks"]["ceval@v1"]["score"] == 70 and by[(QWEN3, False)]["tasks"]["ceval@v1"]["mode"] == "likelihood"
    assert by[("Qwen2.5-7B", False)]["thinking_plan"] is None  # older results: no thinking, as before
    for rel in (f"models/{slug(QWEN3)}.html", f"models/{slug(QWEN3)}--thinking.html", f"models/{slug('Qwen2.5-7B')}.html"):
        assert (thinking_site / rel).is_file(), rel
    assert broken_links(thinking_site) == []
    rows = ranking_rows(thinking_site / "index.html")
    assert len(rows) == 3
    badged = [r for r in rows if 'class="badge thinking"' in r]
    assert len(badged) == 1 and f'href="models/{slug(QWEN3)}--thinking.html"' in badged[0]
    assert 'data-thinking="on"' in badged[0] and '>思考</span>' in badged[0] and '>thinking</span>' in badged[0]
    index = (thinking_site / "index.html").read_text(encoding="utf-8")
    assert 'id="f-thinking"' in index  # the filter, with both options in both languages
    assert 'value="on" data-zh="开启思考" data-en="thinking on"' in index
    csv_lines = (thinking_site / "data/ranking.csv").read_text(encoding="utf-8").splitlines()
    assert csv_lines[0].startswith("rank,tied_with_previous,model,thinking,")
    assert csv_lines[1].startswith("1,False,Qwen3-8B,True,") and csv_lines[2].startswith("2,False,Qwen3-8B,False,")


def test_tokens_per_correct_table_by_hand(thinking_site: Path) -> None:
    data = json.loads((thinking_site / "data/ranking.json").read_text(encoding="utf-8"))
    by = {(r["model"], r["thinking"]): r for r in data["rows"]}
    on, off = by[(QWEN3, True)]["cost"], by[(QWEN3, False)]["cost"]
    assert (on["generated_tokens"], on["correct"], on["tokens_per_correct"]) == (9000, 8, 1125.0)
    assert (on["reasoning_per_generation"], on["unfinished"], on["generations"]) == (675.0, 3, 12)
    assert (off["generated_tokens"], off["correct"], off["tokens_per_correct"]) == (200, 2, 100.0)
    assert (off["reasoning_per_generation"], off["unfinished"], off["columns"]) == (0.0, 0, ["cmath@v1"])
    assert by[("Qwen2.5-7B", False)]["cost"] is None  # no thinking statistics recorded
    html = (thinking_site / "efficiency.html").read_text(encoding="utf-8")
    table = html[html.index('id="tpc-table"'):]
    cells = {m.group(1): m.group(2) for m in re.finditer(r'<tr data-slug="([^"]+)">(.*?)</tr>', table, re.DOTALL)}
    assert list(cells) == [slug(QWEN3), slug(QWEN3) + "--thinking"]  # cheapest first
    assert '<td class="num tpc-value">100.0</td>' in cells[slug(QWEN3)]
    thinking_row = cells[slug(QWEN3) + "--thinking"]
    assert '<td class="num tpc-value">1,125.0</td>' in thinking_row and "675.0" in thinking_row
    assert '<td class="num warn">3</td>' in thinking_row and "9,000" in thinking_row and "8.00" in thinking_row
    # the chart: score against tokens per correct answer, both entries on the frontier (cheaper vs better)
    svg = html[html.index('id="tokens-per-correct"'):]
    svg = svg[svg.index("<svg"):svg.index("</svg>") + 6]
    assert svg.count("<circle") == 2 and svg.count('class="point frontier"') == 2
    assert "Qwen3-8B (思考/thinking): 70.0 (1125.0 tokens/correct)" in svg
    assert "tokens per correct answer" in html and "每答对一题的生成 token" in html  # the definition, both languages
    assert "generations × score / 100" in html and "生成次数 × 得分 / 100" in html


def test_model_page_says_mode_plan_and_decoding(thinking_site: Path) -> None:
    page = (thinking_site / f"models/{slug(QWEN3)}--thinking.html").read_text(encoding="utf-8")
    assert '<h1 class="model-name">Qwen3-8B <span class="badge thinking"' in page
    assert "thinking on: the model reasons first" in page and "开启思考" in page
    assert "on or off (hybrid)" in page and "<code>&lt;think&gt;</code>" in page
    assert "<code>{&#34;enable_thinking&#34;: true}</code>" in page
    decoding = page[page.index('class="data decoding"'):page.index("</table>", page.index('class="data decoding"'))]
    assert decoding.count("<tr>") == 3  # the head and the two generated tasks
    for cell in ('<td class="num">32768</td>', '<td class="num">0.60</td>', '<td class="num">0.95</td>',
                 '<td class="num">20</td>', '<td class="num">2</td>', '<code class="stop">&#34;\\n\\n问题：&#34;</code>'):
        assert cell in decoding, cell
    cost = page[page.index('class="data cost"'):]
    assert "avg@2 90.0 <small>±2.0</small><br>pass@2 95.0" in cost and '<td class="num">600.0</td>' in cost
    assert '<td class="num">450.0 / 900</td>' in cost  # ceval reasoning tokens: 2700 / 6 generations, p90
    plain = (thinking_site / f"models/{slug(QWEN3)}.html").read_text(encoding="utf-8")
    assert 'class="badge thinking"' not in plain.split("<main>")[1].split("</h1>")[0]
    assert "<code>{&#34;enable_thinking&#34;: false}</code>" in plain
    old = (thinking_site / f"models/{slug('Qwen2.5-7B')}.html").read_text(encoding="utf-8")
    assert "The results files do not record thinking (an older harness): taken as off." in old


def test_reasoning_is_apart_escaped_and_marked_unfinished_in_sample_files(thinking_site: Path) -> None:
    for page in thinking_site.rglob("*.html"):
        assert "<img src=x" not in page.read_text(encoding="utf-8"), page
    folder = thinking_site / "data/samples/cmath/v1" / (slug(QWEN3) + "--thinking")
    raw = (folder / "chunk-0.js").read_text(encoding="utf-8")
    assert "<" not in re.sub(r'"(?:[^"\\]|\\.)*"', '""', raw)  # the markup only inside JSON strings
    items = json.loads("[" + raw.removeprefix("HarnessSamples.add(").removesuffix(");\n") + "]")[2]
    assert [(s["reasoning"], s.get("unfinished"), s["output"]) for s in items] == [
        (XSS_REASONING, None, "答案：A"), ("想了很久，预算用完了", True, "")]
    ceval = json.loads("[" + (thinking_site / "data/samples/ceval/v1" / (slug(QWEN3) + "--thinking") / "chunk-0.js")
                       .read_text(encoding="utf-8").removeprefix("HarnessSamples.add(").removesuffix(");\n") + "]")[2]
    assert ceval[0]["unfinished_each"] == [1, 2]
    plain = (thinking_site / "data/samples/cmath/v1" / slug(QWEN3) / "chunk-0.js").read_text(encoding="utf-8")
    assert '"reasoning"' not in plain  # the run without thinking has none
    task = (thinking_site / "tasks/cmath.html").read_text(encoding="utf-8")
    assert f'data-slug="{slug(QWEN3)}--thinking"' in task and 'data-en="Qwen3-8B (thinking) · v1 (1/2)"' in task
    strings = json.loads(re.search(r'id="script-strings">(.*?)</script>', task).group(1))
    assert strings["reasoning"] == ["思考过程", "Reasoning"] and strings["unfinished"] == ["思考未完成", "Unfinished reasoning"]


NAN = float("nan")
GARBAGE = [  # what is wrong in the results (or samples) file, and the line that says so (None: the file is read)
    ({"model_thinking": "yes"}, 'model.thinking: should be an object (got "yes")'),
    ({"model_thinking": {"enabled": "true", "mode": 5, "tags": "x", "template_kwargs": []}},
     'model.thinking.enabled: should be true or false (got "true"); 3 more fields wrong'),
    ({"task_thinking": "lots"}, 'tasks.cmath.thinking: should be an object (got "lots")'),
    ({"task_thinking": {"generations": NAN, "generated_tokens": "many", "tokens_per_correct": float("inf"),
                        "reasoning_tokens": "x", "reasoning_share": 7, "unfinished_reasoning": -1}},
     "tasks.cmath.thinking.generations: should be a whole number (got nan); 4 more fields wrong"),
    ({"task_thinking": {"generations": 4, "generated_tokens": 100, "tokens_per_correct": 0}}, None),  # odd, well typed
    ({"decoding": "greedy"}, 'tasks.cmath.decoding: should be an object (got "greedy")'),
    ({"decoding": {"temperature": NAN, "stop": "x", "top_k": 1.5}},
     "tasks.cmath.decoding.temperature: should be a finite number (got nan); 2 more fields wrong"),
    ({"across": "x"}, 'tasks.cmath.metrics.across_samples: should be an object (got "x")'),
    ({"across": {"samples": 2, "mean": NAN}}, "tasks.cmath.metrics.across_samples.mean: should be a finite number (got nan)"),
    ({"score": NAN}, "tasks.cmath.score: should be a finite number (got nan); 1 more field wrong"),  # and the suite's copy
    ({"samples": {"reasoning": 5, "reasoning_finished": "no", "reasoning_finished_each": "x", "metrics": {"acc": NAN}}},
     None),  # the results file is read; the bad sample line is left out (below)
]


@pytest.mark.parametrize(("garbage", "why"), GARBAGE)
def test_garbage_in_thinking_fields_is_skipped_with_one_line(tmp_path: Path, garbage: dict[str, Any],
                                                             why: str | None) -> None:
    """A results file with a wrong type anywhere (here: the thinking-era fields) is left out of the board with one
    line naming it and the field, and the other models' pages still build; well-typed odd values are read
    defensively, and a bad samples line is left out on its own."""
    root = tmp_path / "results"
    block = thinking_block(50, "generate", 4, 200, 100.0, 100, 1)
    if "task_thinking" in garbage:
        block["thinking"] = garbage["task_thinking"]
    if "decoding" in garbage:
        block["decoding"] = garbage["decoding"]
    if "across" in garbage:
        block["metrics"] = {"acc": 50, "across_samples": garbage["across"]}
    if "score" in garbage:
        block["score"] = garbage["score"]
    rows = [sample("cmath", 0, True, "答案：A"), {**sample("cmath", 1, False, "B"), **garbage.get("samples", {})}]
    write_run(root, "m", "2026-01-01", {"cmath": block, "ceval": task_block(40, "likelihood")}, rows,
              thinking=garbage.get("model_thinking", PLAN_ON))
    write_run(root, "other", "2026-01-02", {"ceval": task_block(30, "likelihood")}, None)
    out = tmp_path / "site"
    info = build_site(root, out)
    assert broken_links(out) == []
    data = json.loads((out / "data/ranking.json").read_text(encoding="utf-8"),
                      parse_constant=lambda c: pytest.fail(f"{c} in ranking.json"))
    if why is not None:
        assert info["skipped"] == [f"skipped m/20260101T000000Z-abcdef.json: {why}"]
        assert [r["model"] for r in data["rows"]] == ["other"]
        return
    row = next(r for r in data["rows"] if r["model"] == "m")
    assert row["thinking"] is True and "cmath@v1" in row["tasks"]
    if "samples" in garbage:
        assert info["skipped"] == ["skipped 1 of 2 lines of m/20260101T000000Z-abcdef.samples.jsonl: line 2: "
                                   "reasoning: should be a string (got 5); 2 more fields wrong"]
    else:
        assert info["skipped"] == []
    if garbage.get("task_thinking", {}) == {"generations": 4, "generated_tokens": 100, "tokens_per_correct": 0}:
        assert row["cost"]["correct"] == 2.0 and row["cost"]["estimated"]  # 4 x 50 / 100: read from the score
    for page in ("index.html", "efficiency.html", f"models/{row['slug']}.html", "tasks/cmath.html"):
        assert (out / page).is_file()
