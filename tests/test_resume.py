"""A run killed with SIGKILL mid-way continues when the same command is run again: finished responses come from
the response cache, none is recomputed, lost or duplicated, and the final results equal an uninterrupted run's.
Also: what changes the cache key, corrupt entries, --fresh / --no-cache, and two runs at once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main

pytestmark = pytest.mark.slow


def _args(model: Path, data_dir: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    # batch size 1: the resumed run's batches hold the same requests as the clean run's, so even the floating
    # point of every forward pass is the same
    return ["eval", "--model", str(model), "--tasks", "cmath,gsm8k_zh", "--data-dir", str(data_dir), "--limit", "30",
            "--max-new-tokens", "48", "--batch-size", "1", "--output-dir", str(out), "--cache-dir", str(cache),
            "--no-progress", *extra]


def _load(out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    (path,) = out.rglob("*.json")
    results = json.loads(path.read_text(encoding="utf-8"))
    lines = (path.parent / results["samples_file"]).read_text(encoding="utf-8").splitlines()
    return results, [json.loads(x) for x in lines]


def _answers(samples: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {(s["task"], s["sample_id"]): (s["output"], s["prediction"], s["correct"], s["finish_reason"]) for s in samples}


def _rows(cache: Path) -> int:
    with sqlite3.connect(cache / "responses.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]


@pytest.fixture(scope="module")
def clean(tiny_models: dict[str, Path], data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list]:
    tmp = tmp_path_factory.mktemp("clean")
    assert main(_args(tiny_models["qwen2"], data_dir, tmp / "out", tmp / "cache")) == 0
    return _load(tmp / "out")


def test_killed_run_resumes_to_the_same_results(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path,
                                                clean: tuple[dict, list]) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = _args(tiny_models["qwen2"], data_dir, out, cache)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    written = 0
    while time.monotonic() < deadline and proc.poll() is None:
        files = list(out.rglob("*.samples.jsonl"))
        written = len(files[0].read_text(encoding="utf-8").splitlines()) if files else 0
        if written >= 10:
            proc.send_signal(signal.SIGKILL)  # no chance to clean up: whatever is on disk is what there is
            break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"the run ended before it could be killed: {proc.stderr.read()[-500:]!r}"
    assert not list(out.rglob("*.json"))  # it died before writing results
    stored = _rows(cache)
    assert stored >= 10  # every sample written had its response stored first

    assert main(args) == 0  # the same command again
    results, samples = _load(out)
    assert results["cache"]["hits"] == stored and results["cache"]["corrupt_entries"] == 0
    assert results["cache"]["misses"] == 60 - stored  # only the unfinished requests ran
    assert sum(t["cached_requests"] for t in results["tasks"].values()) == stored
    assert _rows(cache) == 60
    # nothing lost, nothing twice, and the same answers and scores as the run that was never killed
    clean_results, clean_samples = clean
    assert len(samples) == 60 and len({(s["task"], s["sample_id"]) for s in samples}) == 60
    assert _answers(samples) == _answers(clean_samples)
    for name, t in results["tasks"].items():
        assert t["score"] == clean_results["tasks"][name]["score"], name
        assert t["prompt_hash"] == clean_results["tasks"][name]["prompt_hash"], name


def test_what_changes_the_key(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    model = tiny_models["qwen2"]
    assert main(_args(model, data_dir, tmp_path / "a", cache, "--tasks", "ceval,cmath", "--limit", "4")) == 0
    again, _ = (main(_args(model, data_dir, tmp_path / "b", cache, "--tasks", "ceval,cmath", "--limit", "4")), None)
    assert again == 0
    assert _load(tmp_path / "b")[0]["cache"]["hits"] == 8
    # longer generations: the generate requests are new, the likelihood ones (same prompts) are not
    assert main(_args(model, data_dir, tmp_path / "c", cache, "--tasks", "ceval,cmath", "--limit", "4", "--max-new-tokens", "40")) == 0
    assert _load(tmp_path / "c")[0]["cache"]["hits"] == 4
    # a chat template changes every prompt
    assert main(_args(model, data_dir, tmp_path / "d", cache, "--tasks", "ceval,cmath", "--limit", "4", "--chat-template", "on")) == 0
    assert _load(tmp_path / "d")[0]["cache"]["hits"] == 0
    # another model (same architecture and prompts, other weights)
    assert main(_args(tiny_models["llama"], data_dir, tmp_path / "e", cache, "--tasks", "ceval,cmath", "--limit", "4")) == 0
    assert _load(tmp_path / "e")[0]["cache"]["hits"] == 0
    # the same model folder with its weights changed in place
    changed = tmp_path / "changed"
    import shutil

    shutil.copytree(model, changed)
    assert main(_args(changed, data_dir, tmp_path / "f", cache, "--tasks", "ceval,cmath", "--limit", "4")) == 0
    assert _load(tmp_path / "f")[0]["cache"]["hits"] == 0  # another path is another model (its tokenizer files may differ)
    assert main(_args(changed, data_dir, tmp_path / "f2", cache, "--tasks", "ceval,cmath", "--limit", "4")) == 0
    assert _load(tmp_path / "f2")[0]["cache"]["hits"] == 8
    weights = changed / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # one bit of one weight
    weights.write_bytes(bytes(data))
    assert main(_args(changed, data_dir, tmp_path / "g", cache, "--tasks", "ceval,cmath", "--limit", "4")) == 0
    assert _load(tmp_path / "g")[0]["cache"]["hits"] == 0


def test_corrupt_entries_are_recomputed(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    args = lambda out: _args(tiny_models["qwen2"], data_dir, tmp_path / out, cache, "--limit", "3")  # noqa: E731
    assert main(args("a")) == 0
    first, first_samples = _load(tmp_path / "a")
    with sqlite3.connect(cache / "responses.sqlite") as db:
        keys = [k for (k,) in db.execute("SELECT key FROM responses ORDER BY key")]
        db.execute("UPDATE responses SET value = substr(value, 1, 20) WHERE key = ?", (keys[0],))  # truncated JSON
        db.execute("UPDATE responses SET value = value || ' ' WHERE key = ?", (keys[1],))  # still JSON, checksum off
    assert main(args("b")) == 0
    results, samples = _load(tmp_path / "b")
    assert results["cache"]["corrupt_entries"] == 2 and results["cache"]["hits"] == 4
    assert _answers(samples) == _answers(first_samples)
    assert main(args("c")) == 0
    assert _load(tmp_path / "c")[0]["cache"]["hits"] == 6  # the recomputed rows were written back whole


def test_fresh_and_no_cache(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    args = lambda out, *x: _args(tiny_models["qwen2"], data_dir, tmp_path / out, cache, "--limit", "2", *x)  # noqa: E731
    assert main(args("a")) == 0
    assert main(args("b", "--fresh")) == 0
    assert _load(tmp_path / "b")[0]["cache"]["hits"] == 0
    assert main(args("c", "--no-cache")) == 0
    assert _load(tmp_path / "c")[0]["cache"] is None
    assert main(args("d")) == 0
    assert _load(tmp_path / "d")[0]["cache"]["hits"] == 4


def test_two_runs_at_once_share_a_results_dir_and_a_cache(tiny_models: dict[str, Path], data_dir: Path, tmp_path: Path) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = _args(tiny_models["qwen2"], data_dir, out, cache, "--limit", "6")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    procs = [subprocess.Popen([sys.executable, "-m", "harness.cli", *args], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)  # communicate: a full stderr pipe cannot stall the run
        assert p.returncode == 0, err[-2000:]
    files = sorted(out.rglob("*.json"))
    assert len(files) == 2  # same command, same second: still two runs, two files
    answers = []
    for f in files:
        results = json.loads(f.read_text(encoding="utf-8"))
        lines = (f.parent / results["samples_file"]).read_text(encoding="utf-8").splitlines()
        samples = [json.loads(x) for x in lines]  # every line whole: no interleaving
        assert len(samples) == 12
        answers.append(_answers(samples))
    assert answers[0] == answers[1]
    assert _rows(cache) == 12


def _open_cache(path: str, barrier: Any, errors: Any) -> None:
    from harness.errors import HarnessError
    from harness.run.cache import ResponseCache

    barrier.wait()
    try:
        ResponseCache(Path(path)).close()
    except HarnessError as e:
        errors.put(str(e))


def test_runs_opening_a_new_cache_at_the_same_moment_all_get_it(tmp_path: Path) -> None:
    """Setting up a new cache needs an exclusive lock, and SQLite answers all but one contender "database is
    locked" at once (no waiting): before the retry, about one start in ten of four runs failed this way."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    errors = ctx.Queue()
    for trial in range(30):
        barrier = ctx.Barrier(4)
        path = str(tmp_path / str(trial) / "responses.sqlite")
        procs = [ctx.Process(target=_open_cache, args=(path, barrier, errors)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=120)
            assert p.exitcode == 0
    assert errors.empty(), errors.get()
