"""Prompts -> requests -> backend -> scored samples, written as they complete.

Items stream through in windows of WINDOW: each window's samples are read from the data files, rendered, sent
and scored, and only running tallies stay behind, so memory does not grow with the size of a suite. Within a
window, requests of all tasks are pooled by kind and handed to the backend in one call per round, which sorts
and batches them. Generation runs in rounds: round 1 holds every first turn; a multi-turn task's next turn joins the
next round with the model's own earlier answers in its history. An item generated several times (pass@k) is
scored once all its generations are in. Execution tasks run their programs in the sandbox as each item
completes, several items at once (harness/sandbox/protocol.py, --sandbox-workers); judged items are written as pending and
scored by the judge pass (harness/run/judge.py).
"""

from __future__ import annotations

import json
import logging
from collections import deque
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

from harness.contain import clean_result, clean_text, printable
from harness.errors import HarnessError
from harness.results.files import SampleWriter
from harness.results.throughput import Usage
from harness.run.context import ContextFit, ContextTally
from harness.run.decoding import GenSettings
from harness.run.reasoning import Split, ThinkingPlan, ThinkTally, split_reasoning
from harness.scoring.consensus import consensus
from harness.scoring.metrics import Scored, TaskTally, score_generation, score_likelihood
from harness.tasks.task import PromptedSample, PromptHash, Task, template_doc
from harness.types import GenerateRequest, GenerateResult, LoglikelihoodRequest, Mode, Sample


class Chat(Protocol):
    """The harness's chat formatter (harness.models.chat.ChatFormatter): a conversation, as (role, content) pairs,
    and the tools' JSON text -> the prompt, ready for the assistant's answer."""

    def __call__(self, messages: list[tuple[str, str]], tools: str = "") -> str: ...


log = logging.getLogger(__name__)

# Items in flight at once. Large enough that the backend still sorts and batches well (the transformers backend
# sorts likelihood requests 4,096 at a time anyway) and vLLM's scheduler stays full; small enough that prompts,
# token ids and cache keys of one window are a few tens of MiB.
WINDOW = 4096


@dataclass
class Planned:
    """A task ready to run: its items (streamed from the data files on each pass) and how to prompt them."""

    task: Task
    mode: Mode
    num_fewshot: int
    items: Iterable[Sample]
    n: int
    fewshot: dict[str, list[Sample]] = field(default_factory=dict)
    prompt_hash: str = ""

    def rendered(self) -> Iterator[PromptedSample]:
        for sample in self.items:
            yield self.task.prompt(sample, self.fewshot, self.num_fewshot, self.mode)


@dataclass
class Conversation:
    """One item's dialogue so far: user turns, the model's answers, and every generation of the last turn."""

    turns: list[str]
    answers: list[str] = field(default_factory=list)
    results: list[GenerateResult | None] = field(default_factory=list)
    reasonings: list[str] = field(default_factory=list)  # each answer's reasoning (a judge may be shown it)
    system: str | None = None  # the task's system message, before the first user turn
    tools: str = ""  # JSON text of the tools handed to the chat template / server (tool_call.tools: template)


def turns_of(p: Planned, ps: PromptedSample) -> list[str]:
    """The user turns of an item: the rendered prompt, then the row's later turns (multi-turn tasks)."""
    column = p.task.spec.fields.turns
    if column is None:
        return [ps.prompt]
    later = ps.sample.raw.get(column) or []
    return [ps.prompt, *[str(t) for t in list(later)[1:]]]


def _tools_of(p: Planned, ps: PromptedSample) -> str:
    """The tools an item hands to the chat template or server (tool_call.tools: template), as JSON text; "" when
    the task shows them in its prompt."""
    tc = p.task.spec.tool_call
    if tc is None or tc.tools != "template":
        return ""
    from harness.scoring.tool_calls import openai_tools

    functions = ps.sample.raw.get(tc.functions)
    if not isinstance(functions, list):
        raise HarnessError(f"task {p.task.name}, item {ps.sample.sample_id}: field '{tc.functions}' (tool_call.functions) "
                           "holds no list of function descriptions")
    return json.dumps(openai_tools(functions), ensure_ascii=False)


class Dispatcher:
    """Builds requests for planned tasks, runs them round by round and scores each item when it completes."""

    def __init__(self, planned: list[Planned], chat: Chat | None, use_messages: bool, seed: int,
                 settings: list[GenSettings] | None, cache: Any = None, model_id: dict[str, Any] | None = None,
                 context_policy: str | None = None, thinking: ThinkingPlan | None = None,
                 sandbox_workers: int | None = None) -> None:
        self.planned = planned
        self.cache = cache  # harness.run.cache.ResponseCache, or None
        self.model_id = model_id or {}
        self.cached = [0 for _ in planned]  # requests per task answered from the cache
        self.failed = [0 for _ in planned]  # items per task whose scoring broke: recorded with the reason, scored 0
        self.chat = chat  # the harness's chat template (None: raw text, or an API backend that takes messages)
        self.use_messages = use_messages
        self.seed = seed
        # each task's decoding (harness/run/decoding.py: flags, the model card's per-mode values, the task's); None: the
        # tasks' own generation blocks
        self.settings = settings
        self.thinking = thinking  # None: the model does not think; answers are still freed of think tags
        self.think = [ThinkTally() for _ in planned]  # what thinking cost, per task
        # what each task's results block needs; judged items join theirs in the judge pass
        self.tallies = [TaskTally(p.task.spec.metrics, p.task.spec.group_by, p.task.spec.csl) for p in planned]
        self.usage = [Usage() for _ in planned]
        self.live: dict[tuple[int, int], PromptedSample] = {}  # the window's items
        self.conversations: dict[tuple[int, int], Conversation] = {}
        self.hashes = [PromptHash() for _ in planned]
        self.sandbox_isolation: dict[str, Any] | None = None  # layers and limits in force, workers, verdict protocol
        self.sandbox_workers = sandbox_workers  # checks at once (None: the cores)
        self._checks: Any = None  # harness.sandbox.protocol.CheckPool, started with the first execution item
        self._started: dict[int, list[Any]] = {}  # id(PromptedSample) -> futures of its checks
        self._waiting: deque[tuple[int, int]] = deque()  # execution items whose checks run, oldest first
        # what did not fit the model's context, or was left out by rule, per task (see harness/run/context.py)
        self.context = [ContextTally(policy=context_policy or p.task.spec.context_policy) for p in planned]
        for p, ctx in zip(planned, self.context):  # rows the task cannot score (dataset.not_scored): counted, named
            for reason, ids in p.task.not_scored.items():
                for sid in ids:
                    ctx.exclude(reason, sid)
        self.fit = ContextFit(None, None)
        self._bar: Any = None

    # ---- requests ----
    def _render(self, messages: list[tuple[str, str]], tools: str = "") -> str:
        if self.chat is not None:
            return self.chat(messages, tools=tools) if tools else self.chat(messages)
        if tools and not self.use_messages:
            raise HarnessError("a task passes its tools to the chat template (tool_call.tools: template), but the model "
                               "runs without one (--chat-template off, or a base model); use --chat-template on")
        if len(messages) == 1:
            return messages[0][1]
        # a model without a chat template in a multi-turn task: a plain transcript
        names = {"user": "用户", "assistant": "助手", "system": "系统"}
        return "".join(f"{names.get(r, r)}：{c}\n" for r, c in messages) + "助手："

    def _conversation(self, ti: int, si: int) -> tuple[str, list[tuple[str, str]]]:
        """The next turn's prompt text and messages: user turns with the model's earlier answers between them."""
        conv = self.conversations[(ti, si)]
        k = len(conv.answers)
        messages: list[tuple[str, str]] = [("system", conv.system)] if conv.system is not None else []
        for i in range(k + 1):
            messages.append(("user", conv.turns[i]))
            if i < k:
                messages.append(("assistant", conv.answers[i]))
        return self._render(messages, conv.tools), messages

    def _generate_requests(self, ti: int, si: int, text: str, messages: list[tuple[str, str]],
                           prompt_len: int | None) -> list[GenerateRequest] | None:
        """The requests of an item's next turn, or None when its prompt leaves no room in the model's context.
        A budget larger than the room left is lowered to it, for this request alone (and counted)."""
        p = self.planned[ti]
        conv = self.conversations[(ti, si)]
        gen = p.task.spec.generation
        g = self.settings[ti] if self.settings else None
        max_new = g.max_new_tokens if g else gen.max_new_tokens
        n = g.samples if g else gen.samples
        if prompt_len is not None and self.fit.limit:
            room = self.fit.limit - prompt_len
            if room < 1:
                return None
            if room < max_new:
                max_new = room
                self.context[ti].budget_capped += n
        if not conv.answers:
            self.live[(ti, si)].prompt = text  # what was sent, recorded per sample and hashed
        conv.results = [None] * n
        stop, temperature, top_p, top_k = (g.stop, g.temperature, g.top_p, g.top_k) if g else (
            tuple(gen.stop), gen.temperature, 1.0, 0)
        kwargs = tuple(sorted(self.thinking.template_kwargs.items())) if self.thinking and self.use_messages else ()
        return [GenerateRequest(text, max_new, stop, temperature, self.seed + j, self.chat is None,
                                tuple(messages) if self.use_messages else (), top_p, top_k, kwargs, tools=conv.tools)
                for j in range(n)]

    def _user(self, text: str) -> str:
        """A user turn as sent: with the model's thinking switch (/no_think) when it is switched by text."""
        return self.thinking.user_turn(text) if self.thinking else text

    def _split(self, ti: int, r: GenerateResult) -> Split:
        """Reasoning apart from the answer; in thinking runs the task's stop strings cut the answer."""
        sp = split_reasoning(r.text, r.reasoning, self.thinking)
        g = self.settings[ti] if self.settings else None
        if g and g.answer_stop and sp.finished:
            cut = min((sp.answer.find(x) for x in g.answer_stop if x and x in sp.answer), default=-1)
            if cut >= 0:
                sp = Split(sp.reasoning, sp.answer[:cut], True)
        return sp

    def _measure_prompt(self, text: str) -> int | None:
        return self.fit.prompt_lengths([text], self.chat is None)[0] if self.fit.active else None

    def _stream(self) -> Iterator[tuple[int, int, PromptedSample]]:
        for ti, p in enumerate(self.planned):
            for si, ps in enumerate(p.rendered()):
                yield ti, si, ps

    def _ll_request(self, prompt: str, ps: PromptedSample) -> LoglikelihoodRequest:
        system = [("system", ps.system)] if ps.system is not None else []
        return LoglikelihoodRequest(self._render([*system, ("user", self._user(prompt))]), ps.continuations,
                                    add_special_tokens=self.chat is None)

    def _fewer_shots(self, ti: int, ps: PromptedSample, fits: Callable[[PromptedSample], bool]) -> PromptedSample | None:
        """context_policy fewer_shots: the item re-rendered with exemplars dropped from the end until it fits."""
        p = self.planned[ti]
        if self.context[ti].policy != "fewer_shots":
            return None
        for k in range(p.num_fewshot - 1, -1, -1):
            cand = p.task.prompt(ps.sample, p.fewshot, k, p.mode)
            cand.shots = k
            if fits(cand):
                self.context[ti].fewer_shots += 1
                return cand
        return None

    def _requests(self, window: list[tuple[int, int, PromptedSample]], writer: SampleWriter) -> tuple[
            list[LoglikelihoodRequest], list[tuple[int, int]], list[GenerateRequest], list[tuple[int, int, int]]]:
        """The first round of requests of a window's items (prompts in their final form, hashed in order). Items
        that cannot be asked (too long for the context, a multi-answer item in likelihood mode) are written as
        skipped here, with the reason, and counted."""
        ll: list[LoglikelihoodRequest] = []
        ll_keys: list[tuple[int, int]] = []
        gen: list[GenerateRequest] = []
        gen_keys: list[tuple[int, int, int]] = []
        ll_items = [(ti, si, ps) for ti, si, ps in window if self.planned[ti].mode == "likelihood"]
        gen_items = [(ti, si, ps) for ti, si, ps in window if self.planned[ti].mode != "likelihood"]
        limit = self.fit.limit if self.fit.active else None

        ll_reqs = [self._ll_request(ps.prompt, ps) for _, _, ps in ll_items]
        lengths: list[int | None] = list(self.fit.likelihood_lengths(ll_reqs)) if limit else [None] * len(ll_reqs)
        for (ti, si, ps), req, n in zip(ll_items, ll_reqs, lengths):
            self.live[(ti, si)] = ps
            if ps.sample.is_multi_choice:  # one option's likelihood cannot pick a set of options
                ps.prompt = req.context
                self.hashes[ti].add(ps)
                self.context[ti].exclude("multi_answer_in_likelihood_mode", ps.sample.sample_id)
                self._skip(ti, si, "multi-answer item: scored in generate mode only", writer)
                continue
            if limit is not None and n is not None and n > limit:
                fitted = self._fewer_shots(ti, ps, lambda c: self.fit.likelihood_lengths(
                    [self._ll_request(c.prompt, c)])[0] <= limit)
                if fitted is None:
                    ps.prompt = req.context
                    self.hashes[ti].add(ps)
                    self.context[ti].skipped += 1
                    self._skip(ti, si, f"prompt too long: {n} tokens with its longest option, context {limit}", writer)
                    continue
                ps.prompt, ps.continuations, ps.shots = fitted.prompt, fitted.continuations, fitted.shots
                req = self._ll_request(ps.prompt, ps)
            ps.prompt = req.context
            ll.append(req)
            ll_keys.append((ti, si))
            self.hashes[ti].add(ps)

        gen_items = [(ti, si, ps) for ti, si, ps in gen_items if not self._unrunnable(ti, si, ps, writer)]
        firsts = []
        for ti, si, ps in gen_items:
            self.live[(ti, si)] = ps
            self.conversations[(ti, si)] = Conversation([self._user(t) for t in turns_of(self.planned[ti], ps)],
                                                        system=ps.system, tools=_tools_of(self.planned[ti], ps))
            firsts.append(self._conversation(ti, si))
        plens: list[int | None] = [None] * len(firsts)
        if limit:
            plens = list(self.fit.prompt_lengths([t for t, _ in firsts], self.chat is None))
        for (ti, si, ps), (text, messages), n in zip(gen_items, firsts, plens):
            reqs = self._generate_requests(ti, si, text, messages, n)
            if reqs is None:
                def fits(c: PromptedSample, ti: int = ti, si: int = si) -> bool:
                    self.conversations[(ti, si)].turns[0] = self._user(c.prompt)
                    return (self._measure_prompt(self._conversation(ti, si)[0]) or 0) < (limit or 0)
                fitted = self._fewer_shots(ti, ps, fits)
                if fitted is not None:
                    ps.shots = fitted.shots
                    self.conversations[(ti, si)].turns[0] = self._user(fitted.prompt)
                    text, messages = self._conversation(ti, si)
                    reqs = self._generate_requests(ti, si, text, messages, self._measure_prompt(text))
            if reqs is None:
                ps.prompt = text
                self.hashes[ti].add(ps)
                self.conversations.pop((ti, si))
                self.context[ti].skipped += 1
                self._skip(ti, si, f"prompt too long: {n} tokens leave no room to answer in the context of {limit}", writer)
                continue
            for j, greq in enumerate(reqs):
                gen.append(greq)
                gen_keys.append((ti, si, j))
            self.hashes[ti].add(ps)
        return ll, ll_keys, gen, gen_keys

    def _unrunnable(self, ti: int, si: int, ps: PromptedSample, writer: SampleWriter) -> bool:
        """A problem whose tests need a library not installed here (Java: fastjson2; Python: a module its tests or
        reference import, named per module): left out before it is asked, counted and named with the reason, never
        scored 0."""
        ex = self.planned[ti].task.spec.execution
        if ex is None or ex.tests not in ("junit", "pytest"):
            return False
        if ex.tests == "pytest":
            from harness.sandbox.execution import missing_modules

            missing = missing_modules(self.planned[ti].task, ps.sample)
            why = f"needs_{'_'.join(m.lower() for m in missing)}_not_installed" if missing else None
        else:
            from harness.sandbox.java import unrunnable

            why = unrunnable(ps.sample)
        if why is None:
            return False
        self.live[(ti, si)] = ps
        self.hashes[ti].add(ps)
        self.context[ti].exclude(why, ps.sample.sample_id)
        self._skip(ti, si, why.replace("_", " "), writer)
        return True

    def _skip(self, ti: int, si: int, reason: str, writer: SampleWriter) -> None:
        """An item that could not be asked: its line says why; it is left out of the score and counted."""
        p, ps = self.planned[ti], self.live.pop((ti, si))
        sample = ps.sample
        writer.write({
            "task": sample.task, "sample_id": sample.sample_id, "mode": p.mode, "prompt": ps.prompt,
            "target": sample.target_label, "prediction": None, "correct": False, "metrics": {},
            "weight": sample.weight, "meta": _record_meta(p, sample), "skipped": reason,
            "prompt_tokens": 0, "generated_tokens": 0,
        })
        self._bar.update(1)

    # ---- running ----
    def run(self, backend: Any, samples_path: Path, progress: bool) -> None:
        from harness.run.context import backend_context
        from harness.run.progress import progress as progress_bar

        self.fit = backend_context(backend)
        for c in self.context:
            c.limit = self.fit.limit
        total = sum(p.n for p in self.planned)
        self._bar = progress_bar(total, "eval", "item", progress)
        stream = self._stream()
        try:
            with SampleWriter(samples_path) as writer:
                while window := list(islice(stream, WINDOW)):
                    self._run_window(window, backend, writer)
        finally:
            self._bar.close()
            if self._checks is not None:
                self._checks.close()
                self._checks = None
        for p, h in zip(self.planned, self.hashes):
            p.prompt_hash = h.hexdigest()

    def _run_window(self, window: list[tuple[int, int, PromptedSample]], backend: Any, writer: SampleWriter) -> None:
        ll, ll_keys, gen, gen_keys = self._requests(window, writer)
        if ll:
            for idx, res, hit in through_cache(self.cache, self.model_id, "ll", backend.loglikelihood, ll):
                ti, si = ll_keys[idx]
                p, ps = self.planned[ti], self.live.pop((ti, si))
                try:
                    s = score_likelihood(ps.sample, res, p.task.spec.metrics)
                except HarnessError:
                    raise
                except Exception as e:  # one item that breaks its scorer is recorded as failed; the run goes on
                    s = self._failed(ti, ps, e)
                self._count(ti, res.cost, hit)
                writer.write(sample_record(p, ps, s, res))
                self._done(ti, si, ps, s)
        while gen:  # a round per turn: a multi-turn item's next turn joins the next round
            next_gen: list[GenerateRequest] = []
            next_keys: list[tuple[int, int, int]] = []
            for idx, res, hit in through_cache(self.cache, self.model_id, "gen", backend.generate, gen):
                ti, si, j = gen_keys[idx]
                self._count(ti, res.cost, hit)
                conv = self.conversations[(ti, si)]
                conv.results[j] = res
                if any(r is None for r in conv.results):
                    continue
                if len(conv.answers) + 1 < len(conv.turns):  # the dialogue goes on
                    first = conv.results[0]
                    assert first is not None  # every turn's result is in (checked above)
                    sp = self._split(ti, first)
                    conv.answers.append(sp.answer)
                    conv.reasonings.append(sp.reasoning)
                    text, messages = self._conversation(ti, si)
                    reqs = self._generate_requests(ti, si, text, messages, self._measure_prompt(text))
                    if reqs is None:  # the dialogue outgrew the context: the item cannot be finished
                        self.conversations.pop((ti, si))
                        self.context[ti].skipped += 1
                        self._skip(ti, si, f"dialogue too long for the context of {self.fit.limit} at turn "
                                           f"{len(conv.answers) + 1}", writer)
                        continue
                    for jj, req in enumerate(reqs):
                        next_gen.append(req)
                        next_keys.append((ti, si, jj))
                    continue
                self._finish_soon(ti, si, writer)
            gen, gen_keys = next_gen, next_keys
        while self._waiting:  # the window's last execution items
            self._finish_oldest(writer)

    def _done(self, ti: int, si: int, ps: PromptedSample, s: Scored) -> None:
        """The item's line is on disk: it joins its task's tally (a judged item, once judged)."""
        spec = self.planned[ti].task.spec
        if spec.answer_type != "judged":
            self.tallies[ti].add(ps.sample, s, spec.answer_type == "execution")
        self._bar.update(1)

    def _count(self, ti: int, c: Any, cached: bool = False) -> None:
        """Throughput counts only what was computed in this run; answers from the cache are counted apart."""
        if cached:
            self.cached[ti] += 1
            return
        self.usage[ti].add(c.prompt_tokens, c.generated_tokens, c.seconds, c.ttft_s, c.tpot_s)

    def _finish(self, ti: int, si: int, writer: SampleWriter) -> None:
        """Every generation of an item's last turn is in: score it (or leave it to the judge) and write it."""
        p, ps = self.planned[ti], self.live.pop((ti, si))
        spec = p.task.spec
        conv = self.conversations.pop((ti, si))
        results = [r for r in conv.results if r is not None]
        votes = len(results) > 1 and spec.answer_type not in ("execution", "judged", "tool_call")  # cons@N
        majority: float | None = None
        try:
            # everything that scores sees the answer only; an unfinished thinking block leaves an empty answer
            splits = [self._split(ti, r) for r in results]
            answers = [GenerateResult(sp.answer, r.finish_reason, r.cost, tool_calls=r.tool_calls)
                       for r, sp in zip(results, splits)]
            conv.answers.append(splits[0].answer)
            conv.reasonings.append(splits[0].reasoning)
            if spec.answer_type == "execution":
                s = self._execute_programs(p, ps, answers)
                values = [float(x) for x in s.details.pop("passed_each")] if s.details else []
            elif spec.answer_type == "judged":
                # the line carries what the judge prompt needs, so the judge pass holds nothing per item
                s = Scored(prediction=None, metrics={}, correct=False, output=splits[0].answer,
                           details={"judge": "pending", "turns": conv.turns, "answers": conv.answers, "doc": template_doc(ps.sample),
                                    **({"reasonings": conv.reasonings} if any(conv.reasonings) else {})})
                values = [0.0] * len(results)  # known only after the judge pass
            else:
                each = [score_generation(ps.sample, a, spec.metrics, spec.extractor, spec.answer_type, spec.numeric,
                                         spec.tool_call, p.task.evaluators)
                        for a in answers]
                s = _mean_of(each)
                values = [e.metrics[spec.metrics[0]] for e in each]
                if votes:
                    chosen, n_votes, majority = consensus([e.prediction for e in each], values, spec.answer_type,
                                                          spec.numeric)
                    s.details = {**(s.details or {}), "consensus": {"prediction": chosen, "votes": n_votes}}
            counts = self._count_thinking(ti, results, splits, values)
            s.details = {**(s.details or {}), **_reasoning_details(splits, self.thinking, counts)}
        except HarnessError:
            raise
        except Exception as e:  # the item broke its scorer, the sandbox call or the reasoning split: recorded, scored 0
            answers = results
            values = [0.0] * len(results)
            majority = 0.0 if votes else None
            s = self._failed(ti, ps, e, results[0].text if results else None)
            if spec.answer_type == "judged":  # never judged: it counts 0 in its task's score, as any failed item
                self.tallies[ti].add(ps.sample, s)
        if spec.answer_type not in ("execution", "judged"):
            self.tallies[ti].add_draws(values, majority)
        writer.write(sample_record(p, ps, s, answers[0], answers))
        self._done(ti, si, ps, s)

    def _failed(self, ti: int, ps: PromptedSample, e: Exception, output: str | None = None) -> Scored:
        """An item whose scoring raised: its line says why ("error": "ValueError: ..."), every metric is 0 (a
        model never gains by breaking a scorer), and its task counts it (tasks.<name>.failed_items)."""
        spec = self.planned[ti].task.spec
        first = (str(e).strip().splitlines() or [""])[0]
        reason = clean_text(f"{type(e).__name__}: {first}"[:500])
        self.failed[ti] += 1
        if self.failed[ti] == 1:
            log.warning("task %s: item %s could not be scored (%s); recorded as failed, the run goes on",
                        spec.name, printable(ps.sample.sample_id), printable(reason))
        return Scored(prediction="error" if spec.answer_type == "execution" else None,
                      metrics={m: 0.0 for m in spec.metrics}, correct=False, output=output, details={"error": reason})

    def _count_thinking(self, ti: int, results: list[GenerateResult], splits: list[Split],
                        values: list[float]) -> list[tuple[int, int] | None]:
        """Each generation's (reasoning, answer) tokens, counted into its task's thinking costs."""
        tok = self.fit.tokenizer
        counts = []
        for r, sp, v in zip(results, splits, values):
            if sp.reasoning or not sp.finished:  # the answer's share has to be counted
                n = len(tok.encode(sp.answer, add_special_tokens=False)) if tok is not None else None
            else:  # no reasoning: every generated token is answer, nothing to tokenize again
                n = r.cost.generated_tokens if tok is not None else None
            counts.append(self.think[ti].add(sp, n, r.cost.generated_tokens, r.cost.seconds, v))
        return counts

    def _finish_soon(self, ti: int, si: int, writer: SampleWriter) -> None:
        """_finish, except that an execution item's checks start in the sandbox pool now and the item is finished
        once they are done, so the checks of many items run at once (up to --sandbox-workers). Items finish in
        order; at most four per worker wait, so what they hold stays small."""
        p = self.planned[ti]
        if p.task.spec.answer_type != "execution":
            self._finish(ti, si, writer)
            return
        ps = self.live[(ti, si)]
        try:
            answers = [self._split(ti, r).answer for r in self.conversations[(ti, si)].results if r is not None]
            self._started[id(ps)] = self._start_checks(p, ps, answers)
        except HarnessError:
            raise
        except Exception:  # _finish meets the same error and records it with the item
            self._finish(ti, si, writer)
            return
        self._waiting.append((ti, si))
        while self._waiting and (len(self._waiting) > 4 * self._checks.workers or all(
                f.done() for f in self._started[id(self.live[self._waiting[0]])])):
            self._finish_oldest(writer)

    def _finish_oldest(self, writer: SampleWriter) -> None:
        ti, si = self._waiting.popleft()
        key = id(self.live[(ti, si)])
        try:
            self._finish(ti, si, writer)
        finally:
            self._started.pop(key, None)  # still there only if _finish broke before taking its checks

    def _start_checks(self, p: Planned, ps: PromptedSample, answers: list[str]) -> list[Any]:
        from harness.sandbox.core import Limits, record
        from harness.sandbox.execution import render_checks
        from harness.sandbox.protocol import PROTOCOL, CheckPool

        ex = p.task.spec.execution
        assert ex is not None
        if self._checks is None:
            self._checks = CheckPool(self.sandbox_workers)
        if self.sandbox_isolation is None:
            self.sandbox_isolation = {**record(), "workers": self._checks.workers, "protocol": PROTOCOL}
        if ex.tests == "junit":  # one sandboxed JVM per check, its own limits and verdict (harness/sandbox/java.py)
            from harness.sandbox import java

            java.check_allowed()
            jl = java.java_limits(ex.timeout_s, ex.memory_mb)
            self.sandbox_isolation.setdefault("java", java.record(jl))
            return [java.submit(self._checks, c, jl) for c in java.render_java_checks(p.task, ps.sample, answers)]
        # NaturalCodeBench's pytest modules make up to 10,000 folders and files in their temporary folder
        room = {"files": 32768, "disk_mb": 256} if ex.tests == "pytest" else {}
        limits = Limits(timeout_s=ex.timeout_s, cpu_s=max(1, int(ex.timeout_s)), memory_mb=ex.memory_mb, **room)
        return [self._checks.submit(c, limits) for c in render_checks(p.task, ps.sample, answers)]

    def _execute_programs(self, p: Planned, ps: PromptedSample, results: list[GenerateResult]) -> Scored:
        from harness.sandbox.execution import pass_at_k

        spec = p.task.spec
        futures = self._started.pop(id(ps), None) or self._start_checks(p, ps, [r.text for r in results])
        runs = [f.result() for f in futures]
        passed = sum(r.passed for r in runs)
        metrics = {m: pass_at_k(len(runs), passed, int(m[5:])) for m in spec.metrics}
        details = {"execution": [{"status": r.status, "reason": r.reason, "seconds": round(r.seconds, 3),
                                  "stdout": r.stdout[-500:], "stderr": r.stderr[-1000:]} for r in runs],
                   "passed_each": [r.passed for r in runs]}
        return Scored(prediction=runs[0].status, metrics=metrics, correct=runs[0].passed, output=results[0].text,
                      details=details)


def through_cache(cache: Any, model_id: dict[str, Any], kind: str, call: Callable[[list[Any]], Any],
                  requests: list[Any]) -> Any:
    """Yield (index, result, from_cache) for every request: cached answers first, then the backend's for the rest,
    each stored the moment it arrives (so a killed run loses at most the requests in flight)."""
    if cache is None:
        for idx, res in call(requests):
            yield idx, clean_result(res), False  # text UTF-8 cannot hold (a lone surrogate) stops here
        return
    from harness.run.cache import request_key

    keys = [request_key(model_id, r) for r in requests]
    todo: list[int] = []
    for i, key in enumerate(keys):
        hit = cache.get(key, kind)
        if hit is not None:
            yield i, hit, True
        else:
            todo.append(i)
    if todo:
        for j, res in call([requests[i] for i in todo]):
            i = todo[j]
            res = clean_result(res)
            cache.put(keys[i], kind, res)
            yield i, res, False


def sample_record(p: Planned, ps: PromptedSample, s: Scored, res: Any,
                  all_results: list[GenerateResult] | None = None) -> dict[str, Any]:
    sample = ps.sample
    record: dict[str, Any] = {
        "task": sample.task,
        "sample_id": sample.sample_id,
        "mode": p.mode,
        "prompt": ps.prompt,
        "target": sample.target_label,
        "prediction": s.prediction,
        "correct": s.correct,
        "metrics": s.metrics,
        "weight": sample.weight,
        "meta": _record_meta(p, sample),
    }
    if ps.shots is not None:
        record["num_fewshot"] = ps.shots  # fewer exemplars than the task's, so that the prompt fits
    if p.mode == "likelihood":
        record["logprobs"] = s.logprobs
        record["continuations"] = list(ps.continuations)
        record["one_pass"] = res.one_pass
    else:
        record["output"] = s.output
        record["finish_reason"] = res.finish_reason
        if all_results and len(all_results) > 1:
            record["outputs"] = [r.text for r in all_results]
    if s.details:
        record.update(s.details)
    results = all_results or [res]
    record["prompt_tokens"] = sum(r.cost.prompt_tokens for r in results)
    record["generated_tokens"] = sum(r.cost.generated_tokens for r in results)
    return record


def _record_meta(p: Planned, sample: Sample) -> dict[str, Any]:
    keep = ("subset", "type", "all_of", *p.task.spec.meta_keys)  # not the subset's long fields (e.g. its prompt prefix)
    return {k: v for k, v in sample.meta.items() if k in keep}


def _mean_of(each: list[Scored]) -> Scored:
    """One item's score over its generations (avg@N): every metric averaged; the first generation's prediction and
    output stand for the item, the others are listed."""
    first = each[0]
    if len(each) == 1:
        return first
    # a metric that leaves a generation out (accuracy_answered: no answer read) averages over those that have it
    names = dict.fromkeys(m for e in each for m in e.metrics)
    metrics = {m: sum(got) / len(got) for m in names if (got := [e.metrics[m] for e in each if m in e.metrics])}
    return Scored(prediction=first.prediction, metrics=metrics, correct=first.correct, output=first.output,
                  details={"predictions": [e.prediction for e in each], "correct_each": [e.correct for e in each]})


def _reasoning_details(splits: list[Split], plan: ThinkingPlan | None,
                       counts: list[tuple[int, int] | None]) -> dict[str, Any]:
    """What the samples line keeps of the reasoning: the text apart from the answer, whether it closed, and the
    tokens of each part (where a local tokenizer could count them)."""
    if not any(sp.reasoning for sp in splits) and (plan is None or not plan.enabled) and all(sp.finished for sp in splits):
        return {}
    out: dict[str, Any] = {"reasoning": splits[0].reasoning, "reasoning_finished": splits[0].finished}
    if counts and counts[0] is not None:
        out["reasoning_tokens"], out["answer_tokens"] = counts[0]
    if len(splits) > 1:
        out["reasoning_finished_each"] = [sp.finished for sp in splits]
        if all(c is not None for c in counts):
            out["reasoning_tokens_each"] = [c[0] for c in counts if c is not None]
    return out
