"""What a first-time user runs into (issue 15 item 7), through the real entry point: no network, a mistyped name,
an output folder that is a file, a log that is not a terminal, the help text. Each ends in one clear line, fast."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from test_cli_errors import assert_one_line_error, fake_model, run_cli

ONLINE_BUT_UNREACHABLE = {"HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0",
                          "HF_ENDPOINT": "http://127.0.0.1:9"}  # the discard port: nothing listens, connect is refused
# Seconds allowed beyond starting Python and importing (measured by the `quick` fixture on the same machine, so a loaded
# box does not fail the test): the library retries this replaces sleep 23 s for a dataset and 50 s for a model.
MARGIN = 12.0


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return fake_model(tmp_path / "fake-model")


@pytest.fixture(scope="module")
def quick() -> float:
    """Seconds that starting the interpreter and importing what these paths import (datasets, the hub client, the
    CLI) take on this machine right now, network not involved: a loaded box raises the bound with it."""
    import subprocess
    import sys

    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", "import datasets, huggingface_hub, harness.cli"], check=True, timeout=300)
    return time.monotonic() - t0 + MARGIN


# ---------------------------------------------------------------- no network


@pytest.mark.parametrize("env,why", [({}, "HF_HUB_OFFLINE is set"), (ONLINE_BUT_UNREACHABLE, "cannot be reached")],
                         ids=["HF_HUB_OFFLINE", "unreachable-endpoint"])
def test_uncached_hub_model_without_network_is_one_quick_line(tmp_path: Path, data_dir: Path, quick: float, env: dict,
                                                              why: str) -> None:
    t0 = time.monotonic()
    proc = run_cli("eval", "--model", "someorg/not-cached-model", "--tasks", "ceval", "--data-dir", str(data_dir),
                   cwd=tmp_path, env_extra=env)
    elapsed = time.monotonic() - t0
    assert_one_line_error(proc, "--model someorg/not-cached-model", why, "not in the local hub cache",
                          "local model folder", "HF_ENDPOINT")
    assert elapsed < quick, f"took {elapsed:.1f} s, more than {quick:.1f} s"


@pytest.mark.parametrize("env,why", [({}, "HF_HUB_OFFLINE is set"), (ONLINE_BUT_UNREACHABLE, "cannot be reached")],
                         ids=["HF_HUB_OFFLINE", "unreachable-endpoint"])
def test_hub_data_without_network_is_one_quick_line(tmp_path: Path, model: Path, quick: float, env: dict, why: str) -> None:
    """A task without --data-dir falls back to its hub copy; without a network that is one line naming --data-dir."""
    t0 = time.monotonic()
    proc = run_cli("eval", "--model", str(model), "--tasks", "ceval", cwd=tmp_path, env_extra=env)
    elapsed = time.monotonic() - t0
    assert_one_line_error(proc, "task ceval", "ceval/ceval-exam is not in the local cache", why, "--data-dir")
    assert elapsed < quick, f"took {elapsed:.1f} s, more than {quick:.1f} s"


def test_cached_hub_model_loads_at_once_without_network(tmp_path: Path, data_dir: Path, quick: float,
                                                        tiny_models: dict[str, Path]) -> None:
    """A hub id whose files are in the local cache runs without a network, from the cache, without a retry (before:
    every file was retried five times before the cache was used, 3 minutes for a tiny model)."""
    import shutil

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf" / "hub" / "models--someorg--tiny-cached"
    shutil.copytree(tiny_models["qwen2"], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    t0 = time.monotonic()
    proc = run_cli("eval", "--model", "someorg/tiny-cached", "--tasks", "ceval", "--data-dir", str(data_dir), "--limit", "2",
                   "--output-dir", str(tmp_path / "results"), "--no-progress", cwd=tmp_path,
                   env_extra={**ONLINE_BUT_UNREACHABLE, "HF_HOME": str(tmp_path / "hf")})
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    assert "Retry" not in proc.stderr, proc.stderr
    assert elapsed < quick + 30, f"took {elapsed:.1f} s"  # loading torch and the model on top of the imports


def test_probe_gives_up_on_a_silent_endpoint() -> None:
    """An endpoint that accepts the connection and never answers (a black-holing firewall) is unreachable after
    the probe's bound, not after the libraries' minute of retries."""
    from harness.hub import _probe

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)  # the kernel completes the handshake; nobody ever reads or answers
        why = _probe(f"http://127.0.0.1:{server.getsockname()[1]}", seconds=0.5)
    assert why is not None and ("timed out" in why or "no answer" in why), why


def test_probe_takes_any_http_answer_as_reachable() -> None:
    """An error status still means the hub is there (the probe asks only whether anything answers)."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from harness.hub import _probe

    class NotFound(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert _probe(f"http://127.0.0.1:{server.server_address[1]}", seconds=5) is None
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- output folder


def test_output_dir_that_is_a_file_fails_before_loading(tmp_path: Path, data_dir: Path) -> None:
    """Checked up front: the model named here has no weights, so reaching the load would be a different error."""
    afile = tmp_path / "results.txt"
    afile.write_text("not a folder")
    weightless = fake_model(tmp_path / "weightless")
    proc = run_cli("eval", "--model", str(weightless), "--tasks", "ceval", "--data-dir", str(data_dir), "--limit", "1",
                   "--output-dir", str(afile), cwd=tmp_path)
    assert_one_line_error(proc, f"--output-dir {afile}", "is a file", "name a folder")
    proc = run_cli("eval", "--model", str(weightless), "--tasks", "ceval", "--data-dir", str(data_dir), "--limit", "1",
                   "--output-dir", str(afile / "below"), cwd=tmp_path)
    assert_one_line_error(proc, f"--output-dir {afile / 'below'}", f"{afile} is a file")


# ---------------------------------------------------------------- progress in a log


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_plain_progress_lines_when_not_a_terminal() -> None:
    """A log gets a first line at once, a line per 10 s at most (with an estimate of the time left once 5% is done:
    the first items carry the warm-up), and a last line; never a carriage return."""
    import io

    from harness.run.progress import LineProgress

    out, clock = io.StringIO(), FakeClock()
    bar = LineProgress(200, "eval", "item", out, clock=clock)
    clock.t += 12
    bar.update(1)  # 12 s for the first item: a line, no estimate
    for _ in range(49):  # 49 more in 6.125 s: no line
        clock.t += 0.125
        bar.update(1)
    clock.t += 4.375  # 22.5 s in, 10.5 s after the last line
    bar.update(1)
    for _ in range(149):
        bar.update(1)  # no time passes: no line until close
    clock.t += 65
    bar.close()
    bar.close()
    assert out.getvalue().splitlines() == [
        "eval: 200 items to do",
        "eval: 1/200 items (0%), 12 s",
        "eval: 51/200 items (25%), 22 s, about 1 min 06 s left",  # 22.5 s for 51: 149 more take about 66 s
        "eval: 200/200 items (100%) in 1 min 28 s",
    ]
    assert "\r" not in out.getvalue()


def test_progress_picks_lines_off_a_terminal_and_nothing_when_disabled() -> None:
    import io

    from harness.run.progress import LineProgress, progress

    quiet = io.StringIO()
    bar = progress(10, "judge", "item", enabled=False, stream=quiet)
    bar.update(10)
    bar.close()
    assert quiet.getvalue() == ""
    assert isinstance(progress(10, "judge", "item", enabled=True, stream=io.StringIO()), LineProgress)


def test_no_progress_silences_the_lines(tmp_path: Path, data_dir: Path, tiny_models: dict[str, Path]) -> None:
    """Without the flag, a run in a pipe prints its progress lines (checked in tests/test_e2e.py's
    test_cli_subprocess_prints_summary); with it, nothing."""
    proc = run_cli("eval", "--model", str(tiny_models["qwen2"]), "--tasks", "ceval", "--data-dir", str(data_dir),
                   "--limit", "2", "--output-dir", str(tmp_path / "results"), "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "eval:" not in proc.stderr and "items to do" not in proc.stderr, proc.stderr


# ---------------------------------------------------------------- eval --help


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    from harness.cli import main

    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return capsys.readouterr().out


def test_eval_help_is_grouped_and_states_each_default_once(capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    text = _help(capsys, "eval")
    titles = ["model:", "tasks and data:", "decoding (generate mode):", "judge (open-ended tasks):", "engine:",
              "output and cache:", "sandbox (code and instruction-following tasks):", "launcher (many models or machines):"]
    at = [text.find("\n" + t + "\n") for t in titles]
    assert all(i > 0 for i in at) and at == sorted(at), at
    options = text[text.find("\noptions:\n"):at[0]]
    assert "--" not in options.replace("--help", ""), options  # every flag sits in a group
    assert "(default: None)" not in text and "(default: False)" not in text
    blocks = text.split("\n  --")[1:]  # one block per flag
    assert len(blocks) > 40
    for block in blocks:
        assert block.count("default") <= 1, block
    for flag, default in (("--seed N", "1234"), ("--output-dir DIR", "results"), ("--shards N", "4")):
        block = next(b for b in blocks if b.startswith(flag[2:]))
        assert f"(default: {default})" in " ".join(block.split()), block  # a real default is still shown


def test_tiny_model_help_shows_defaults(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    text = " ".join(_help(capsys, "tiny-model").split())
    assert "transformer layers (default: 2)" in text and "(default: qwen2)" in text


# ---------------------------------------------------------------- did you mean


def test_did_you_mean() -> None:
    from harness.errors import did_you_mean

    assert did_you_mean("cevl", ["ceval", "cmmlu", "c3"]) == "; did you mean 'ceval'?"
    assert did_you_mean("CMMLU", ["ceval", "cmmlu"]) == "; did you mean 'cmmlu'?"
    assert did_you_mean("superclue-objectiv", ["superclue", "superclue-objective"]) == \
        "; did you mean 'superclue-objective' or 'superclue'?"
    assert did_you_mean("xyzzy", ["ceval", "cmmlu"]) == ""


@pytest.mark.parametrize("flag,typo,meant", [("--tasks", "cevl", "ceval"), ("--suite", "superclue-objectiv", "superclue-objective"),
                                             ("--model", "qwen2.5-7b-instrct", "qwen2.5-7b-instruct")])
def test_misspelt_names_get_a_suggestion(tmp_path: Path, model: Path, flag: str, typo: str, meant: str) -> None:
    args = ["--model", str(model), flag, typo] if flag != "--model" else ["--model", typo, "--tasks", "ceval"]
    proc = run_cli("eval", *args, cwd=tmp_path)
    line = assert_one_line_error(proc, typo)
    assert f"did you mean '{meant}'" in line, line


# ---------------------------------------------------------------- Chinese task descriptions


def test_description_zh_is_optional_and_must_be_chinese(tmp_path: Path) -> None:
    import yaml
    from test_cli_errors import task_dict

    from harness.errors import HarnessError
    from harness.tasks.spec import load_task_spec

    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(task_dict("t")), encoding="utf-8")
    assert load_task_spec(path).description_zh is None  # optional: the Chinese pages then show `description`
    path.write_text(yaml.safe_dump({**task_dict("t"), "description_zh": "测试任务：四选一单选题。"}), encoding="utf-8")
    assert load_task_spec(path).description_zh == "测试任务：四选一单选题。"
    path.write_text(yaml.safe_dump({**task_dict("t"), "description_zh": "An English copy"}), encoding="utf-8")
    with pytest.raises(HarnessError, match=r"t\.yaml: field 'description_zh': should be the description in Chinese"):
        load_task_spec(path)


def test_task_pages_show_the_chinese_description_on_the_chinese_side(tmp_path: Path) -> None:
    """description_zh travels task file -> results -> leaderboard; a task without it (or an older results file)
    shows its English description on both sides."""
    from test_leaderboard_site import task_block, write_run

    from harness.leaderboard.site import build_site

    with_zh = {**task_block(60.0, "likelihood"), "description": "An exam set, four options.",
               "description_zh": "考试题，四选一。"}
    without = {**task_block(40.0, "likelihood"), "description": "Only English here."}
    write_run(tmp_path / "results", "m1", "2025-01-01", {"exam": with_zh, "plain": without}, None)
    build_site(tmp_path / "results", tmp_path / "site")
    for page in (tmp_path / "site" / "tasks" / "exam.html", tmp_path / "site" / "tasks.html"):
        html = page.read_text(encoding="utf-8")
        assert '<span class="t" lang="zh">考试题，四选一。</span><span class="t" lang="en">An exam set, four options.</span>' in html
    for page in (tmp_path / "site" / "tasks" / "plain.html", tmp_path / "site" / "tasks.html"):
        html = page.read_text(encoding="utf-8")
        assert '<span class="t" lang="zh">Only English here.</span><span class="t" lang="en">Only English here.</span>' in html


def test_shipped_tasks_have_chinese_descriptions() -> None:
    """Filled for every task there was when the field came (a task added since may leave it out: English shows);
    the runner copies it into each results block (checked in tests/test_e2e.py's test_results_file_contract)."""
    from harness.tasks.task import Task, discover_tasks

    specs = {name: Task.load(p).spec for name, p in discover_tasks().items()}
    assert len([s for s in specs.values() if s.description_zh]) >= 40
    assert specs["ceval"].description_zh and specs["ceval"].description_zh.startswith("C-Eval：")


def test_plain_progress_speaks_during_a_long_batch() -> None:
    """Nothing finishes for a while (one long generation batch): the ticking line still comes."""
    import io

    from harness.run.progress import LineProgress

    out = io.StringIO()
    bar = LineProgress(10, "judge", "item", out, interval=0.05, tick=True)
    bar.update(1)
    deadline = time.monotonic() + 30
    while out.getvalue().count("\n") < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    bar.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "judge: 10 items to do" and lines[1].startswith("judge: 1/10 items (10%), ")
    assert lines[-1].startswith("judge: 1/10 items (10%) in ")
