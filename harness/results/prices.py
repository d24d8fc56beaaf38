"""What a run cost in money, from prices the user gives (`--prices FILE` at eval or at leaderboard build): never
baked in, since they differ by provider, region, contract and year.

The prices file (YAML):

    currency: CNY                 # any currency; every cost is in it
    accelerator_hour:             # price of one device for one hour, by accelerator name or kind
      NVIDIA H800: 14.0           #   exact name, or a part of it ("H800"), matched case-insensitively
      Ascend910B: 9.5
      cpu: 0.6                    #   or a kind: cuda, npu, xpu, mlu, hpu, mps, cpu
    electricity_per_kwh: 0.85     # optional: the measured energy times this

At least one of the two prices. A run's cost = devices x hours of the request phase (`seconds`, model load
excluded) x the accelerator-hour price + measured kWh x the electricity price; a part whose price is not given,
or whose energy was not measured, is left out and `cost.includes` says what is in. Then:

* per_million_generated_tokens = cost / all tokens the run generated (every task; likelihood work included) x 10^6;
* per_1k_items = cost / items evaluated x 1,000;
* per_correct_answer = cost / correct answers (each task's primary score / 100 x its items, partial credit in part).

The last two only for a run that computed every answer (none from the response cache): otherwise the cost covers
part of the items. A run that measured nothing (all from the cache) has no cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

FIELDS = ("currency", "accelerator_hour", "electricity_per_kwh")
KINDS = ("cuda", "npu", "xpu", "mlu", "hpu", "mps", "cpu")


@dataclass(frozen=True)
class Prices:
    source: str
    currency: str
    accelerator_hour: dict[str, float]
    electricity_per_kwh: float | None

    def hour_price(self, kind: str, name: str) -> tuple[str, float] | None:
        """(the key that matched, price per device-hour): the exact name, else the longest key contained in the
        name, else the kind; None when nothing matches."""
        low = {k.casefold(): (k, v) for k, v in self.accelerator_hour.items()}
        n = (name or "").casefold()
        if n in low:
            return low[n]
        inside = [k for k in low if k not in KINDS and k and k in n]
        if inside:
            return low[max(inside, key=len)]
        return low.get((kind or "").casefold())


def _bad(path: Path | str, where: str, problem: str) -> HarnessError:
    return HarnessError(f"--prices {path}: {where}: {problem}")


def _price(path: Path | str, where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise _bad(path, where, f"should be a price, a number >= 0 (got {value!r})")
    return float(value)


def load_prices(path: Path | str) -> Prices:
    """Read and check a prices file; any problem is one line naming the file and the field."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise HarnessError(f"--prices {path}: cannot be read ({e.strerror or type(e).__name__})") from None
    except UnicodeDecodeError:
        raise HarnessError(f"--prices {path}: not UTF-8 text") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        raise HarnessError(f"--prices {path}: not valid YAML{at}") from None
    if not isinstance(data, dict):
        raise _bad(path, "top level", f"should be a mapping with {', '.join(FIELDS)}")
    for key in data:
        if key not in FIELDS:
            raise _bad(path, str(key), f"unknown field (the fields are {', '.join(FIELDS)})")
    currency = data.get("currency")
    if not isinstance(currency, str) or not currency.strip():
        raise _bad(path, "currency", "required: the currency of every price, e.g. CNY or USD")
    hours = data.get("accelerator_hour") or {}
    if not isinstance(hours, dict):
        raise _bad(path, "accelerator_hour", "should map accelerator names or kinds to a price per device-hour")
    prices = {str(k): _price(path, f"accelerator_hour.{k}", v) for k, v in hours.items()}
    kwh = data.get("electricity_per_kwh")
    kwh = _price(path, "electricity_per_kwh", kwh) if kwh is not None else None
    if not prices and kwh is None:
        raise _bad(path, "accelerator_hour", "give accelerator_hour prices, electricity_per_kwh, or both")
    return Prices(str(path), currency.strip(), prices, kwh)


def _n(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0 else None


def items_and_correct(tasks: Any) -> tuple[int, float | None]:
    """(items evaluated, correct answers) over a run's task blocks: n_samples, and score / 100 x n_samples of
    each task whose primary score is a 0..100 figure (None when some task's is not)."""
    items = 0
    correct: float | None = 0.0
    for t in (tasks.values() if isinstance(tasks, dict) else ()):
        if not isinstance(t, dict):
            continue
        n, score = _n(t.get("n_samples")), _n(t.get("score"))
        items += int(n or 0)
        if correct is not None and n is not None and score is not None and score <= 100:
            correct += score / 100 * n
        else:
            correct = None
    return items, correct


def run_cost(prices: Prices, *, kind: str, name: str, devices: int, seconds: float | None,
             energy_joules: float | None, generated_tokens: float | None, items: int, correct: float | None,
             all_computed: bool, measured: bool = True) -> dict[str, Any]:
    """The cost block of one run (see the module doc); every figure None where its inputs are not known."""
    out: dict[str, Any] = {"currency": prices.currency, "prices_file": prices.source, "total": None, "includes": []}
    if not measured:
        out["note"] = "not measured: the answers came from the response cache"
        return out
    notes = []
    total = 0.0
    hour = prices.hour_price(kind, name)
    if hour is not None and seconds:
        device_hours = max(devices, 1) * seconds / 3600
        out.update(accelerator_price_key=hour[0], accelerator_hour_price=hour[1], device_hours=device_hours,
                   accelerator_cost=device_hours * hour[1])
        total += device_hours * hour[1]
        out["includes"].append("accelerator time")
    elif prices.accelerator_hour:
        notes.append(f"no accelerator_hour price for {name or kind}")
    if prices.electricity_per_kwh is not None:
        if energy_joules is not None:
            kwh = energy_joules / 3.6e6
            out.update(energy_kwh=kwh, electricity_per_kwh=prices.electricity_per_kwh,
                       electricity_cost=kwh * prices.electricity_per_kwh)
            total += kwh * prices.electricity_per_kwh
            out["includes"].append("electricity")
        else:
            notes.append("electricity not included: energy not measured")
    if out["includes"]:
        out["total"] = total
        out["per_million_generated_tokens"] = total / generated_tokens * 1e6 if generated_tokens else None
        if all_computed:
            out["per_1k_items"] = total / items * 1000 if items else None
            out["per_correct_answer"] = total / correct if correct else None
        else:
            out["per_1k_items"] = out["per_correct_answer"] = None
            notes.append("per item and per correct answer left out: some answers came from the response cache")
        out["items"], out["correct_answers"] = items, correct
    if notes:
        out["note"] = "; ".join(notes)
    return out


def cost_of_results(throughput: dict[str, Any], tasks: dict[str, Any], prices: Prices) -> dict[str, Any]:
    """The cost block for a results file as this harness writes it (its throughput and task blocks)."""
    acc = throughput.get("accelerator") or {}
    items, correct = items_and_correct(tasks)
    return run_cost(prices, kind=str(acc.get("kind") or ""), name=str(acc.get("name") or ""),
                    devices=int(acc.get("count") or 1), seconds=_n(throughput.get("seconds")),
                    energy_joules=_n(throughput.get("energy_joules")),
                    generated_tokens=_n(throughput.get("generated_tokens")), items=items, correct=correct,
                    all_computed=not throughput.get("cached_requests"),
                    measured=throughput.get("measured") is not False)
