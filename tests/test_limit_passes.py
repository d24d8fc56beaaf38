"""A --limit run's later passes read only what they need: a subset none of whose rows was drawn is not read, and
one is read only up to its last drawn row. The items, and their order, are exactly those of a full pass filtered
by the draw (benchmarks/limit_passes.py: superclue at --limit 3, two passes 6.4 s before, 3.0 s after)."""

from __future__ import annotations

from pathlib import Path

from harness.tasks.task import Task, resolve_task_files


def _full_pass(stream) -> list[str]:
    """The old iteration: every row of every subset, filtered by the draw's flags."""
    out = []
    for subset in sorted(stream.source.subsets):
        flags = stream.chosen[subset] if stream.chosen is not None else None
        pos = 0
        for i, row in enumerate(stream.source.rows(subset)):
            sample = stream.task._to_sample(row, i, subset)
            if sample is None:
                continue
            if flags is None or flags[pos]:
                out.append(sample.sample_id)
            pos += 1
    return out


def test_limited_passes_read_less_and_yield_the_same_items(data_dir: Path) -> None:
    (path,) = resolve_task_files(["ceval"])
    task = Task.load(path)
    for limit in (3, 60, None):
        stream = task.plan(data_dir, limit, 1234)
        read: list[str] = []
        original = stream.source.read
        stream.source.read = lambda subset, read=read, original=original: (read.append(subset), original(subset))[1]
        ids = [s.sample_id for s in stream]
        stream.source.read = original
        assert ids == _full_pass(stream) and len(ids) == len(stream)
        drawn = {s for s, flags in (stream.chosen or {}).items() if any(flags)}
        if limit is not None:
            assert set(read) == drawn  # untouched subsets are not read
            assert limit != 3 or len(read) == 3  # 3 items of 52 subjects: 3 subjects read, not 52
        else:
            assert len(read) == len(stream.source.subsets) == 52
    # a second pass after a cut-short one gives the same items again
    stream = task.plan(data_dir, 3, 1234)
    assert [s.sample_id for s in stream] == [s.sample_id for s in stream] == _full_pass(stream)
