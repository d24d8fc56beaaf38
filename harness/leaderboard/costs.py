"""Cost on the leaderboard: prices given at build (`harness leaderboard build --prices FILE`) priced over every
throughput entry's measured time and energy, with the same definitions as at eval (harness/results/prices.py);
without a prices file, the cost a run recorded at eval (if any) is shown as it was recorded."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from harness.leaderboard.collect import Leaderboard, ModelRow, Throughput
from harness.results.prices import Prices, run_cost


def apply_prices(board: Leaderboard, prices: Prices) -> None:
    """Replace every throughput entry's cost with one priced from `prices`."""
    for row in board.rows:
        for key, tp in list(row.throughput.items()):
            row.throughput[key] = replace(tp, cost=run_cost(
                prices, kind=tp.kind, name=tp.accelerator_name, devices=tp.devices, seconds=tp.seconds,
                energy_joules=tp.energy_joules, generated_tokens=tp.generated_tokens, items=tp.items,
                correct=tp.correct_answers, all_computed=tp.cached_requests == 0))


def efficiency_rows(board: Leaderboard) -> list[dict[str, Any]]:
    """One row per (entry, accelerator and backend) that has a measured energy or a cost, for the efficiency
    page's energy and cost table, cheapest per million generated tokens first."""
    out: list[tuple[ModelRow, Throughput]] = [(r, tp) for r in board.rows for tp in r.throughput.values()
                                             if tp.energy_joules is not None or (tp.cost and tp.cost.get("total") is not None)]
    out.sort(key=lambda e: (((e[1].cost or {}).get("per_million_generated_tokens") is None),
                            (e[1].cost or {}).get("per_million_generated_tokens") or 0.0, e[0].model, e[1].key))
    return [{"row": r, "tp": tp, "cost": tp.cost or {}} for r, tp in out]
