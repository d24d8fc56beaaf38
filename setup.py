"""Only the build step that puts the repository's data folders into the wheel; everything else is in pyproject.toml.

tasks/, configs/ and leaderboard/ stay top-level folders of the repository (the source of truth); a wheel carries
copies of them under harness/_data, where harness.resources finds them. Editable installs read the folders in
place and get no copies."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLED = ("tasks", "configs", "leaderboard")


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        here = Path(__file__).resolve().parent
        for name in BUNDLED:
            target = Path(self.build_lib) / "harness" / "_data" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(here / name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithData})
