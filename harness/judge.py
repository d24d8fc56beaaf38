"""The judge pass: judged items are scored by a judge model after the evaluated model's answers are saved.

It runs as its own batched pass, once the evaluated model is unloaded: every judge prompt of every judged task
goes to the judge backend in one call. Each verdict is appended to `<run>.judge.jsonl` as it arrives, so a crash
loses nothing already judged; at the end the per-sample JSONL is rewritten (atomically) with the verdicts. An
unreadable verdict is recorded and counted (`judge_unparsed`), never scored as 0.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from harness.data import sha256_file
from harness.dispatch import Planned
from harness.errors import HarnessError
from harness.results import SampleWriter, write_atomic
from harness.scoring import Scored
from harness.tasks import _doc
from harness.throughput import Usage
from harness.types import GenerateRequest
from harness.verdicts import dimension_scores, parse_verdict


def load_context(p: Planned, data_dir: Path | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The judge's side files (rubric prompts, dimension tables) named in the task's judge.context, with hashes."""
    assert p.task.spec.judge is not None
    ctx: dict[str, Any] = {}
    hashes: dict[str, str] = {}
    for name, rel in p.task.spec.judge.context.items():
        path = (data_dir / rel) if data_dir else None
        if path is None or not path.is_file():
            raise HarnessError(f"task {p.task.name}: judge.context '{name}': {rel} not found under the data dir")
        text = path.read_text(encoding="utf-8")
        try:
            ctx[name] = json.loads(text)
        except json.JSONDecodeError:
            ctx[name] = [json.loads(line) for line in text.split("\n") if line.strip()]
        hashes[rel] = sha256_file(path)
    return ctx, hashes


def build_prompts(p: Planned, si: int, s: Scored, ctx: dict[str, Any]) -> list[tuple[int | None, list[tuple[str, str]]]]:
    """(turn, judge messages) for one item: one per turn when the rubric judges turns (MT-Bench), else one."""
    spec = p.task.spec.judge
    assert spec is not None and s.details is not None
    turns: list[str] = s.details["turns"]
    answers: list[str] = s.details["answers"]
    sample = p.prompts[si].sample
    doc = _doc(sample)
    doc["turns"] = [sample.question, *turns[1:]]  # the user's words, without the prompt template around turn 1
    wanted = range(1, len(turns) + 1) if spec.per_turn else [len(turns)]
    out: list[tuple[int | None, list[tuple[str, str]]]] = []
    for turn in wanted:
        context = dict(doc=doc, output=answers[turn - 1], outputs=answers, turn=turn, ctx=ctx)
        messages: list[tuple[str, str]] = []
        if p.task.judge_system is not None:
            system = p.task.judge_system.render(**context).strip()
            if system:
                messages.append(("system", system))
        assert p.task.judge_prompt is not None
        messages.append(("user", p.task.judge_prompt.render(**context)))
        out.append((turn if spec.per_turn else None, messages))
    return out


def check_templates(planned: list[Planned], data_dir: Path | None) -> None:
    """Render every judge prompt once with empty answers before any model runs: a broken rubric template or a
    missing side file fails in seconds, not after hours of generation."""
    from harness.dispatch import turns_of

    for p in planned:
        if p.task.spec.answer_type != "judged":
            continue
        ctx, _ = load_context(p, data_dir)
        for si, ps in enumerate(p.prompts):
            turns = turns_of(p, ps)
            probe = Scored(prediction=None, metrics={}, correct=False, details={"turns": turns, "answers": [""] * len(turns)})
            build_prompts(p, si, probe, ctx)


def item_score(values: list[float | None], scale: tuple[float, float], pass_at: float | None) -> float | None:
    """An item's score in [0, 1] from its parsed verdicts (unparsed turns left out); None if none parsed."""
    got = [v for v in values if v is not None]
    if not got:
        return None
    if pass_at is not None:
        return sum(1.0 for v in got if v >= pass_at) / len(got)
    return sum(v / scale[1] for v in got) / len(got)


def run_judge(planned: list[Planned], scored: list[dict[int, Scored]], data_dir: Path | None,
              open_judge: Callable[[], Any], judge_path: Path, samples_path: Path, seed: int,
              progress: bool, cache: Any = None) -> dict[str, Any]:
    """Judge every judged item; update `scored` in place; return the results file's `judge` block."""
    judged = [ti for ti, p in enumerate(planned) if p.task.spec.answer_type == "judged"]
    contexts: dict[int, dict[str, Any]] = {}
    prompts_info: dict[str, Any] = {}
    for ti in judged:
        p = planned[ti]
        contexts[ti], hashes = load_context(p, data_dir)
        prompts_info[p.task.name] = {
            "template_hash": p.task.judge_prompt.hash if p.task.judge_prompt else None,
            "system_hash": p.task.judge_system.hash if p.task.judge_system else None,
            "context_files": hashes, "parser": p.task.spec.judge.parser,  # type: ignore[union-attr]
        }
    items: list[tuple[int, int, int | None, list[tuple[str, str]]]] = []
    for ti in judged:
        for si, s in scored[ti].items():
            for turn, messages in build_prompts(planned[ti], si, s, contexts[ti]):
                items.append((ti, si, turn, messages))
    t0 = time.perf_counter()
    opened = open_judge()
    load_seconds = time.perf_counter() - t0
    backend, chat, use_messages = opened.backend, opened.chat, opened.use_messages
    requests = []
    for ti, _si, _turn, messages in items:
        spec = planned[ti].task.spec.judge
        text = chat(messages) if chat is not None else "\n\n".join(c for _, c in messages)
        requests.append(GenerateRequest(text, spec.max_new_tokens, (), 0.0, seed, chat is None,  # type: ignore[union-attr]
                                        tuple(messages) if use_messages else ()))
    verdicts: dict[tuple[int, int], dict[int | None, tuple[float | None, str]]] = {}
    usage = Usage()
    wall0 = time.perf_counter()
    from harness.dispatch import _progress, through_cache

    cached = 0
    judge_id = None
    if cache is not None:
        from harness.cache import model_identity

        judge_id = model_identity(opened.model_block)
    with SampleWriter(judge_path) as writer:
        stream = through_cache(cache, judge_id or {}, "gen", backend.generate, requests)
        for idx, res, hit in _progress(stream, len(requests), "judge", progress):
            cached += hit
            ti, si, turn, _ = items[idx]
            p = planned[ti]
            spec = p.task.spec.judge
            value = parse_verdict(spec.parser, res.text, spec.scale)  # type: ignore[union-attr]
            verdicts.setdefault((ti, si), {})[turn] = (value, res.text)
            c = res.cost
            if not hit:
                usage.add(c.prompt_tokens, c.generated_tokens, c.seconds, c.ttft_s, c.tpot_s)
            writer.write({"task": p.task.name, "sample_id": p.prompts[si].sample.sample_id, "turn": turn,
                          "judge_prompt": requests[idx].prompt, "judge_output": res.text, "verdict": value})
    wall = time.perf_counter() - wall0
    unparsed: dict[str, int] = {}
    for (ti, si), per_turn in verdicts.items():
        spec = planned[ti].task.spec.judge
        assert spec is not None
        ordered = [per_turn[k] for k in sorted(per_turn, key=lambda k: k or 0)]
        values = [v for v, _ in ordered]
        score = item_score(values, spec.scale, spec.pass_at)
        s = scored[ti][si]
        s.metrics = {} if score is None else {"judge_score": score}
        s.prediction = None if score is None else f"{score:.3f}"
        s.correct = score is not None and score >= 1.0
        details = dict(s.details or {})
        details.update(judge="done" if score is not None else "unparsed", verdicts=values,
                       judge_outputs=[t for _, t in ordered])
        if spec.parser == "alignbench":
            details["dimensions"] = [dimension_scores(t) for _, t in ordered]
        s.details = details
        missing = sum(v is None for v in values)
        if missing:
            name = planned[ti].task.name
            unparsed[name] = unparsed.get(name, 0) + missing
    _merge_into_samples(samples_path, planned, scored)
    describe = backend.describe()
    return {
        "model": opened.model_block,
        "backend": backend.name,
        "engine": describe,
        "prompts": prompts_info,
        "requests": len(requests),
        "cached_requests": cached,
        "unparsed_verdicts": unparsed,
        "judgements_file": judge_path.name,
        "throughput": {"model_load_seconds": round(load_seconds, 3), **usage.report(wall_seconds=wall)},
    }


def _merge_into_samples(samples_path: Path, planned: list[Planned], scored: list[dict[int, Scored]]) -> None:
    """Rewrite the per-sample JSONL with the verdicts (write a new file, then rename: never half a file)."""
    final: dict[tuple[str, str], Scored] = {}
    for ti, p in enumerate(planned):
        if p.task.spec.answer_type == "judged":
            for si, s in scored[ti].items():
                final[(p.task.name, p.prompts[si].sample.sample_id)] = s
    def rewrite(out: Any) -> None:
        with open(samples_path, encoding="utf-8") as src:
            for line in src:
                rec = json.loads(line)
                s = final.get((rec.get("task"), rec.get("sample_id")))
                if s is not None:
                    rec.update(prediction=s.prediction, correct=s.correct, metrics=s.metrics, **(s.details or {}))
                out.write(json.dumps(rec, ensure_ascii=False, allow_nan=False) + "\n")

    write_atomic(samples_path, rewrite)

