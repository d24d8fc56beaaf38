"""Containment of poison input: text that cannot be written, and file trees that cannot be removed the usual way.

Text. A Python string may hold a lone surrogate (U+D800..U+DFFF): a JSON document (a model server's reply, a data
file) may escape half of a UTF-16 pair as "\\ud800", and `json.loads` gives exactly that. Such a string cannot be
encoded as UTF-8, so every writer (the samples file, the results file, the response cache, a sandboxed program's
source or stdin) would fail with UnicodeEncodeError, and with it the run, on every rerun from the cache too.
`clean_text` replaces each lone surrogate with U+FFFD (what a UTF-8 decoder shows for a bad byte) and leaves every
other character alone: control characters and very long lines are kept as they are (JSON writers escape the
control characters; what is shown elsewhere is the viewer's business). Text is cleaned where it enters the harness
(data rows, backend results, rendered templates) and again, defensively, by every writer.

Trees. `remove_tree` removes a directory tree of any depth and any permissions left behind by a sandboxed program
(a 2,500-deep chain of folders makes `shutil.rmtree` fail with RecursionError on Python < 3.12, and its full paths
exceed PATH_MAX): it walks with one open directory at a time, relative to file descriptors, never follows a
symbolic link, and never raises.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import fields, is_dataclass, replace
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def clean_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD; the same object when there is none."""
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub(REPLACEMENT, text)


def has_surrogate(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def printable(text: str) -> str:
    """Text for one line of a terminal: control characters (escape sequences, newlines, NUL), line separators and
    lone surrogates shown as escapes (\\x1b, \\n, \\ud800) instead of acting on the terminal."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape", "backslashreplace").decode("ascii")
                            if not "\ud800" <= m.group() <= "\udfff" else f"\\u{ord(m.group()):04x}", text)


def clean(obj: Any) -> Any:
    """Strings anywhere in a JSON-like value (dict keys and values, lists, tuples) cleaned with `clean_text`."""
    if isinstance(obj, str):
        return clean_text(obj)
    if isinstance(obj, dict):
        return {clean(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [clean(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(clean(v) for v in obj)
    return obj


def clean_result(result: Any) -> Any:
    """A backend's result (GenerateResult, LoglikelihoodResult) with its text fields cleaned; the same object when
    nothing needed cleaning."""
    if not is_dataclass(result) or isinstance(result, type):
        return result
    changes = {}
    for f in fields(result):
        value = getattr(result, f.name)
        if isinstance(value, str) and has_surrogate(value):
            changes[f.name] = clean_text(value)
    return replace(result, **changes) if changes else result


# ------------------------------------------------------------------------------------------------ trees
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _open_dir(name: str, dir_fd: int | None) -> int | None:
    """Open a directory (never through a symlink); a folder without permissions is given them first (its owner can)."""
    for attempt in range(2):
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except PermissionError:
            if attempt:
                return None
            try:
                os.chmod(name, 0o700, dir_fd=dir_fd)
            except (OSError, NotImplementedError):
                return None
        except OSError:
            return None
    return None


def remove_tree(path: str | os.PathLike[str]) -> bool:
    """Remove `path` and everything beneath it; True when it is gone. Iterative (no recursion limit), relative to
    one open directory at a time (no PATH_MAX, no file-descriptor limit), never follows symlinks, chmods folders
    left without permissions, skips what cannot be removed, and never raises."""
    path = os.fspath(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode):
        try:
            os.unlink(path)
            return True
        except OSError:
            return False
    try:
        return _remove_dir_tree(path)
    except Exception:  # noqa: BLE001 - cleanup must never fail the caller
        return False


def _remove_dir_tree(path: str) -> bool:
    fd = _open_dir(path, None)
    if fd is None:
        try:
            os.rmdir(path)
            return True
        except OSError:
            return False
    names: list[str] = []  # the folder names from `path` down to the folder `fd` is open on
    stuck: set[tuple[int, int]] = set()  # folders that could not be emptied: never entered again
    try:
        while True:
            try:
                os.fchmod(fd, 0o700)  # so its entries can be removed (a folder left read-only)
            except OSError:
                pass
            subdir: str | None = None
            try:
                with os.scandir(fd) as entries:
                    for entry in entries:
                        try:
                            if entry.is_dir(follow_symlinks=False):
                                st = entry.stat(follow_symlinks=False)
                                if (st.st_dev, st.st_ino) not in stuck and subdir is None:
                                    subdir = entry.name
                                continue
                            os.unlink(entry.name, dir_fd=fd)
                        except OSError:
                            continue
            except OSError:
                pass
            if subdir is not None:
                child = _open_dir(subdir, fd)
                if child is not None:
                    os.close(fd)
                    fd = child
                    names.append(subdir)
                    continue
                try:
                    os.rmdir(subdir, dir_fd=fd)
                except OSError:
                    try:
                        st = os.stat(subdir, dir_fd=fd, follow_symlinks=False)
                        stuck.add((st.st_dev, st.st_ino))
                    except OSError:
                        pass
                continue
            if not names:
                break
            # this folder is empty (or holds only what cannot be removed): back up and remove it
            try:
                me = os.fstat(fd)
                parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
            except OSError:
                return False
            os.close(fd)
            fd = parent
            name = names.pop()
            try:
                os.rmdir(name, dir_fd=fd)
            except OSError:
                stuck.add((me.st_dev, me.st_ino))
    finally:
        os.close(fd)
    try:
        os.rmdir(path)
        return True
    except OSError:
        return False
