"""A model preset's `generation:` block (issue 12, item 9): a typed block whose `max_new_tokens` is the least
generation budget the model gets; a task's budget becomes max(task's, preset's) unless --max-new-tokens is given.

The end-to-end test at the bottom checks the tokens actually generated; it needs the small change to
harness/run/dispatch.py described in that test's docstring (Dispatcher._generate_requests reading the per-task budgets
that the runner hands it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.errors import HarnessError
from harness.models import presets as models
from harness.models.presets import Preset, PresetGeneration, effective_max_new_tokens, load_presets


def _preset(folder: Path, name: str, **fields) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"name": name, "hub_id": "org/model", "family": "test", "type": "chat", **fields}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


# ---------------------------------------------------------------- the block


def test_shipped_presets_are_typed() -> None:
    presets = load_presets()
    for p in presets.values():
        assert isinstance(p.generation, PresetGeneration)
        if p.type == "chat":
            assert p.generation.max_new_tokens and p.generation.max_new_tokens >= 256, p.name
    assert presets["qwen2.5-7b"].generation.max_new_tokens is None  # a base model answers at once


@pytest.mark.parametrize(("block", "field"), [
    ({"max_new_token": 512}, "generation.max_new_token"),  # a typo
    ({"max_new_tokens": 512, "temperature": 0.7}, "generation.temperature"),  # not a preset setting
    ({"max_new_tokens": 0}, "generation.max_new_tokens"),
    ({"max_new_tokens": "lots"}, "generation.max_new_tokens"),
])
def test_bad_generation_block_is_one_line_naming_file_and_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                block: dict, field: str) -> None:
    path = _preset(tmp_path, "bad", generation=block)
    monkeypatch.setattr(models, "PRESETS_DIR", tmp_path)
    with pytest.raises(HarnessError) as err:
        load_presets()
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and f"field '{field}'" in msg
    assert "max_new_tokens" in msg  # the fix: what the block takes


def test_effective_budget() -> None:
    chat = Preset(name="c", hub_id="o/c", family="f", type="chat", generation={"max_new_tokens": 512})
    base = Preset(name="b", hub_id="o/b", family="f", type="base")
    assert effective_max_new_tokens(32, chat, None) == 512  # the preset's floor lifts a short task budget
    assert effective_max_new_tokens(1024, chat, None) == 1024  # a longer task budget stays
    assert effective_max_new_tokens(32, chat, 64) == 64  # --max-new-tokens wins, also below the floor
    assert effective_max_new_tokens(32, base, None) == 32
    assert effective_max_new_tokens(32, None, None) == 32


# ---------------------------------------------------------------- through a run


def _task(tasks: Path, data: Path) -> None:
    (data / "gen").mkdir(parents=True)
    rows = [{"q": f"第{i}题：一加{i}等于几？", "options": ["1", "2", "3", "4"], "answer": "B"} for i in range(4)]
    (data / "gen" / "test.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tasks.mkdir(parents=True)
    spec = {"name": "gen", "version": 1, "category": "test", "description": "d", "source": "s", "license": "MIT",
            "dataset": {"format": "jsonl", "eval": "gen/test.jsonl"},
            "fields": {"question": "q", "choices": "options", "target": "answer"},
            "prompt": "{{ doc.question }}", "mode": "generate", "modes": ["generate"],
            "generation": {"max_new_tokens": 2, "stop": []}}
    (tasks / "gen.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")


def _eval(tmp_path: Path, model: str, *extra: str) -> tuple[dict, list[dict]]:
    from harness.cli import main
    from harness.results.files import read_samples

    out = tmp_path / "results"
    assert main(["eval", "--model", model, "--tasks", "gen", "--data-dir", str(tmp_path / "data"), "--output-dir",
                 str(out), "--no-progress", "--no-cache", *extra]) == 0
    (path,) = [p for p in out.rglob("*.json") if not p.name.endswith(".judge.json")]
    results = json.loads(path.read_text(encoding="utf-8"))
    samples = read_samples(path.parent / results["samples_file"])
    for p in out.rglob("*"):
        if p.is_file():
            p.unlink()
    return results, samples


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_base_model: Path) -> Path:
    _task(tmp_path / "tasks", tmp_path / "data")
    monkeypatch.setenv("HARNESS_TASKS_DIR", str(tmp_path / "tasks"))
    presets = tmp_path / "presets"
    _preset(presets, "tiny-floor", hub_id=str(tiny_base_model), type="base", generation={"max_new_tokens": 6})
    monkeypatch.setattr(models, "PRESETS_DIR", presets)
    return tmp_path


def test_preset_budget_reaches_the_requests(setup: Path, tiny_base_model: Path) -> None:
    """The runner's per-task budgets reach the requests: recorded in the results and bounding the samples."""
    # a preset with a floor of 6: the task's 2 tokens become 6
    results, samples = _eval(setup, "tiny-floor")
    assert results["tasks"]["gen"]["max_new_tokens"] == 6
    assert results["config"]["preset_generation"] == {"max_new_tokens": 6}
    assert results["config"]["max_new_tokens"] is None
    assert all(s["generated_tokens"] <= 6 for s in samples)
    assert max(s["generated_tokens"] for s in samples) > 2, [(s["generated_tokens"], s["finish_reason"]) for s in samples]

    # --max-new-tokens wins over both
    results, samples = _eval(setup, "tiny-floor", "--max-new-tokens", "3")
    assert results["tasks"]["gen"]["max_new_tokens"] == 3 and results["config"]["max_new_tokens"] == 3
    assert all(s["generated_tokens"] <= 3 for s in samples)

    # no preset: the task's own budget
    results, samples = _eval(setup, str(tiny_base_model))
    assert results["tasks"]["gen"]["max_new_tokens"] == 2 and results["config"]["preset_generation"] is None
    assert all(s["generated_tokens"] <= 2 for s in samples)
