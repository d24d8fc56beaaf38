"""The table printed at the end of a run: scores per task and group, then what it cost."""

from __future__ import annotations

from typing import Any


def _fmt(x: Any, digits: int = 2) -> str:
    return "-" if x is None or x != x else f"{x:.{digits}f}"


def print_summary(results: dict[str, Any], results_path: str) -> None:
    from rich.console import Console, JustifyMethod
    from rich.table import Table

    console = Console()
    m = results["model"]
    table = Table(title=f"{m['name']}  ({m['backend']}, {m['dtype']}, {'chat' if m['chat_template_applied'] else 'raw prompt'})")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("task / group", "left"), ("mode", "left"), ("shots", "right"), ("n", "right"), ("score", "right"), ("± se", "right"))
    for col, justify in columns:
        table.add_column(col, justify=justify)
    for name, t in results["tasks"].items():
        metrics = t["metrics"]
        mode = t["mode"] + (f" ({metrics['unextracted']} unextracted)" if metrics.get("unextracted") else "")
        if metrics.get("judge_unparsed"):
            mode += f" ({metrics['judge_unparsed']} verdicts unparsed)"
        if metrics.get("statuses") and set(metrics["statuses"]) - {"passed", "failed"}:
            mode += " (" + ", ".join(f"{n} {k}" for k, n in metrics["statuses"].items() if k not in ("passed", "failed")) + ")"
        mode += context_note(t.get("context"))
        left_out = (t.get("data") or {}).get("excluded_rows")
        if left_out:  # rows the task file leaves out (dataset.exclude: data that cannot be scored), counted
            mode += f" ({left_out} row{'s' if left_out != 1 else ''} left out by the task file)"
        label = f"[bold]{name}[/bold]" + ("" if t["primary_metric"] == "accuracy" else f" ({t['primary_metric']})")
        table.add_row(label, mode, str(t["num_fewshot"]), str(t["n_samples"]), _fmt(t["score"]), _fmt(t["score_stderr"]))
        groups = t["aggregate"]["groups"]
        keys = list(groups)
        for key in keys[1:] if len(keys) > 1 else []:  # the coarse groups (e.g. STEM); subjects are in the file
            for g, entry in groups[key].items():
                table.add_row(f"  {g}", "", "", str(entry["n"]), _fmt(entry["score"]), _fmt(entry["micro_stderr"]))
    console.print(table)
    _print_thinking(console, results)
    if results.get("suite"):
        _print_suite(console, results["suite"])
    for note in results.get("notes") or []:
        console.print(f"note: {note}")
    console.print(throughput_line(results["throughput"]), markup=False, highlight=False)
    cost = cost_line(results["throughput"].get("cost"))
    if cost:
        console.print(cost, markup=False, highlight=False)
    judge = results.get("judge")
    if judge:
        jt = judge["throughput"]
        console.print(
            f"judge {judge['model']['name']} ({judge['backend']}): {judge['requests']} verdicts in {jt['seconds']:.1f}s "
            f"(+{jt['model_load_seconds']:.1f}s load) | generated {_fmt(jt.get('generated_tokens_per_s'), 1)} tok/s over "
            f"{_fmt(jt.get('generate_seconds'), 1)}s of generation | wall: generated "
            f"{_fmt(jt.get('wall_generated_tokens_per_s', jt.get('generated_tokens_per_s')), 1)} tok/s | "
            f"unparsed {sum(judge['unparsed_verdicts'].values())}"
            + (f" (items too long for the judge's context: {sum(judge['too_long_for_judge'].values())})"
               if judge.get("too_long_for_judge") else "")
        )
    console.print(f"results: {results_path}\nsamples: {results['samples_file']}")


def throughput_line(tp: dict[str, Any]) -> str:
    """The run's cost in one line, with the results' names: `generated_tokens_per_s` is decoding speed over the
    generate-mode requests' time only; `wall` rates are over the whole request phase; per accelerator is divided
    by the devices used. A run answered all or mostly from the response cache says it measured nothing."""
    acc = tp.get("accelerator") or {}
    n = acc.get("count") or 1
    par = acc.get("parallel") or {}
    layout = (" (" + ", ".join(f"{k} parallel {v}" for k, v in par.items() if v > 1) + ")") if par else ""
    head = f"{acc.get('kind', '?')} {acc.get('name', '?')} x{n}{layout}"
    cached = tp.get("cached_requests") or 0
    done = (f"{tp.get('computed_requests', tp.get('samples', 0))} requests computed"
            + (f", {cached} from the cache" if cached else "") + f" in {tp.get('seconds', 0):.1f}s"
            + f" (+{tp.get('model_load_seconds', 0):.1f}s load)")
    if tp.get("measured") is False:
        return (f"{head}: {done} | throughput not measured: {tp.get('measured_note', 'answers from the cache')}; "
                "the leaderboard keeps the last run that measured it")
    per = tp.get("per_accelerator") or {}
    gen = f"generated {_fmt(tp.get('generated_tokens_per_s'), 1)} tok/s over {_fmt(tp.get('generate_seconds'), 1)}s of generation"
    if n > 1:
        gen += f" ({_fmt(per.get('generated_tokens_per_s'), 1)} per accelerator)"
    wall = (f"wall: generated {_fmt(tp.get('wall_generated_tokens_per_s'), 1)} tok/s, "
            f"prompt {_fmt(tp.get('wall_prompt_tokens_per_s'), 0)} tok/s, {_fmt(tp.get('wall_samples_per_s'))} requests/s")
    peak = tp.get("peak_memory_bytes")
    parts = [f"{head}: {done}", gen, f"prompt {_fmt(tp.get('prompt_tokens_per_s'), 0)} tok/s", wall,
             f"peak memory {peak / 2**30:.2f} GiB" if isinstance(peak, (int, float)) else "peak memory -"]
    joules = tp.get("energy_joules")
    if joules is not None:
        jpt, jpi = tp.get("joules_per_generated_token"), tp.get("joules_per_item")
        parts.append(f"energy {joules / 1000:.2f} kJ over {tp.get('energy_devices') or n} device(s)"
                     + (f", {jpt:.3g} J/generated token" if jpt is not None else "")
                     + (f", {jpi:.3g} J/item" if jpi is not None else "")
                     + (f" ({tp['energy_method']})" if tp.get("energy_method") else ""))
    elif tp.get("energy_note"):
        parts.append(f"energy not measured: {tp['energy_note']}")
    return " | ".join(parts)


def cost_line(cost: dict[str, Any] | None) -> str | None:
    """The run's cost from the prices file (harness/results/prices.py), with the parts it includes."""
    if not cost:
        return None
    cur = cost.get("currency", "")
    head = f"cost ({cur}, prices from {cost.get('prices_file')})"
    if cost.get("total") is None:
        return f"{head}: not computed: {cost.get('note', 'no price applies')}"
    parts = []
    if cost.get("accelerator_cost") is not None:
        parts.append(f"accelerator time {cost['accelerator_cost']:.4g} ({cost['device_hours']:.4g} device-h x "
                     f"{cost['accelerator_hour_price']:g} for {cost['accelerator_price_key']})")
    if cost.get("electricity_cost") is not None:
        parts.append(f"electricity {cost['electricity_cost']:.4g} ({cost['energy_kwh']:.4g} kWh x {cost['electricity_per_kwh']:g})")
    line = f"{head}: {cost['total']:.4g} = " + " + ".join(parts)
    for key, label in (("per_million_generated_tokens", "per million generated tokens"),
                       ("per_1k_items", "per 1,000 items"), ("per_correct_answer", "per correct answer")):
        if cost.get(key) is not None:
            line += f" | {cost[key]:.4g} {label}"
    if cost.get("note"):
        line += f" | {cost['note']}"
    return line


def _print_thinking(console: Any, results: dict[str, Any]) -> None:
    """What generating cost per task: reasoning vs answer tokens, time per item and tokens per correct answer."""
    from rich.table import Table

    rows = [(n, t["thinking"]) for n, t in results["tasks"].items() if t.get("thinking")]
    plan = (results["model"].get("thinking") or {})
    if not rows or not (plan.get("enabled") or any(th.get("with_reasoning") for _, th in rows)):
        return
    table = Table(title=f"thinking {'on' if plan.get('enabled') else 'off'}: what the answers cost")
    for col in ("task", "think tok (p90)", "answer tok", "unfinished", "s/item", "tok/s", "tok/correct", "avg@N"):
        table.add_column(col, justify="left" if col == "task" else "right")
    for name, th in rows:
        r, a = th.get("reasoning_tokens"), th.get("answer_tokens")
        across = results["tasks"][name]["metrics"].get("across_samples")
        table.add_row(name, f"{_fmt(r['mean'], 0)} ({r['p90']})" if r else "-", _fmt(a["mean"], 0) if a else "-",
                      f"{th['unfinished_reasoning']}/{th['generations']}", _fmt(th["seconds_per_item"]),
                      _fmt(th["generated_tokens_per_s"], 1), _fmt(th["tokens_per_correct"], 0),
                      f"{_fmt(across['mean'])}±{_fmt(across['stderr'])} N={across['samples']}" if across else "-")
    console.print(table)


def context_note(ctx: dict[str, Any] | None) -> str:
    """What a task's items needed that the run did not do as asked: " (3 too long, skipped; 2 fewer shots)"."""
    if not ctx:
        return ""
    parts = []
    if ctx.get("skipped"):
        parts.append(f"{ctx['skipped']} too long for context {ctx.get('limit')}, skipped")
    if ctx.get("fewer_shots"):
        parts.append(f"{ctx['fewer_shots']} with fewer shots")
    if ctx.get("budget_capped"):
        parts.append(f"{ctx['budget_capped']} with a smaller generation budget")
    for reason, ex in (ctx.get("excluded") or {}).items():
        parts.append(f"{ex['count']} excluded: {reason.replace('_', ' ')}")
    return f" ({'; '.join(parts)})" if parts else ""


def _print_suite(console: Any, suite: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"suite {suite['name']} v{suite['version']}: total {_fmt(suite['total'])}")
    for col in ("category", "", "weight", "score", "tasks"):
        table.add_column(col)
    for c in suite["categories"].values():
        score = _fmt(c.get("score")) if c["evaluated"] else "not evaluated"
        tasks = ", ".join(f"{t} {_fmt(v, 1)}" for t, v in c["tasks"].items()) or "-"
        table.add_row(c["zh"], c["en"], f"{c['weight']:g}", score, tasks)
    console.print(table)
