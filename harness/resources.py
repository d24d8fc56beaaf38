"""The data the harness ships with: task files and suites (tasks/), model presets (configs/) and the site's templates
and assets (leaderboard/).

The top-level folders of the repository are the source of truth. A wheel carries copies of them as package data
under harness/_data (setup.py's build step puts them there), found through importlib.resources; a checkout or an
editable install reads the folders themselves, so an edit to a task file takes effect without reinstalling."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

BUNDLED = ("tasks", "configs", "leaderboard")
_CHECKOUT = Path(__file__).resolve().parent.parent


def bundled(name: str) -> Path:
    """The folder `name` (one of BUNDLED): the installed package's copy, else the checkout's own folder."""
    if name not in BUNDLED:
        raise ValueError(f"not a bundled folder: {name}")
    packaged = Path(str(resources.files("harness").joinpath("_data").joinpath(name)))
    if packaged.is_dir():
        return packaged
    return _CHECKOUT / name
