"""Where task files live: the tasks/ folder the harness ships with (harness/resources.py), after any folders named in HARNESS_TASKS_DIR.

A module of its own so that the template sandbox (which must know the roots an include may read from) and the
task loader both depend on it, and not on each other."""

from __future__ import annotations

import os
from pathlib import Path

from harness.resources import bundled

REPO_TASKS_DIR = bundled("tasks")  # the checkout's tasks/, or the installed package's copy
TASKS_DIR_ENV = "HARNESS_TASKS_DIR"


def task_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(TASKS_DIR_ENV, "").split(os.pathsep) if p]
    return extra + [REPO_TASKS_DIR]
