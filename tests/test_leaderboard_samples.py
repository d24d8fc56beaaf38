"""Per-sample JSONL -> the sample browser's files (harness.leaderboard.samples).

The JSONL is appended live by `harness eval`, so a crash can leave a cut-off last line: reading must skip it
rather than fail the whole site build. The browser loads samples as `<script src>` files (pages work from
file://), so each file must be exactly one call whose arguments are JSON: model text stays data, and U+2028/9
(line terminators to older JavaScript engines) are escaped. The manifest's right/wrong string lets the browser
filter without loading chunks, so it must match the records' flags item for item.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from harness.leaderboard import samples
from harness.leaderboard.samples import read_samples_by_task, write_sample_files

CALL = re.compile(r"\AHarnessSamples\.(add|manifest)\((.*)\);\n\Z", re.DOTALL)


def call_args(path: Path) -> tuple[str, list[Any]]:
    """The function a samples .js file calls and its arguments, parsed as JSON (fails unless that is all it is)."""
    m = CALL.match(path.read_text(encoding="utf-8"))
    assert m, path.read_text(encoding="utf-8")[:200]
    return m.group(1), json.loads(f"[{m.group(2)}]")


def rec(i: int, ok: bool, task: str = "ceval", **extra: Any) -> dict[str, Any]:
    return {"task": task, "sample_id": i, "mode": "likelihood", "prompt": f"问题 {i}", "target": "A",
            "prediction": "A" if ok else "B", "correct": ok, "metrics": {"acc": float(ok)},
            "logprobs": {"A": -0.5, "B": -1.5}, **extra}


def test_read_groups_by_task_and_skips_bad_lines(tmp_path: Path) -> None:
    a0, b1, a2 = rec(0, True), rec(1, False, task="cmmlu"), rec(2, True)
    lines = [json.dumps(a0, ensure_ascii=False), json.dumps(b1), "", "[1, 2]", '"text"', '{"no_task": 1}',
             '{"task": 5}', json.dumps(a2), '{"task": "ceval", "sample_id": 9, "pro']  # last line cut off
    path = tmp_path / "run.samples.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    assert read_samples_by_task(path) == {"ceval": [a0, a2], "cmmlu": [b1]}
    assert read_samples_by_task(tmp_path / "missing.samples.jsonl") == {}


def test_read_skips_a_last_line_cut_inside_a_chinese_character(tmp_path: Path) -> None:
    # a crash can cut the file at any byte, e.g. between the 3 bytes of one CJK character
    first = json.dumps(rec(0, True), ensure_ascii=False).encode("utf-8") + b"\n"
    cut = json.dumps(rec(1, True, prompt="中文问题"), ensure_ascii=False).encode("utf-8")
    path = tmp_path / "run.samples.jsonl"
    path.write_bytes(first + cut[:cut.index("中".encode()) + 1])
    assert read_samples_by_task(path) == {"ceval": [rec(0, True)]}


def test_chunks_manifest_and_jsonl(tmp_path: Path) -> None:
    assert samples.CHUNK == 200
    records = [rec(i, i % 3 == 0) for i in range(450)]
    ok = "".join("1" if i % 3 == 0 else "0" for i in range(450))
    folder = tmp_path / "ceval"
    manifest = write_sample_files(records, folder, "ceval|1|m")
    assert sorted(p.name for p in folder.iterdir()) == ["chunk-0.js", "chunk-1.js", "chunk-2.js", "manifest.js",
                                                        "samples.jsonl"]
    assert manifest == {"key": "ceval|1|m", "n": 450, "chunk": 200, "chunks": 3, "ok": ok}
    assert call_args(folder / "manifest.js") == ("manifest", ["ceval|1|m", manifest])
    sizes = []
    for i in range(3):
        fn, (key, index, items) = call_args(folder / f"chunk-{i}.js")
        assert (fn, key, index) == ("add", "ceval|1|m", i)
        assert [x["id"] for x in items] == [str(n) for n in range(200 * i, 200 * i + len(items))]
        assert "".join("1" if x["ok"] else "0" for x in items) == ok[200 * i:200 * i + len(items)]
        sizes.append(len(items))
    assert sizes == [200, 200, 50]
    lines = (folder / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x) for x in lines] == records  # the download is the full records, not the compact form


def test_limit_truncates_everything(tmp_path: Path) -> None:
    manifest = write_sample_files([rec(i, i == 1) for i in range(450)], tmp_path, "k", limit=5)
    assert (manifest["n"], manifest["chunks"], manifest["ok"]) == (5, 1, "01000")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunk-0.js", "manifest.js", "samples.jsonl"]
    assert len(call_args(tmp_path / "chunk-0.js")[1][2]) == 5
    assert len((tmp_path / "samples.jsonl").read_text(encoding="utf-8").splitlines()) == 5


def test_line_separators_and_markup_stay_inside_json_strings(tmp_path: Path) -> None:
    prompt = "第一行\u2028第二行\u2029</script><script>x()</script>"
    write_sample_files([rec(0, True, prompt=prompt)], tmp_path, "k\u2028")
    for name in ("chunk-0.js", "manifest.js"):
        raw = (tmp_path / name).read_text(encoding="utf-8")
        assert "\u2028" not in raw and "\u2029" not in raw
    raw = (tmp_path / "chunk-0.js").read_text(encoding="utf-8")
    assert "\\u2028" in raw and "\\u2029" in raw
    outside = re.sub(r'"(?:[^"\\]|\\.)*"', '""', raw)  # the file with every JSON string emptied
    assert "<" not in outside and "script" not in outside
    assert call_args(tmp_path / "chunk-0.js")[1] == ["k\u2028", 0, [
        {"id": "0", "prompt": prompt, "target": "A", "pred": "A", "ok": True, "logprobs": {"A": -0.5, "B": -1.5}}]]


def test_compact_records_per_mode_and_partial_credit(tmp_path: Path) -> None:
    likelihood = rec(7, False, continuations=[" A", " B"], one_pass=True, prompt_tokens=12)
    generate = {"task": "cmrc", "sample_id": "q-1", "mode": "generate", "prompt": "阅读", "target": ["北京", "北京市"],
                "prediction": "北京", "correct": True, "metrics": {"em": 1.0, "f1": 0.5}, "output": "答案：北京",
                "finish_reason": "stop", "prompt_tokens": 30, "generated_tokens": 4}
    exact = {**generate, "sample_id": "q-2", "metrics": {"em": 1.0, "f1": 1.0}, "finish_reason": "length"}
    wrong = {**generate, "sample_id": "q-3", "correct": False, "metrics": {"em": 0, "f1": 0.0}, "prediction": None}
    write_sample_files([likelihood, generate, exact, wrong], tmp_path, "k")
    items = call_args(tmp_path / "chunk-0.js")[1][2]
    gen = {"prompt": "阅读", "target": ["北京", "北京市"], "output": "答案：北京"}
    assert items == [
        {"id": "7", "prompt": "问题 7", "target": "A", "pred": "B", "ok": False, "logprobs": {"A": -0.5, "B": -1.5}},
        {"id": "q-1", **gen, "pred": "北京", "ok": True, "finish": "stop", "metrics": {"em": 1.0, "f1": 0.5}},
        {"id": "q-2", **gen, "pred": "北京", "ok": True, "finish": "length"},  # 0/1 metrics: nothing to show
        {"id": "q-3", **gen, "pred": None, "ok": False, "finish": "stop"},
    ]


def test_reasoning_apart_cut_and_unfinished(tmp_path: Path) -> None:
    base = {"task": "cmath", "mode": "generate", "prompt": "问", "target": "1", "prediction": "1", "correct": True,
            "metrics": {"acc": 1.0}, "output": "答案：1", "finish_reason": "stop"}
    long = "想" * (samples.REASONING_CHARS + 5)
    records = [
        {**base, "sample_id": 0, "reasoning": "<b>先算</b>", "reasoning_finished": True},
        {**base, "sample_id": 1, "reasoning": long, "reasoning_finished": True},
        {**base, "sample_id": 2, "reasoning": "", "reasoning_finished": False, "output": "", "finish_reason": "length"},
        {**base, "sample_id": 3, "reasoning": "ok", "reasoning_finished": True, "reasoning_finished_each": [True, False, False]},
        {**base, "sample_id": 4, "reasoning": "", "reasoning_finished": True},  # thinking on, but nothing to show
        {**base, "sample_id": 5, "reasoning": ["not", "text"], "reasoning_finished": "no", "reasoning_finished_each": 3},
        {**base, "sample_id": 6, "metrics": {"acc": float("nan")}},  # a NaN from a sample line becomes null
    ]
    write_sample_files(records, tmp_path, "k")
    items = call_args(tmp_path / "chunk-0.js")[1][2]
    extra = [{k: v for k, v in x.items() if k in ("reasoning", "reasoning_chars", "unfinished", "unfinished_each")}
             for x in items]
    assert extra == [
        {"reasoning": "<b>先算</b>"},
        {"reasoning": "想" * samples.REASONING_CHARS, "reasoning_chars": samples.REASONING_CHARS + 5},
        {"reasoning": "", "unfinished": True},
        {"reasoning": "ok", "unfinished_each": [2, 3]},
        {}, {}, {},
    ]
    assert items[6]["metrics"] == {"acc": None}
    assert [json.loads(x)["sample_id"] for x in (tmp_path / "samples.jsonl").read_text(encoding="utf-8").splitlines()] == list(range(7))
