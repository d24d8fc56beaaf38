"""One exception type for mistakes the user can fix; the CLI prints it as one line, without a traceback."""

from __future__ import annotations

from typing import Iterable


class HarnessError(Exception):
    """A user-facing error: the message names the file, field or flag and what to do."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """"; did you mean 'ceval'?" for a misspelt name, or "" when nothing known is close (difflib, case-blind)."""
    import difflib

    by_lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)
    if not close:
        return ""
    names = [f"'{by_lower[c]}'" for c in close]
    return "; did you mean " + (", ".join(names[:-1]) + " or " if len(names) > 1 else "") + names[-1] + "?"
