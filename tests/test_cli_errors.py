"""Bad input through the real entry point (`python -m harness.cli`): every mistake a user can make ends in exit
code 2 and ONE line on stderr that starts with "error:", names what was wrong, and shows no traceback. All of
these fail before a model is loaded, so a folder holding only a config.json stands in for a model."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "datasets")


def run_cli(*args: str, cwd: Path, env_extra: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ)  # the conftest's offline / cache variables travel along
    env.pop("HARNESS_TASKS_DIR", None)
    env.pop("HARNESS_DATA_DIR", None)
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2, stderr exactly one line starting with 'error:', containing every needle, no traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one stderr line, got {len(lines)}:\n{proc.stderr}"
    line = lines[0]
    assert line.startswith("error:"), line
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


def assert_argparse_error(proc: subprocess.CompletedProcess, flag: str) -> str:
    """argparse style: usage lines, then one 'harness ...: error: ...' line naming the flag; exit 2, no traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert lines and lines[0].startswith("usage:"), proc.stderr
    err_lines = [l for l in lines if "error:" in l]
    assert len(err_lines) == 1, proc.stderr
    assert err_lines[0] == lines[-1], proc.stderr
    assert flag in err_lines[0], err_lines[0]
    return err_lines[0]


def fake_model(folder: Path, **config) -> Path:
    """A model folder with a config.json and no weights: enough for --model to resolve, never loadable."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], **config}))
    return folder


def task_dict(name: str, **overrides) -> dict:
    spec = {
        "name": name,
        "version": 1,
        "category": "test",
        "description": "a test task",
        "source": "tests",
        "license": "MIT",
        "dataset": {"format": "csv", "eval": f"{name}/test.csv"},
        "fields": {"question": "question", "choices": ["A", "B", "C", "D"], "target": "answer"},
        "prompt": "{{ doc.question }}",
    }
    spec.update(overrides)
    return spec


def write_task(folder: Path, name: str, text: str | None = None, **overrides) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(task_dict(name, **overrides), allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return fake_model(tmp_path / "fake-model")


# ---------------------------------------------------------------- tasks


def test_unknown_task(tmp_path: Path, model: Path) -> None:
    proc = run_cli("eval", "--model", str(model), "--tasks", "nosuchtask", cwd=tmp_path)
    line = assert_one_line_error(proc, "nosuchtask", "--tasks")
    assert "ceval" in line and "cmmlu" in line  # the known tasks are listed as a hint


def test_unknown_task_among_known_ones(tmp_path: Path, model: Path) -> None:
    proc = run_cli("eval", "--model", str(model), "--tasks", "ceval,cmmlux", cwd=tmp_path)
    assert_one_line_error(proc, "'cmmlux'")


def test_malformed_task_yaml(tmp_path: Path, model: Path) -> None:
    tasks = tmp_path / "tasks"
    path = write_task(tasks, "broken", text="name: broken\nversion: 1\ndataset: {format: csv, eval: [unclosed\n")
    proc = run_cli("eval", "--model", str(model), "--tasks", "broken", cwd=tmp_path, env_extra={"HARNESS_TASKS_DIR": str(tasks)})
    line = assert_one_line_error(proc, str(path), "YAML")
    assert re.search(r"line \d+", line), line


def test_task_field_of_wrong_type(tmp_path: Path, model: Path) -> None:
    tasks = tmp_path / "tasks"
    path = write_task(tasks, "badtype", num_fewshot="many")
    proc = run_cli("eval", "--model", str(model), "--tasks", "badtype", cwd=tmp_path, env_extra={"HARNESS_TASKS_DIR": str(tasks)})
    assert_one_line_error(proc, str(path), "num_fewshot")


def test_task_with_unknown_field(tmp_path: Path, model: Path) -> None:
    tasks = tmp_path / "tasks"
    path = write_task(tasks, "typo", num_fewshots=5)
    proc = run_cli("eval", "--model", str(model), "--tasks", "typo", cwd=tmp_path, env_extra={"HARNESS_TASKS_DIR": str(tasks)})
    assert_one_line_error(proc, str(path), "num_fewshots")


def test_task_with_unknown_nested_field(tmp_path: Path, model: Path) -> None:
    tasks = tmp_path / "tasks"
    d = task_dict("nested")
    d["fields"]["answer"] = "answer"
    path = write_task(tasks, "nested", text=yaml.safe_dump(d))
    proc = run_cli("eval", "--model", str(model), "--tasks", "nested", cwd=tmp_path, env_extra={"HARNESS_TASKS_DIR": str(tasks)})
    assert_one_line_error(proc, str(path), "fields.answer")


def test_broken_task_file_given_by_path(tmp_path: Path, model: Path) -> None:
    path = write_task(tmp_path / "elsewhere", "bypath", num_fewshot="many")
    proc = run_cli("eval", "--model", str(model), "--tasks", str(path), cwd=tmp_path)
    assert_one_line_error(proc, str(path), "num_fewshot")


def test_missing_task_file_given_by_path(tmp_path: Path, model: Path) -> None:
    missing = tmp_path / "nope" / "missing.yaml"
    proc = run_cli("eval", "--model", str(model), "--tasks", str(missing), cwd=tmp_path)
    assert_one_line_error(proc, str(missing))


def test_template_typo_in_task_fails_before_model(tmp_path: Path, model: Path, data_dir: Path) -> None:
    """A misspelt template variable is caught while rendering prompts, i.e. before any model loads."""
    tasks = tmp_path / "tasks"
    task = yaml.safe_load((REPO / "tasks" / "knowledge" / "ceval.yaml").read_text(encoding="utf-8"))
    task.update(name="cevaltypo", prompt="{{ doc.questoin }}", subsets={"accountant": {"zh": "注册会计师"}})
    write_task(tasks, "cevaltypo", text=yaml.safe_dump(task, allow_unicode=True))
    proc = run_cli("eval", "--model", str(model), "--tasks", "cevaltypo", "--data-dir", str(data_dir), "--limit", "1",
                   cwd=tmp_path, env_extra={"HARNESS_TASKS_DIR": str(tasks)})
    assert_one_line_error(proc, "questoin", "prompt")


def test_mode_not_supported_by_task(tmp_path: Path, model: Path) -> None:
    tasks = tmp_path / "tasks"
    write_task(tasks, "likeonly", modes=["likelihood"], mode="likelihood")
    proc = run_cli("eval", "--model", str(model), "--tasks", "likeonly", "--mode", "generate",
                   cwd=tmp_path, env_extra={"HARNESS_TASKS_DIR": str(tasks)})
    assert_one_line_error(proc, "--mode generate", "likeonly")


# ---------------------------------------------------------------- data


def test_nonexistent_data_dir(tmp_path: Path, model: Path) -> None:
    proc = run_cli("eval", "--model", str(model), "--tasks", "ceval", "--data-dir", "/nonexistent", cwd=tmp_path)
    assert_one_line_error(proc, "--data-dir", "/nonexistent")


def test_nonexistent_data_dir_from_env(tmp_path: Path, model: Path) -> None:
    proc = run_cli("eval", "--model", str(model), "--tasks", "ceval", cwd=tmp_path,
                   env_extra={"HARNESS_DATA_DIR": str(tmp_path / "no-such-data")})
    assert_one_line_error(proc, str(tmp_path / "no-such-data"))


def test_data_dir_without_the_files(tmp_path: Path, model: Path) -> None:
    empty = tmp_path / "empty-data"
    empty.mkdir()
    proc = run_cli("eval", "--model", str(model), "--tasks", "ceval", "--data-dir", str(empty), cwd=tmp_path)
    assert_one_line_error(proc, str(empty / "ceval" / "val"), "--data-dir", "HARNESS_DATA_DIR", "ceval")


def test_no_data_dir_at_all_offline(tmp_path: Path, model: Path) -> None:
    proc = run_cli("eval", "--model", str(model), "--tasks", "cmmlu", cwd=tmp_path)
    assert_one_line_error(proc, "cmmlu", "--data-dir", "HARNESS_DATA_DIR")


# ---------------------------------------------------------------- model


def test_nonexistent_model_path(tmp_path: Path) -> None:
    proc = run_cli("eval", "--model", "./no/such/model", "--tasks", "ceval", cwd=tmp_path)
    assert_one_line_error(proc, "--model", "./no/such/model")


def test_remote_code_model_needs_flag(tmp_path: Path) -> None:
    m = fake_model(tmp_path / "remote", auto_map={"AutoModelForCausalLM": "modeling_custom.CustomForCausalLM"})
    proc = run_cli("eval", "--model", str(m), "--tasks", "ceval", cwd=tmp_path)
    assert_one_line_error(proc, "--trust-remote-code", str(m))


def test_remote_code_model_passes_the_gate_with_flag(tmp_path: Path) -> None:
    """With --trust-remote-code the same folder gets past the model check (and then fails on the task)."""
    m = fake_model(tmp_path / "remote", auto_map={"AutoModelForCausalLM": "modeling_custom.CustomForCausalLM"})
    proc = run_cli("eval", "--model", str(m), "--tasks", "nosuchtask", "--trust-remote-code", cwd=tmp_path)
    line = assert_one_line_error(proc, "nosuchtask")
    assert "--trust-remote-code" not in line


def test_model_folder_without_config(tmp_path: Path) -> None:
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"\0" * 16)
    proc = run_cli("eval", "--model", str(folder), "--tasks", "ceval", cwd=tmp_path)
    assert_one_line_error(proc, "config.json", str(folder))


def test_model_folder_with_invalid_config_json(tmp_path: Path) -> None:
    folder = tmp_path / "bad-config"
    folder.mkdir()
    (folder / "config.json").write_text("{not json")
    proc = run_cli("eval", "--model", str(folder), "--tasks", "ceval", cwd=tmp_path)
    assert_one_line_error(proc, "config.json", "JSON")


# ---------------------------------------------------------------- flags


def test_limit_zero(tmp_path: Path, model: Path) -> None:
    proc = run_cli("eval", "--model", str(model), "--tasks", "ceval", "--limit", "0", cwd=tmp_path)
    assert_argparse_error(proc, "--limit")


def test_limit_not_a_number(tmp_path: Path, model: Path) -> None:
    proc = run_cli("eval", "--model", str(model), "--tasks", "ceval", "--limit", "ten", cwd=tmp_path)
    assert_argparse_error(proc, "--limit")


def test_negative_num_fewshot(tmp_path: Path, model: Path) -> None:
    proc = run_cli("eval", "--model", str(model), "--tasks", "ceval", "--num-fewshot", "-1", cwd=tmp_path)
    assert_argparse_error(proc, "--num-fewshot")


def test_batch_size_zero(tmp_path: Path, model: Path, data_dir: Path) -> None:
    """--batch-size 0 must be refused before a model is loaded: with a weightless folder as the model, a late
    check would surface as a model-loading error instead of naming --batch-size."""
    proc = run_cli("eval", "--model", str(model), "--tasks", "ceval", "--data-dir", str(data_dir), "--limit", "1",
                   "--batch-size", "0", cwd=tmp_path)
    if proc.stderr.startswith("usage:"):
        assert_argparse_error(proc, "--batch-size")
    else:
        assert_one_line_error(proc, "--batch-size")


def test_unknown_mode_choice(tmp_path: Path, model: Path) -> None:
    proc = run_cli("eval", "--model", str(model), "--tasks", "ceval", "--mode", "guess", cwd=tmp_path)
    assert_argparse_error(proc, "--mode")


# ---------------------------------------------------------------- help, tasks, import cost


def test_help(tmp_path: Path) -> None:
    proc = run_cli("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    for word in ("eval", "tasks", "tiny-model", "usage: harness"):
        assert word in proc.stdout


def test_eval_help(tmp_path: Path) -> None:
    proc = run_cli("eval", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for flag in ("--model", "--tasks", "--data-dir", "--limit", "--batch-size", "--trust-remote-code"):
        assert flag in proc.stdout


def test_console_script_help(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "harness"
    assert script.is_file(), "the package must install a `harness` console script (pip install -e .)"
    proc = subprocess.run([str(script), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "usage: harness" in proc.stdout


def _imported_modules(stderr: str) -> set[str]:
    mods = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                mods.add(name)
    return mods


def test_importing_cli_is_light(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import harness.cli"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    mods = _imported_modules(proc.stderr)
    assert "harness.cli" in mods and "argparse" in mods  # the parse works
    heavy = sorted(m for m in mods if m.split(".")[0] in HEAVY)
    assert not heavy, f"`import harness.cli` pulls in {heavy[:10]}"


def test_tasks_lists_ceval_and_cmmlu_without_torch(tmp_path: Path) -> None:
    code = ("import sys, harness.cli as c; rc = c.main(['tasks']); "
            "print(rc, [m for m in ('torch', 'transformers', 'datasets') if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != "HARNESS_TASKS_DIR"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == "0 []", lines[-1]
    listing = "\n".join(lines[:-1])
    assert re.search(r"knowledge\s+│\s+ceval\s+│\s+-\s+│", listing), listing  # no data dir: no counts
    assert re.search(r"knowledge\s+│\s+cmmlu\s+│", listing), listing


def test_tasks_counts_items_with_a_data_dir_without_torch(tmp_path: Path, data_dir: Path) -> None:
    code = ("import sys, harness.cli as c; rc = c.main(['tasks', '--data-dir', sys.argv[1]]); "
            "print(rc, 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code, str(data_dir)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={k: v for k, v in os.environ.items() if k != "HARNESS_TASKS_DIR"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "0 False"
    assert re.search(r"knowledge\s+│\s+ceval\s+│\s+1346\s+│", proc.stdout), proc.stdout
    assert re.search(r"safety\s+│\s+safetybench_zh\s+│\s+2100\s+│", proc.stdout), proc.stdout
    categories = set(re.findall(r"^│\s+(\w+)\s+│", proc.stdout, re.M)) - {"category"}
    assert len(categories) >= 5 and len(re.findall(r"^│\s+\w+\s+│\s+\w+\s+│\s+\d+\s+│", proc.stdout, re.M)) >= 20


def test_tasks_json(tmp_path: Path) -> None:
    proc = run_cli("tasks", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert {"ceval", "cmmlu"} <= set(rows)
    assert rows["ceval"]["subsets"] == 52 and rows["cmmlu"]["subsets"] == 67
    assert rows["ceval"]["modes"] == ["likelihood", "generate"]


def test_tasks_with_a_broken_task_file(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks"
    path = write_task(tasks, "broken", text="name: [unclosed\n")
    proc = run_cli("tasks", cwd=tmp_path, env_extra={"HARNESS_TASKS_DIR": str(tasks)})
    assert_one_line_error(proc, str(path))


def test_extra_tasks_dir_adds_a_task(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks"
    write_task(tasks, "extra")
    proc = run_cli("tasks", "--json", cwd=tmp_path, env_extra={"HARNESS_TASKS_DIR": str(tasks)})
    assert proc.returncode == 0, proc.stderr
    assert {"ceval", "cmmlu", "extra"} <= {r["name"] for r in json.loads(proc.stdout)}


def test_relative_missing_model_path_is_not_taken_for_a_hub_id(tmp_path: Path, data_dir: Path) -> None:
    (tmp_path / "models").mkdir()
    proc = run_cli("eval", "--model", "models/tiny-qwen2", "--tasks", "ceval", "--data-dir", str(data_dir), cwd=tmp_path)
    assert_one_line_error(proc, "models/tiny-qwen2")
    assert "no such folder" in proc.stderr


def test_uncached_hub_id_offline_fails_before_loading(tmp_path: Path, data_dir: Path) -> None:
    proc = run_cli("eval", "--model", "someorg/not-cached-model", "--tasks", "ceval", "--data-dir", str(data_dir), cwd=tmp_path)
    assert_one_line_error(proc, "someorg/not-cached-model")
    assert "offline" in proc.stderr


def test_vllm_backend_without_vllm_is_a_clear_error(tmp_path: Path, data_dir: Path, tiny_models: dict) -> None:
    """The main environment has no vLLM: asking for it says what to install, in one line."""
    proc = run_cli("eval", "--model", str(tiny_models["qwen2"]), "--tasks", "ceval", "--data-dir", str(data_dir),
                   "--limit", "1", "--backend", "vllm", cwd=tmp_path)
    assert_one_line_error(proc, "--backend vllm", "pip install")
