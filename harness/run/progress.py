"""Progress a person can follow wherever the output goes: a redrawn bar on a terminal, and plain lines (a first one
at once, then one every `interval` seconds, and a last one) in a log file, a pipe or CI, where a redrawn bar
is either invisible or a wall of carriage returns. `--no-progress` silences both."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable, TextIO

INTERVAL = 10.0  # seconds between plain lines


def progress(total: int, desc: str, unit: str, enabled: bool, stream: TextIO | None = None) -> Any:
    """An object with update(n) and close(): tqdm on a terminal, LineProgress elsewhere, silent when disabled."""
    stream = stream or sys.stderr
    if enabled and not _is_tty(stream):
        return LineProgress(total, desc, unit, stream, tick=True)
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True, leave=False, file=stream)


def _is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(callable(isatty) and isatty())


class LineProgress:
    """`eval: 120/560 items (21%), 35 s, about 2 min left`, one line every `interval` seconds at most. With `tick`,
    a thread also says it when nothing finished for `interval` seconds (a long batch), so a log never goes quiet."""

    def __init__(self, total: int, desc: str, unit: str, stream: TextIO, interval: float = INTERVAL,
                 clock: Callable[[], float] = time.monotonic, tick: bool = False) -> None:
        self.total, self.desc, self.unit, self.stream, self.interval, self.clock = total, desc, unit, stream, interval, clock
        self.n = 0
        self.start = self.last = clock()
        self.closed = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._say(f"{self.desc}: {total} {self._units(total)} to do")
        if tick:
            threading.Thread(target=self._tick, name=f"progress-{desc}", daemon=True).start()

    def update(self, n: int = 1) -> None:
        with self._lock:
            self.n += n
            self._maybe_say()

    def _tick(self) -> None:
        while not self._stop.wait(self.interval / 4):
            with self._lock:
                if not self.closed:
                    self._maybe_say()

    def _maybe_say(self) -> None:
        now = self.clock()
        if now - self.last >= self.interval and self.n < self.total:
            self.last = now
            self._say(f"{self._count()}, {_duration(now - self.start)}{self._eta(now)}")

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._say(f"{self._count()} in {_duration(self.clock() - self.start)}")

    def _count(self) -> str:
        pct = f" ({100 * self.n // self.total}%)" if self.total else ""
        return f"{self.desc}: {self.n}/{self.total} {self._units(self.total)}{pct}"

    def _eta(self, now: float) -> str:
        if self.n < max(1.0, self.total / 20) or self.n >= self.total:  # the first items carry the warm-up: no guess yet
            return ""
        left = (now - self.start) / self.n * (self.total - self.n)
        return f", about {_duration(left)} left"

    def _units(self, k: int) -> str:
        return self.unit if k == 1 else self.unit + "s"

    def _say(self, line: str) -> None:
        try:
            print(line, file=self.stream, flush=True)
        except (OSError, ValueError):  # a closed pipe never stops a run
            pass


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"
