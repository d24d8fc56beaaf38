"""Per-sample JSONL -> the files the task page's sample browser loads.

Pages must work from `file://`, where browsers refuse `fetch()`, so samples ship as small JavaScript files that
call `HarnessSamples.add(...)` and are loaded with `<script src>` on demand: a manifest per (task, model) with
every item's right/wrong flag (so filtering needs no chunk), then chunks of CHUNK items. Model text stays data:
the browser script puts it into the page with `textContent` only.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

CHUNK = 200
REASONING_CHARS = 16_000  # reasoning shown per item in the browser; the JSONL download keeps all of it


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


def read_samples_by_task(samples_path: Path) -> dict[str, list[dict[str, Any]]]:
    """A run's JSONL grouped by task; a line cut off by a crash (the file is appended live) is skipped."""
    out: dict[str, list[dict[str, Any]]] = {}
    if not samples_path.is_file():
        return out
    with open(samples_path, "rb") as f:  # bytes: a crash can cut the last line inside a UTF-8 character
        for line in f:
            try:
                rec = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(rec, dict) and isinstance(rec.get("task"), str):
                out.setdefault(rec["task"], []).append(rec)
    return out


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
    return out


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
    with open(folder / "samples.jsonl", "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return manifest
