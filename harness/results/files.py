"""The results contract: one JSON file per run (written atomically) and one JSONL line per sample (appended
as each sample completes, flushed, so a crash loses at most the sample in flight).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, TextIO

from harness.contain import clean_text
from harness.errors import HarnessError
from harness.results.schema import SCHEMA_VERSION, SchemaError, validate_results

__all__ = ["SCHEMA_VERSION", "SampleWriter", "check_output_dir", "clean", "dumps_line", "read_samples", "results_text",
           "write_atomic", "write_json_atomic", "write_results"]


def clean(obj: Any) -> Any:
    """JSON has no NaN: write null instead so every parser reads the file. Text with a lone surrogate (which UTF-8
    cannot hold) gets U+FFFD in its place, so one poisoned sample never stops a writer (harness/contain.py)."""
    if isinstance(obj, str):
        return clean_text(obj)
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    if isinstance(obj, dict):
        return {clean_text(str(k)): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    return obj


def _plain(obj: Any) -> Any:
    """What json cannot write on its own (a numpy number, a set, a Path): its plain value, else its text, so that
    an odd value in one record never loses the record."""
    item = getattr(obj, "item", None)
    if callable(item):
        try:
            value = item()
            if isinstance(value, (int, float, str, bool)) or value is None:
                return clean(value)
        except (TypeError, ValueError):
            pass
    if isinstance(obj, (set, frozenset)):
        return clean(sorted(obj, key=repr))
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    return clean_text(str(obj))


_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def dumps_line(record: dict[str, Any]) -> str:
    """One JSON line of a record, as every samples-like file holds them. JSON escapes the control characters;
    the three other characters that str.splitlines() breaks at (U+0085, U+2028, U+2029), which JSON leaves as
    they are, are escaped too, so a model's text can never split a line for any reader."""
    return json.dumps(clean(record), ensure_ascii=False, allow_nan=False, default=_plain).translate(_LINE_BREAKS)


def check_output_dir(path: Path, flag: str = "--output-dir") -> None:
    """Fail before anything loads when results could not be written there (a file, or a folder not writable),
    rather than with a traceback after the model ran. A missing folder is fine: it is created."""
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        what = "is a file" if existing == path else f"cannot be created: {existing} is a file"
        raise HarnessError(f"{flag} {path}: {what}; name a folder (it is created if missing), e.g. {flag} results")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise HarnessError(f"{flag} {path}: {existing} is not writable by this user; name a folder you can write to")


def write_atomic(path: Path, write: Callable[[TextIO], None]) -> None:
    """Let `write` fill a temporary file in the same folder, fsync, then rename over the target: readers see the
    old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # errors="replace": a caller's text that UTF-8 cannot hold becomes "?" instead of losing the whole file
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    def dump(f: TextIO) -> None:
        json.dump(clean(data), f, ensure_ascii=False, indent=2, allow_nan=False, default=_plain)
        f.write("\n")

    write_atomic(path, dump)


def results_text(results: dict[str, Any]) -> str:
    """A results file's text, exactly as write_results writes it."""
    return json.dumps(clean(results), ensure_ascii=False, indent=2, allow_nan=False, default=_plain) + "\n"


def write_results(path: Path, results: dict[str, Any]) -> None:
    """Write a run's results file (atomically), checked against the results schema (harness/results/schema.py)
    in the form it is written, so every file the harness writes is one the leaderboard reads. A mismatch is a
    harness bug: the file is written all the same (a long run's results are never lost) and the error names it."""
    text = results_text(results)
    try:
        validate_results(json.loads(text))
        problem = None
    except SchemaError as e:
        problem = e
    def dump(f: TextIO) -> None:
        f.write(text)

    write_atomic(path, dump)
    if problem is not None:
        raise HarnessError(f"{path}: written, but it does not match the results schema at {problem}; the leaderboard "
                           "will skip it (a harness bug: please report it)")


class SampleWriter:
    """Appends one JSON line per finished sample and flushes it at once."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._f: TextIO = open(path, "a", encoding="utf-8", errors="replace")

    def write(self, record: dict[str, Any]) -> None:
        try:
            line = dumps_line(record)
        except (TypeError, ValueError, RecursionError) as e:  # e.g. a value that refers to itself: keep the item
            keep = {k: record.get(k) for k in ("task", "sample_id", "mode") if isinstance(record.get(k), (str, int))}
            line = dumps_line({**keep, "correct": False, "metrics": {},
                               "error": f"record could not be written: {type(e).__name__}: {str(e)[:200]}"})
        self._f.write(line + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> SampleWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_samples(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
