"""Tests that need something a machine may lack (Debian's chromium, Ray, a kernel feature) skip with the reason
here, and fail instead under CI (CI=true), where .ci/run installs all of it: CI never passes by skipping."""

from __future__ import annotations

import os

import pytest


def require(ok: bool, why: str) -> None:
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI must run this test, not skip it)")
    pytest.skip(why)
