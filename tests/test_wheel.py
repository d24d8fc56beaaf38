"""The wheel is the whole product: built from this checkout, installed non-editable into a fresh environment and run
from a folder outside the checkout, it lists its tasks, builds a tiny model, evaluates it and builds the site.

Before, the wheel held only .py files: outside the checkout `harness tasks` listed nothing, every task was "unknown",
presets and suites were "none found", and `harness leaderboard build` failed with TemplateNotFound. The fresh
environment borrows the test environment's installed dependencies through a .pth file (a .pth line adds a folder
to sys.path without running that folder's own .pth files, so the editable install of the checkout stays out)."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A fresh venv with the wheel installed non-editable; returns its python and the environment to run it in."""
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp / "dist"),
                    str(REPO)], check=True, timeout=300, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    (wheel,) = (tmp / "dist").glob("*.whl")
    assert wheel.name.startswith("zh_llm_harness-")
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("harness/_data/tasks/suites/superclue.yaml", "harness/_data/configs/models/qwen3-0.6b.yaml",
                   "harness/_data/leaderboard/templates/base.html", "harness/_data/leaderboard/static/site.css"):
        assert needed in names, needed
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    purelib = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], check=True,
                             capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, timeout=300, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HARNESS_TASKS_DIR")}
    return py, env


def _harness(py: Path, env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = py.parent / "harness"
    proc = subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_installed_wheel_runs_outside_the_checkout(installed: tuple[Path, dict[str, str]], data_dir: Path,
                                                    tmp_path: Path) -> None:
    py, env = installed
    where = subprocess.run([str(py), "-c", "import harness, harness.resources as r; print(harness.__file__); "
                            "print(r.bundled('tasks')); from harness.tasks.suites import load_suite; "
                            "print(len(load_suite('superclue').tasks)); from harness.models.presets import load_presets; "
                            "print(load_presets()['qwen3-0.6b'].name)"], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    module, tasks_dir, n_suite_tasks, preset = where.stdout.split()
    assert not module.startswith(str(REPO)) and not tasks_dir.startswith(str(REPO))  # the installed copy, not the checkout
    assert tasks_dir.endswith("harness/_data/tasks") and int(n_suite_tasks) > 10 and preset == "qwen3-0.6b"

    listing = _harness(py, env, tmp_path, "tasks").stdout
    assert "ceval" in listing and "humaneval_zh" in listing
    _harness(py, env, tmp_path, "tiny-model", "--arch", "qwen2", "-o", str(tmp_path / "tiny"))
    _harness(py, env, tmp_path, "eval", "--model", str(tmp_path / "tiny"), "--tasks", "ceval", "--data-dir", str(data_dir), "--limit", "8", "--output-dir", str(tmp_path / "results"),
             "--no-progress", "--no-cache")
    (results_file,) = (tmp_path / "results").rglob("*.json")
    assert json.loads(results_file.read_text(encoding="utf-8"))["tasks"]["ceval"]["n_samples"] == 8
    _harness(py, env, tmp_path, "leaderboard", "build", str(tmp_path / "results"), "-o", str(tmp_path / "site"))
    assert (tmp_path / "site" / "index.html").is_file() and (tmp_path / "site" / "assets" / "site.css").is_file()
