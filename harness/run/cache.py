"""Every finished request's response, persisted the moment it completes, so a run that dies continues.

Responses live in one SQLite file (WAL journal: a killed process never leaves a half-written row, and several
runs may share the file). A response is keyed by a fingerprint of everything that determines it:

- the model: its source and revision, the commit a hub revision resolved to (a moving `main` never reuses
  older answers; offline and not in the cache: the revision name, and the results say so), and the hash of its
  weights (a local folder) or, for a server, its URL and served name; the backend (transformers and vLLM agree to
  ~1e-6, not bit for bit) and the dtype; the context length the engine runs with (vLLM's `--max-model-len`, a
  server's), and the OpenAI backend's local `--tokenizer`, by a hash of its files;
- the request: the exact prompt text (chat template already applied, so the template is part of it) or the
  chat messages, the continuations, whether special tokens are added, and for generation max_new_tokens,
  stop strings, temperature and seed.

Change any of these and the key changes: old answers are never reused for a different model, prompt or decoding
(OpenCompass' `--reuse` keys on names, lm-evaluation-harness' cache on the request only). Each row carries a
checksum of its value; a row that fails it, or does not parse, is treated as missing and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.contain import clean, clean_result
from harness.errors import HarnessError
from harness.types import Cost, GenerateRequest, GenerateResult, LoglikelihoodRequest, LoglikelihoodResult

SCHEMA = 1


def default_cache_dir() -> Path:
    env = os.environ.get("HARNESS_CACHE_DIR")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "harness"


def _digest(obj: Any) -> str:
    # surrogatepass: the same bytes as strict UTF-8 for every valid text (keys do not change), and a prompt holding
    # a lone surrogate still gets a key instead of stopping the run
    text = json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def model_identity(model_block: dict[str, Any]) -> dict[str, Any]:
    """The part of a results file's model block that determines outputs.

    The later settings (context length, tokenizer, commit) join the key only when known, so a setup that has
    none of them (a local folder on transformers) keeps the keys it had before they were added."""
    weights = model_block.get("weights") or {}
    engine = model_block.get("engine") or {}
    tokenizer = model_block.get("tokenizer") or {}
    identity = {
        "source": model_block.get("source"),
        "revision": model_block.get("revision"),
        "weights": weights.get("sha256"),
        "backend": model_block.get("backend"),
        "dtype": model_block.get("dtype"),
        "served_model": engine.get("served_model"),
        "trust_remote_code": model_block.get("trust_remote_code"),
    }
    later = {
        "commit": model_block.get("commit"),
        "max_model_len": model_block.get("max_model_len"),
        # the files' hash; the path only where the files were not found (the block's note says so)
        "tokenizer": (tokenizer.get("sha256") or tokenizer.get("path")) if tokenizer else None,
    }
    identity.update({k: v for k, v in later.items() if v is not None})
    return identity


def request_key(model: dict[str, Any], request: LoglikelihoodRequest | GenerateRequest) -> str:
    if isinstance(request, LoglikelihoodRequest):
        body: dict[str, Any] = {"kind": "ll", "context": request.context, "continuations": list(request.continuations),
                                "special": request.add_special_tokens}
    else:
        body = {"kind": "gen", "prompt": request.prompt, "messages": [list(m) for m in request.messages],
                "max_new_tokens": request.max_new_tokens, "stop": list(request.stop),
                "temperature": request.temperature, "seed": request.seed, "special": request.add_special_tokens}
        # only when set, so that keys of requests without them stay what they were
        if request.top_p != 1.0 or request.top_k != 0:
            body.update(top_p=request.top_p, top_k=request.top_k)
        if request.template_kwargs:
            body["template_kwargs"] = [list(kv) for kv in request.template_kwargs]
        if request.tools:
            body["tools"] = request.tools
    return _digest({"schema": SCHEMA, "model": model, "request": body})


def _encode(result: LoglikelihoodResult | GenerateResult) -> str:
    """The stored form: text that UTF-8 cannot hold (a lone surrogate) is stored with U+FFFD in its place; an
    infinite or NaN log-probability as JSON's -Infinity/NaN, which `_decode` reads back as it was."""
    return json.dumps(asdict(clean_result(result)), ensure_ascii=False, allow_nan=True)


def _decode(kind: str, text: str) -> LoglikelihoodResult | GenerateResult:
    d = clean(json.loads(text))  # a row written by an older harness may hold an escaped lone surrogate
    cost = Cost(**d.pop("cost"))
    return LoglikelihoodResult(**d, cost=cost) if kind == "ll" else GenerateResult(**d, cost=cost)


class ResponseCache:
    """A key-value store of responses; safe to use from several processes at once."""

    def __init__(self, path: Path, read: bool = True, write: bool = True) -> None:
        self.path = path
        self.read, self.write = read, write
        self.hits = self.misses = self.corrupt = self.unstorable = 0
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=60, check_same_thread=False, isolation_level=None)
            self._setup()
        except sqlite3.DatabaseError as e:
            raise HarnessError(f"--cache-dir: cannot use {path} ({e}); delete the file or pass --no-cache") from None
        except OSError as e:
            raise HarnessError(f"--cache-dir: cannot create {path.parent} ({e.strerror}); pass another --cache-dir or --no-cache") from None

    def _setup(self, patience_s: float = 60.0) -> None:
        """WAL mode and the table. Two runs opening a new cache at the same moment both need an exclusive lock
        here, and SQLite answers one of them "database is locked" at once instead of waiting (it would deadlock
        otherwise): retry that, briefly and with jitter, instead of failing the run."""
        deadline = time.monotonic() + patience_s
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, kind TEXT NOT NULL, "
                                 "value TEXT NOT NULL, checksum TEXT NOT NULL)")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.01, 0.1))

    def get(self, key: str, kind: str) -> LoglikelihoodResult | GenerateResult | None:
        if not self.read:
            return None
        with self._lock:
            try:
                row = self._db.execute("SELECT kind, value, checksum FROM responses WHERE key = ?", (key,)).fetchone()
            except sqlite3.DatabaseError:
                row = None
                self.corrupt += 1
        if row is None:
            self.misses += 1
            return None
        stored_kind, value, checksum = row
        try:
            if stored_kind != kind or hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest() != checksum:
                raise ValueError("checksum")
            result = _decode(kind, value)
        except (ValueError, TypeError, KeyError, AttributeError):
            self.corrupt += 1  # a damaged row: recompute it (and overwrite it when it completes)
            self.misses += 1
            return None
        self.hits += 1
        return result

    def put(self, key: str, kind: str, result: LoglikelihoodResult | GenerateResult) -> None:
        if not self.write:
            return
        try:
            value = _encode(result)
        except (TypeError, ValueError):  # a value json cannot hold: the answer is used, just not kept
            self.unstorable += 1
            return
        checksum = hashlib.sha256(value.encode("utf-8")).hexdigest()
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses (key, kind, value, checksum) VALUES (?, ?, ?, ?)",
                             (key, kind, value, checksum))

    def stats(self) -> dict[str, Any]:
        return {"path": str(self.path), "read": self.read, "write": self.write, "hits": self.hits,
                "misses": self.misses, "corrupt_entries": self.corrupt, "unstorable": self.unstorable}

    def close(self) -> None:
        with self._lock:
            self._db.close()
