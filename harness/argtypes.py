"""Value types for command-line flags: each turns a string into a checked value or an argparse error naming the
value, so a bad flag is one usage line. Standard library only: `harness --help` must not import anything heavy."""

from __future__ import annotations

import argparse
import math


def positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"'{value}' is not a positive integer")
    return n


def nonneg_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"'{value}' is not a non-negative integer")
    return n


def positive_float(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        x = -1.0
    if not (x > 0 and math.isfinite(x)):
        raise argparse.ArgumentTypeError(f"'{value}' is not a positive number")
    return x


def fraction(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        x = -1.0
    if not 0 < x <= 1:
        raise argparse.ArgumentTypeError(f"'{value}' is not a fraction in (0, 1]")
    return x


def batch_size(value: str) -> str:
    if value == "auto" or (value.isdigit() and int(value) > 0):
        return value
    raise argparse.ArgumentTypeError(f"'{value}' is not a positive integer or auto")


def positive_ints(value: str) -> list[int]:
    """A comma-separated list of positive integers, e.g. 1,4,16."""
    try:
        out = [int(x) for x in value.split(",") if x.strip()]
    except ValueError:
        out = []
    if not out or any(x < 1 for x in out):
        raise argparse.ArgumentTypeError(f"'{value}' is not a comma-separated list of positive integers")
    return out


def rates(value: str) -> list[float]:
    """A comma-separated list of positive rates, inf allowed, e.g. 1,2,inf."""
    try:
        out = [math.inf if x.strip() == "inf" else float(x) for x in value.split(",") if x.strip()]
    except ValueError:
        out = []
    if not out or any(not x > 0 for x in out):
        raise argparse.ArgumentTypeError(f"'{value}' is not a comma-separated list of positive rates (or inf)")
    return out
