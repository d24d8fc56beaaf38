"""Per-sample JSONL -> the files the task page's sample browser loads.

Pages must work from `file://`, where browsers refuse `fetch()`, so samples ship as small JavaScript files that
call `HarnessSamples.add(...)` and are loaded with `<script src>` on demand: a manifest per (task, model) with
every item's right/wrong flag (so filtering needs no chunk), then chunks of CHUNK items. Model text stays data:
the browser script puts it into the page with `textContent` only.

Samples files are untrusted input (a model's text, a crash, a hand edit): a line that is not a sample is left out
with one reported line per file, and no field reaches a page at more than FIELD_CHARS characters (a 100 MB output
would otherwise be copied whole into a chunk every visitor loads); `samples.jsonl` beside the chunks, which the
page links for download, keeps every record whole.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from harness.results.files import clean, dumps_line
from harness.results.schema import TOO_DEEP, SchemaError, validate_sample

CHUNK = 200
REASONING_CHARS = 16_000  # reasoning shown per item in the browser; the JSONL download keeps all of it
FIELD_CHARS = 20_000  # any other text field shown per item (prompt, output, stdout, ...); the download keeps all
FIELD_ITEMS = 1_000  # entries of a list or object shown per field (judge outputs, execution runs, logprobs)
MAX_LINE_BYTES = 256 * 2**20  # a samples line longer than this is not read at all (it could not be held to show)


def json_safe(obj: Any) -> Any:
    """`obj` with every NaN or infinity replaced by None (JSON has neither)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def _js_literal(obj: Any) -> str:
    """JSON as a JavaScript literal; U+2028/9 are escaped for older engines that reject them in strings. A NaN
    from a sample line becomes null rather than failing the build."""
    try:
        text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    except ValueError:
        text = json.dumps(json_safe(obj), ensure_ascii=False, allow_nan=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def read_samples_by_task(samples_path: Path, skipped: list[str] | None = None,
                         name: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """A run's JSONL grouped by task. A line that cannot be shown (cut off by a crash, not JSON, not UTF-8, longer
    than MAX_LINE_BYTES, or not a sample as harness/results/schema.py SampleLine describes it) is left out; `skipped`
    gets one line for the file, naming `name` (the file as the user knows it), how many lines and the first's field."""
    out: dict[str, list[dict[str, Any]]] = {}
    if not samples_path.is_file():
        return out
    bad: list[str] = []
    lines = 0
    with open(samples_path, "rb") as f:  # bytes: a crash can cut the last line inside a UTF-8 character
        number = 0
        while raw := f.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while (rest := f.readline(2**20)) and not rest.endswith(b"\n"):
                    pass  # the rest of the line, a megabyte at a time, never held whole
                lines += 1
                bad.append(f"line {number}: longer than {MAX_LINE_BYTES:,} bytes")
                continue
            if not raw.strip():
                continue
            lines += 1
            rec, problem = _sample(raw)
            if problem is not None:
                bad.append(f"line {number}: {problem}")
                continue
            out.setdefault(rec["task"], []).append(rec)
    if bad and skipped is not None:
        more = f"; and {len(bad) - 1} more" if len(bad) > 1 else ""
        skipped.append(f"skipped {len(bad)} of {lines} lines of {name or samples_path}: {bad[0]}{more}")
    return out


def _sample(raw: bytes) -> tuple[dict[str, Any], str | None]:
    """One samples line as a record (lone surrogates replaced), or why it is not one."""
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as e:
        return {}, f"not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})"
    try:
        rec = json.loads(text)
    except json.JSONDecodeError as e:
        return {}, f"not valid JSON: {e.msg} (column {e.colno})"
    except RecursionError:
        return {}, f"not valid JSON: {TOO_DEEP}"
    try:
        validate_sample(rec)
    except SchemaError as e:
        return {}, str(e)
    return clean(rec), None


def _compact(rec: dict[str, Any]) -> dict[str, Any]:
    """What the browser shows of one record."""
    out: dict[str, Any] = {"id": str(rec.get("sample_id", "")), "prompt": rec.get("prompt", ""),
                           "target": rec.get("target"), "pred": rec.get("prediction"), "ok": bool(rec.get("correct"))}
    if rec.get("mode") == "generate":
        out["output"] = rec.get("output", "")
        out["finish"] = rec.get("finish_reason")
        out.update(_reasoning(rec))
    elif isinstance(rec.get("logprobs"), dict):
        out["logprobs"] = rec["logprobs"]
    if rec.get("judge"):  # judged: the dialogue, and what the judge said
        out["judge"] = rec["judge"]
        if len(rec.get("turns") or []) > 1:
            out["dialogue"] = [[t, a] for t, a in zip(rec.get("turns") or [], rec.get("answers") or [])]
        out["verdicts"] = rec.get("verdicts")
        out["judge_outputs"] = [str(x)[:4000] for x in rec.get("judge_outputs") or []]
    if rec.get("execution"):
        out["execution"] = [{k: e.get(k) for k in ("status", "seconds", "stdout", "stderr")} for e in rec["execution"]]
    metrics = rec.get("metrics") or {}
    if any(v not in (0.0, 1.0) for v in metrics.values() if isinstance(v, (int, float))):
        out["metrics"] = metrics  # partial credit (F1, GAOKAO points): worth showing
    cut: dict[str, int] = {}
    out = {k: v if k == "reasoning" else _cap(v, k, cut) for k, v in out.items()}  # reasoning has its own cut
    if cut:
        out["cut"] = cut  # field -> its full size, so the page says what was cut and where the rest is
    return out


def _cap(value: Any, key: str, cut: dict[str, int]) -> Any:
    """`value` with every string cut at FIELD_CHARS characters and every list or object at FIELD_ITEMS entries;
    `cut[key]` records the largest size cut (characters, or entries), so the page can say so."""
    if isinstance(value, str):
        if len(value) <= FIELD_CHARS:
            return value
        cut[key] = max(cut.get(key, 0), len(value))
        return value[:FIELD_CHARS]
    if isinstance(value, (list, dict)) and len(value) > FIELD_ITEMS:
        cut[key] = max(cut.get(key, 0), len(value))
        value = value[:FIELD_ITEMS] if isinstance(value, list) else dict(list(value.items())[:FIELD_ITEMS])
    if isinstance(value, list):
        return [_cap(v, key, cut) for v in value]
    if isinstance(value, dict):
        return {_cap(k, key, cut): _cap(v, key, cut) for k, v in value.items()}
    return value


def _reasoning(rec: dict[str, Any]) -> dict[str, Any]:
    """A thinking model's reasoning, kept apart from the answer (cut at REASONING_CHARS, with the full length), and
    whether it never closed (the budget ran out: no answer). With several generations per item, how many of them
    did not finish. Anything malformed is left out."""
    out: dict[str, Any] = {}
    text = rec.get("reasoning")
    finished = rec.get("reasoning_finished")
    if isinstance(text, str) and (text or finished is False):
        out["reasoning"] = text[:REASONING_CHARS]
        if len(text) > REASONING_CHARS:
            out["reasoning_chars"] = len(text)
    if finished is False:
        out["unfinished"] = True
    each = rec.get("reasoning_finished_each")
    if isinstance(each, list) and len(each) > 1 and all(isinstance(x, bool) for x in each) and not all(each):
        out["unfinished_each"] = [each.count(False), len(each)]
    return out


def write_sample_files(records: list[dict[str, Any]], folder: Path, key: str, limit: int | None = None) -> dict[str, Any]:
    """Write manifest.js, chunk-N.js and samples.jsonl for one (task, model) under `folder`; returns the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    if limit is not None:
        records = records[:limit]
    compact = [_compact(r) for r in records]
    chunks = [compact[i:i + CHUNK] for i in range(0, len(compact), CHUNK)]
    for i, chunk in enumerate(chunks):
        (folder / f"chunk-{i}.js").write_text(f"HarnessSamples.add({_js_literal(key)}, {i}, {_js_literal(chunk)});\n",
                                              encoding="utf-8")
    manifest = {"key": key, "n": len(compact), "chunk": CHUNK, "chunks": len(chunks),
                "ok": "".join("1" if c["ok"] else "0" for c in compact)}
    (folder / "manifest.js").write_text(f"HarnessSamples.manifest({_js_literal(key)}, {_js_literal(manifest)});\n",
                                        encoding="utf-8")
    with open(folder / "samples.jsonl", "w", encoding="utf-8") as f:  # the download: every record whole
        for r in records:
            f.write(dumps_line(r) + "\n")
    return manifest
