"""The judge pass: judged items are scored by a judge model after the evaluated model's answers are saved.

It runs as its own batched pass, once the evaluated model is unloaded. The per-sample JSONL is read back and
rewritten (atomically) with the verdicts: every other line passes through, and judged items' pending lines are
judged a window at a time, all judge prompts of a window (of every judged task) in one backend call. A pending
line carries what its judge prompt needs (the row as the template sees it, the dialogue), so nothing per item
is held between windows. Each verdict is appended to `<run>.judge.jsonl` as it arrives, so a crash loses
nothing already judged. An unreadable verdict is recorded and counted (`judge_unparsed`), never scored as 0.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from harness.results.files import SampleWriter, dumps_line, write_atomic
from harness.results.throughput import Usage, judge_figures
from harness.run.context import ContextFit
from harness.run.dispatch import Planned
from harness.scoring import checklists
from harness.scoring.judged import OWN_PARSERS, own_item
from harness.scoring.verdicts import dimension_scores, hallucinated, parse_verdict, parse_yes_no
from harness.tasks.data import load_context_files
from harness.tasks.task import template_doc
from harness.types import GenerateRequest


def load_context(p: Planned, data_dir: Path | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The judge's side files (rubric prompts, dimension tables) named in the task's judge.context, with hashes."""
    assert p.task.spec.judge is not None
    return load_context_files(p.task.spec.judge.context, data_dir, f"task {p.task.name}", "judge.context")


def build_prompts(p: Planned, doc: dict[str, Any], turns: list[str], answers: list[str],
                  ctx: dict[str, Any], meta: dict[str, Any] | None = None) -> list[tuple[int | None, list[tuple[str, str]]]]:
    """(turn, judge messages) for one item: one per turn when the rubric judges turns (MT-Bench), else one.
    `doc` is the item as prompt templates see it (tasks.template_doc); `meta` its sample meta, seen as `subset`."""
    spec = p.task.spec.judge
    assert spec is not None
    doc = {**doc, "turns": [doc["question"], *turns[1:]]}  # the user's words, without the template around turn 1
    wanted = range(1, len(turns) + 1) if spec.per_turn else [len(turns)]
    out: list[tuple[int | None, list[tuple[str, str]]]] = []
    for turn in wanted:
        context = dict(doc=doc, output=answers[turn - 1], outputs=answers, turn=turn, ctx=ctx, subset=meta or {})
        messages: list[tuple[str, str]] = []
        if p.task.judge_system is not None:
            system = p.task.judge_system.render(**context).strip()
            if system:
                messages.append(("system", system))
        messages.extend((role, t.render(**context)) for role, t in p.task.judge_history)  # HalluQA's rubric turns
        assert p.task.judge_prompt is not None
        messages.append(("user", p.task.judge_prompt.render(**context)))
        out.append((turn if spec.per_turn else None, messages))
    return out


def with_reasoning(answers: list[str], reasonings: list[str]) -> list[str]:
    """Answers as a judge that may see the reasoning reads them: the think block, then the answer."""
    return [f"<think>\n{r}\n</think>\n\n{a}" if r else a for a, r in zip(answers, [*reasonings, *[""] * len(answers)])]


def check_templates(planned: list[Planned], data_dir: Path | None) -> None:
    """Render every judge prompt once with empty answers before any model runs: a broken rubric template or a
    missing side file fails in seconds, not after hours of generation."""
    from harness.run.dispatch import turns_of

    for p in planned:
        if p.task.spec.answer_type != "judged":
            continue
        ctx, _ = load_context(p, data_dir)
        for ps in p.rendered():
            if rule_for(p, ps.sample.meta, ps.sample.raw) is not None:  # a rule scores it: no judge prompt
                continue
            turns = turns_of(p, ps)
            build_prompts(p, template_doc(ps.sample), turns, [""] * len(turns), ctx, ps.sample.meta)


def rule_for(p: Planned, meta: dict[str, Any], row: dict[str, Any]) -> str | None:
    """The rule that scores this item instead of the judge (judge.rules: FollowBench's rule-checked items), or None."""
    spec = p.task.spec.judge
    if spec is None or spec.rules is None:
        return None
    from harness.scoring.followbench_rules import rule_name

    return rule_name(str(meta.get("subset", "")), row)


def item_score(values: list[float | None], scale: tuple[float, float], pass_at: float | None) -> float | None:
    """An item's score in [0, 1] from its parsed verdicts (unparsed turns left out); None if none parsed."""
    got = [v for v in values if v is not None]
    if not got:
        return None
    if pass_at is not None:
        return sum(1.0 for v in got if v >= pass_at) / len(got)
    return sum(v / scale[1] for v in got) / len(got)


def run_judge(planned: list[Planned], tallies: list[Any], data_dir: Path | None,
              open_judge: Callable[[], Any], judge_path: Path, samples_path: Path, seed: int,
              progress: bool, cache: Any = None, sees_reasoning: bool = False) -> dict[str, Any]:
    """Judge every pending line of the samples file, window by window; add each judged item to its task's tally
    (`tallies`, one per planned task); return the results file's `judge` block."""
    from harness.run.dispatch import WINDOW
    from harness.run.progress import progress as progress_bar

    by_name = {p.task.name: ti for ti, p in enumerate(planned) if p.task.spec.answer_type == "judged"}
    contexts: dict[int, dict[str, Any]] = {}
    prompts_info: dict[str, Any] = {}
    for ti in by_name.values():
        p = planned[ti]
        contexts[ti], hashes = load_context(p, data_dir)
        assert p.task.spec.judge is not None  # a judged task has a judge block (the task spec checks it)
        prompts_info[p.task.name] = {
            "template_hash": p.task.judge_prompt.hash if p.task.judge_prompt else None,
            "system_hash": p.task.judge_system.hash if p.task.judge_system else None,
            "context_files": hashes, "parser": p.task.spec.judge.parser,
        }
    t0 = time.perf_counter()
    opened = open_judge()
    load_seconds = time.perf_counter() - t0
    judge = _Judging(planned, tallies, contexts, opened, seed, cache)
    judge.sees_reasoning = sees_reasoning
    wall0 = time.perf_counter()
    bar = progress_bar(sum(planned[ti].n for ti in by_name.values()), "judge", "item", progress)

    def rewrite(out: Any) -> None:
        window: list[dict[str, Any]] = []
        with open(samples_path, encoding="utf-8") as src, SampleWriter(judge_path) as verdicts:
            for line in src:
                rec = json.loads(line) if '"pending"' in line else {}  # most lines pass through unparsed
                if rec.get("judge") != "pending" or rec.get("task") not in by_name:
                    out.write(line)
                    continue
                window.append(rec)
                if len(window) == WINDOW:
                    judge.window(window, by_name, out, verdicts, bar)
                    window = []
            if window:
                judge.window(window, by_name, out, verdicts, bar)

    try:
        write_atomic(samples_path, rewrite)
    finally:
        bar.close()
    wall = time.perf_counter() - wall0
    return {
        "model": opened.model_block,
        "backend": opened.backend.name,
        "engine": opened.backend.describe(),
        "prompts": prompts_info,
        "requests": judge.requests,
        "cached_requests": judge.cached,
        "unparsed_verdicts": judge.unparsed,
        "inexact_verdicts": judge.inexact,  # checklist marks read in order: not in the form upstream requires
        "rule_scored": judge.ruled,  # items a rule scored instead of the judge (judge.rules)
        "too_long_for_judge": judge.too_long,  # items with a prompt that fills the judge's context: not sent, unparsed
        "judge_budget_capped": judge.budget_capped,  # prompts that left the judge less room than its budget
        **judge.flagged,  # judge_clamped / judge_defaulted / judge_skipped_empty: task -> items
        "judgements_file": judge_path.name,
        "sees_reasoning": sees_reasoning,
        "throughput": {"model_load_seconds": round(load_seconds, 3), **judge_figures(judge.usage, wall)},
    }


class _Judging:
    """The judge model and the running counts of one judge pass."""

    def __init__(self, planned: list[Planned], tallies: list[Any], contexts: dict[int, dict[str, Any]],
                 opened: Any, seed: int, cache: Any) -> None:
        self.planned, self.tallies, self.contexts, self.seed, self.cache = planned, tallies, contexts, seed, cache
        self.backend, self.chat, self.use_messages = opened.backend, opened.chat, opened.use_messages
        self.judge_id: dict[str, Any] = {}
        if cache is not None:
            from harness.run.cache import model_identity

            self.judge_id = model_identity(opened.model_block)
        self.usage = Usage()
        self.requests = 0
        self.cached = 0
        self.unparsed: dict[str, int] = {}
        self.inexact: dict[str, int] = {}
        self.ruled: dict[str, int] = {}
        self.flagged: dict[str, dict[str, int]] = {}  # flag -> task -> items (judged.own_item's flags)
        # judge prompts are measured against the judge's context like the evaluated model's (harness/run/context.py):
        # one that leaves no room is not sent (the item is unparsed, counted here), one that leaves less room than
        # the judge's budget gets the room there is (counted too), so a long answer never ends the judge pass
        tokenizer, limit = getattr(self.backend, "tokenizer", None), self.backend.context_length
        self.fit = ContextFit(tokenizer, limit) if tokenizer is not None and limit else None
        self.too_long: dict[str, int] = {}
        self.budget_capped: dict[str, int] = {}
        self.sees_reasoning = False  # --judge-sees-reasoning: each answer is shown after its think block

    def window(self, records: list[dict[str, Any]], by_name: dict[str, int], out: Any, writer: SampleWriter,
               bar: Any) -> None:
        """Judge a window of pending lines and write them out, finished."""
        from harness.run.dispatch import through_cache

        items: list[tuple[int, int | None]] = []  # (record, turn) per request
        requests = []
        verdicts: list[dict[int | None, tuple[Any, str | None]]] = [{} for _ in records]
        for ri, rec in enumerate(records):
            ti = by_name[rec["task"]]
            p = self.planned[ti]
            spec = p.task.spec.judge
            assert spec is not None
            rule = rule_for(p, rec.get("meta") or {}, rec["doc"]["row"])
            if rule is not None:
                verdicts[ri][None] = (self._rule_marks(rule, rec), None)
                continue
            if spec.empty_answer == "zero" and not rec["answers"][-1].strip():  # scored without the judge
                rec["judge_skipped"] = "empty answer"
                verdicts[ri][None] = (None, None)
                continue
            answers = rec["answers"]
            if self.sees_reasoning:
                answers = with_reasoning(answers, rec.get("reasonings") or [])
            votes = spec.votes if self.backend.name == "openai" else 1  # a greedy local judge repeats its one vote
            for turn, messages in build_prompts(p, rec["doc"], rec["turns"], answers, self.contexts[ti], rec.get("meta")):
                text = self.chat(messages) if self.chat is not None else "\n\n".join(c for _, c in messages)
                budget = self._budget(rec, text, spec.max_new_tokens)
                if budget is None:
                    verdicts[ri][turn] = (None, None)
                    continue
                for j in range(votes):
                    requests.append(GenerateRequest(text, budget, (), 0.0, self.seed + j, self.chat is None,
                                                    tuple(messages) if self.use_messages else ()))
                    items.append((ri, turn))
        ballots: dict[tuple[int, int | None], list[tuple[int, str]]] = {}  # judge.votes: each request's reply
        answered = through_cache(self.cache, self.judge_id, "gen", self.backend.generate, requests) if requests else ()
        for idx, res, hit in answered:
            self.cached += hit
            ri, turn = items[idx]
            rec = records[ri]
            spec = self.planned[by_name[rec["task"]]].task.spec.judge
            assert spec is not None  # only judged tasks made requests
            value = self._verdict(spec, res.text, rec)
            verdicts[ri][turn] = (value, res.text)
            if spec.votes > 1:
                ballots.setdefault((ri, turn), []).append((idx, res.text))
            c = res.cost
            if not hit:
                self.usage.add(c.prompt_tokens, c.generated_tokens, c.seconds, c.ttft_s, c.tpot_s)
            writer.write({"task": rec["task"], "sample_id": rec["sample_id"], "turn": turn,
                          "judge_prompt": requests[idx].prompt, "judge_output": res.text, "verdict": value})
        self.requests += len(requests)
        for (ri, turn), replies in ballots.items():  # HalluQA: a hallucination when more than half the votes say 是
            texts = [t for _, t in sorted(replies)]
            cast = [parse_yes_no(t) for t in texts]
            bad = hallucinated(cast)
            verdicts[ri][turn] = (None if bad is None else 0.0 if bad else 1.0, texts[0])
            records[ri].update(votes=cast, vote_outputs=texts)
        for rec, per_turn in zip(records, verdicts):
            ti = by_name[rec["task"]]
            self._finish(ti, rec, per_turn)
            out.write(dumps_line(rec) + "\n")
            bar.update(1)

    def _budget(self, rec: dict[str, Any], text: str, budget: int) -> int | None:
        """The judge's token budget for this prompt: its own, or the room left in the judge's context; None when
        the prompt alone fills it (the item's line says so, the judge block counts it)."""
        if self.fit is None or self.fit.limit is None:
            return budget
        room = self.fit.limit - self.fit.prompt_lengths([text], self.chat is None)[0]
        task = rec["task"]
        if room < 1:  # counted once per item, however many of its turns did not fit
            if not rec.get("judge_too_long"):
                self.too_long[task] = self.too_long.get(task, 0) + 1
            rec["judge_too_long"] = True
            return None
        if room < budget:
            self.budget_capped[task] = self.budget_capped.get(task, 0) + 1
            return room
        return budget

    def _verdict(self, spec: Any, text: str, rec: dict[str, Any]) -> Any:
        """The verdict in a judge's text: a number, or a checklist's marks (a list of 0/1); None if unreadable."""
        if spec.parser not in checklists.PARSERS:
            return parse_verdict(spec.parser, text, spec.scale)
        got = checklists.parse_marks(spec.parser, text, rec["doc"]["row"])
        if got is None:
            return None
        marks, exact = got
        if not exact:
            rec["marks_exact"] = False
            self.inexact[rec["task"]] = self.inexact.get(rec["task"], 0) + 1
        return marks

    def _rule_marks(self, rule: str, rec: dict[str, Any]) -> list[int]:
        """An item a rule scores (the answer without its reasoning): one mark for all its constraints."""
        from harness.scoring.followbench_rules import rule_mark

        rec["rule"] = rule
        self.ruled[rec["task"]] = self.ruled.get(rec["task"], 0) + 1
        try:
            return [rule_mark(rule, rec["doc"]["row"], rec["answers"][-1])]
        except Exception as e:  # a data row the rule cannot read: the item fails, as any item whose scoring breaks
            rec["error"] = f"{type(e).__name__}: {str(e)[:300]}"
            return [0]

    def _finish(self, ti: int, rec: dict[str, Any], per_turn: dict[int | None, tuple[Any, str | None]]) -> None:
        """Score one item from its verdicts, into its line and its task's tally."""
        p = self.planned[ti]
        spec = p.task.spec.judge
        assert spec is not None
        ordered = [per_turn[k] for k in sorted(per_turn, key=lambda k: k or 0)]
        values = [v for v, _ in ordered]
        if spec.parser in OWN_PARSERS or "judge_skipped" in rec:  # a grade, points, or an empty answer
            own = own_item(p.task.spec, values[0], ordered[0][1], float(rec.get("weight", 1.0)), "judge_skipped" in rec)
            metrics, prediction, score = own.metrics, own.prediction, own.score
            for flag in own.flags:
                self.tallies[ti].flags[flag] += 1
                self.flagged.setdefault(flag, {}).setdefault(p.task.name, 0)
                self.flagged[flag][p.task.name] += 1
            if own.flags:
                rec["verdict_flags"] = own.flags
        elif spec.parser in checklists.PARSERS:  # one verdict: a mark per constraint, and the task's metrics from them
            metrics = self._checklist_metrics(spec.parser, values[0], rec)
            score = metrics.get(p.task.spec.metrics[0])
            prediction = None if not metrics else "".join(str(m) for m in values[0])
        else:
            score = item_score(values, spec.scale, spec.pass_at)
            metrics = {} if score is None else {"judge_score": score}
            prediction = None if score is None else f"{score:.3f}"
        del rec["doc"]  # the row was only carried for the judge prompt
        status = "rule" if "rule" in rec else "done" if score is not None else "unparsed"
        rec.update(prediction=prediction, correct=score is not None and score >= 1.0,
                   metrics=metrics, judge=status, verdicts=values,
                   judge_outputs=[t for _, t in ordered if t is not None])
        if spec.parser == "alignbench":
            # a turn without a judge reply (its prompt did not fit the judge, or an empty answer) has no ratings
            rec["dimensions"] = [dimension_scores(t) if t is not None else {} for _, t in ordered]
        self.tallies[ti].add_values(rec.get("meta") or {}, metrics, float(rec.get("weight", 1.0)), rec["prediction"])
        if "judge_skipped" in rec:  # scored without a verdict (an empty answer): not an unread one
            rec["judge"] = "skipped"
        missing = 0 if "judge_skipped" in rec else sum(v is None for v in values)
        if missing:
            self.unparsed[p.task.name] = self.unparsed.get(p.task.name, 0) + missing

    @staticmethod
    def _checklist_metrics(parser: str, marks: list[int] | None, rec: dict[str, Any]) -> dict[str, float]:
        """CSR/ISR/PSR or HSR/SSR of one item; none (unparsed, counted) when its marks could not be read or scored."""
        if marks is None:
            return {}
        try:
            return checklists.item_metrics(parser, marks, rec["doc"]["row"])
        except (ValueError, KeyError, TypeError) as e:  # a checkpoint kind upstream does not know: say so, score none
            rec["error"] = f"{type(e).__name__}: {str(e)[:300]}"
            return {}
