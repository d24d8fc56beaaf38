"""CSL, FollowBench's consecutive satisfied levels: how far up a chain of ever harder instructions a model stays right.

An example of FollowBench is a chain: the same instruction at levels 1..5, each level adding one constraint. Its
CSL is the number of levels, counted from level 1, whose every constraint is met before the first one that is not
(csl_evaluation / csl_five_constraint / csl_example_constraint in code_zh/ @ 6278f4c1). Upstream averages it over
the chains of a constraint file; the overall figure here is the mean over files, as its tables average categories.

Only a whole chain can be counted: one with a level missing (a --limit run draws items, not chains) or with a
verdict that could not be read is left out of CSL and counted, never scored as stopping there.
"""

from __future__ import annotations

from typing import Any


class ChainTally:
    """Per chain, each level's value of the metric (1 = every constraint met), fed one item at a time."""

    def __init__(self, chain: str, level: str, by: str, levels: int, metric: str) -> None:
        self.chain, self.level, self.by, self.levels, self.metric = chain, level, by, levels, metric
        self.values: dict[tuple[str, str], dict[int, float | None]] = {}

    def add(self, meta: dict[str, Any], metrics: dict[str, float]) -> None:
        """One item; an item without the metric (its verdict could not be read) marks its chain as unreadable."""
        if meta.get(self.chain) is None or meta.get(self.level) is None:
            return
        key = (str(meta.get(self.by, "")), str(meta[self.chain]))
        self.values.setdefault(key, {})[int(meta[self.level])] = metrics.get(self.metric)

    def result(self) -> dict[str, Any]:
        """csl: mean over groups (constraint files) of the mean CSL of their whole chains; csl_by: per group;
        chains counted and left out (a level missing, or a verdict unread)."""
        per_group: dict[str, list[int]] = {}
        missing = unread = 0
        for (group, _), levels in sorted(self.values.items()):
            if any(k not in levels for k in range(1, self.levels + 1)):
                missing += 1
                continue
            if any(levels[k] is None for k in range(1, self.levels + 1)):
                unread += 1
                continue
            run = 0
            for k in range(1, self.levels + 1):
                if levels[k] != 1.0:
                    break
                run += 1
            per_group.setdefault(group, []).append(run)
        by = {g: sum(v) / len(v) for g, v in per_group.items()}
        return {
            "csl": sum(by.values()) / len(by) if by else None,
            "csl_by": {g: {"csl": by[g], "chains": len(per_group[g])} for g in sorted(by)},
            "csl_chains": sum(len(v) for v in per_group.values()),
            "csl_chains_incomplete": missing,  # a level not in this run (--limit)
            "csl_chains_unread": unread,  # a level's verdict could not be read
        }
