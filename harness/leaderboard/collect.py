"""Results files -> leaderboard rows: which runs count, and how models rank.

The leaderboard reads only results files (never tasks or backends), so a site can be built from runs made
anywhere. For every (model, task, task version) it keeps the run covering the most items, then the latest of
those (a `--limit` smoke run never hides a fuller run, and the cell says when a later run was passed over); a new
task version is a column of its own, never mixed into the old one. Within a column, a cell whose setup (prompt template, few-shot count, mode)
differs from the column's newest run, or that covers fewer items, is flagged, and so is a category mean that
uses an older task version than another model's. Ranks use standard competition ranking ("1, 2, 2, 4"), and a
row whose total is within the combined standard error of the row above is marked as a statistical tie.

Throughput is kept per (accelerator, backend) from the latest run that MEASURED it: a rerun answered all or mostly
from the response cache keeps its scores but not its (empty) rates, so the figures, peak memory and energy of the
run that computed the answers stay, with its date. The accelerator counts every device a run used (see Throughput).

A model evaluated with thinking on (`model.thinking.enabled` in the results, harness/run/reasoning.py) is an entry of
its own, apart from the same model without thinking: rows are keyed by (model name, thinking), so the two never
share a score, a rank, a page or a sample set. Results without the field are entries without thinking, as before.
Results files are checked against the results schema (harness/results/schema.py) as they are read: a file with a
wrong type anywhere (a string score, NaN, tasks as a list, a thinking block that is not an object) is left out of the
board with one line naming the file and the field, and the rest builds. Values of the right type that still make
no sense (a negative share, a zero tokens-per-correct) are read defensively: left out, never an error.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.results.files import clean
from harness.results.prices import items_and_correct
from harness.results.schema import TOO_DEEP, SchemaError, validate_results
from harness.results.throughput import is_measured, task_sums


@dataclass(frozen=True)
class TaskScore:
    task: str
    version: str
    prompt_hash: str
    score: float
    stderr: float | None
    n: int
    category: str
    finished_at: str
    run_file: str
    template_hash: str = ""
    num_fewshot: int | None = None
    mode: str = ""
    judge: str | None = None  # the judge model that scored it (judged tasks), else None
    # items the run did not ask as the task says (harness/run/context.py): (kind, count) for skipped (too long),
    # fewer_shots, budget_capped and excluded (by rule, e.g. multi-answer items in likelihood mode)
    not_as_asked: tuple[tuple[str, int], ...] = ()
    # later runs of this column that covered fewer items, so were not shown: (items, finished_at, run_file)
    passed_over: tuple[tuple[int, str, str], ...] = ()

    @property
    def column(self) -> str:
        """Leaderboard column: one per task version, so versions are never mixed."""
        return f"{self.task}@v{self.version}"

    @property
    def setup(self) -> tuple[str, int | None, str, str | None]:
        """What must match for two scores of one column to be comparable (the judge included)."""
        return (self.template_hash, self.num_fewshot, self.mode, self.judge)


@dataclass(frozen=True)
class Throughput:
    """What the latest run that MEASURED it (see harness.results.throughput.is_measured: a rerun answered all or mostly from
    the response cache did not) recorded for one model on one accelerator with one backend. The rates are those of
    harness.results.throughput.run_figures, derived here from the task blocks so older results files read the same way:
    generated_tokens_per_s over the generate-mode requests' time only (decoding speed), prompt_tokens_per_s and
    samples_per_s over the time of all requests computed, wall_generated_tokens_per_s over the run's wall clock;
    each *_per_accelerator is that rate divided by `devices`."""

    accelerator: str
    kind: str
    backend: str
    engine: str
    dtype: str
    batch_size: Any
    prompt_tokens_per_s: float | None
    generated_tokens_per_s: float | None  # over the generate-mode tasks only: decoding speed, not likelihood time
    samples_per_s: float | None
    peak_memory_bytes: int | None
    peak_memory_kind: str
    ttft_p50_s: float | None
    tpot_p50_s: float | None
    energy_joules: float | None  # every device used, summed; None where not measured on all of them
    samples: int
    finished_at: str
    run_file: str
    devices: int = 1  # devices the run used (vLLM: tensor x pipeline x data parallel; a model split over GPUs)
    generate_seconds: float | None = None
    wall_generated_tokens_per_s: float | None = None
    prompt_tokens_per_s_per_accelerator: float | None = None
    generated_tokens_per_s_per_accelerator: float | None = None
    samples_per_s_per_accelerator: float | None = None
    wall_generated_tokens_per_s_per_accelerator: float | None = None
    joules_per_generated_token: float | None = None
    cached_requests: int = 0  # requests of that run answered from the cache (at most as many as it computed)
    # what its cost is computed from (harness/results/prices.py), and the cost: as recorded at eval, or priced at
    # leaderboard build (harness/leaderboard/costs.py)
    accelerator_name: str = ""
    seconds: float | None = None  # wall seconds of the request phase
    generated_tokens: float | None = None  # every task's
    items: int = 0
    correct_answers: float | None = None
    joules_per_item: float | None = None
    energy_method: str | None = None
    cost: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        return f"{self.accelerator} · {self.backend}"


@dataclass(frozen=True)
class Category:
    key: str
    zh: str
    en: str
    tasks: tuple[str, ...]
    weight: float = 1.0


@dataclass(frozen=True)
class TaskGeneration:
    """How one generate-mode task of an entry was decoded and what its generations cost (from the run behind the
    shown score); any field the results file lacks, or holds garbage in, is None."""

    column: str
    task: str
    decoding: dict[str, Any] | None  # max_new_tokens, temperature, top_p, top_k, samples, stop, answer_stop
    generations: int | None
    generated_tokens: float | None
    correct: float | None  # correct answers (the primary metric summed over generations), see _correct()
    correct_from: str  # tokens_per_correct | none_right | score | unknown: how `correct` was obtained
    tokens_per_correct: float | None
    unfinished: int | None
    with_reasoning: int | None
    reasoning_total: float | None
    reasoning_mean: float | None
    reasoning_p90: float | None
    answer_mean: float | None
    answer_p90: float | None
    reasoning_share: float | None
    seconds_per_item: float | None
    tokens_per_s: float | None
    across: dict[str, Any] | None  # metrics.across_samples: samples, mean, stderr, pass_at (pass@N), per_sample


@dataclass(frozen=True)
class Cost:
    """What an entry's right answers cost, over the generate-mode tasks behind its total (the newest version of
    each task) whose results record `thinking` statistics.

    tokens_per_correct = sum of generated tokens / sum of correct answers over those tasks (None when nothing was
    right); reasoning_per_generation = sum of reasoning tokens / generations over the tasks that counted them
    (every sampled answer is one generation); unfinished = generations whose thinking never closed."""

    columns: tuple[str, ...]
    generations: int
    generated_tokens: float
    correct: float
    tokens_per_correct: float | None
    reasoning_per_generation: float | None
    unfinished: int
    estimated: bool  # some task's correct count came from its score (its tokens_per_correct was unusable)


@dataclass
class ModelRow:
    model: str
    family: str | None
    type: str | None
    params: int | None = None
    thinking: bool = False  # an entry of runs made with thinking on (model.thinking.enabled)
    accelerators: set[str] = field(default_factory=set)
    scores: dict[str, TaskScore] = field(default_factory=dict)  # column -> latest score
    categories: dict[str, float] = field(default_factory=dict)
    category_stderr: dict[str, float] = field(default_factory=dict)
    coverage: dict[str, tuple[int, int]] = field(default_factory=dict)  # category -> (tasks scored, tasks known)
    judges: dict[str, list[str]] = field(default_factory=dict)  # category -> judge models behind its judged tasks
    total: float | None = None
    total_stderr: float | None = None
    rank: int | None = None
    tied_with_previous: bool = False
    flags: list[str] = field(default_factory=list)
    throughput: dict[str, Throughput] = field(default_factory=dict)  # Throughput.key -> latest
    runs: list[dict[str, Any]] = field(default_factory=list)  # every results file of the model, oldest first
    generation: dict[str, TaskGeneration] = field(default_factory=dict)  # column -> decoding and cost (generate mode)
    cost: Cost | None = None
    thinking_plan: dict[str, Any] | None = None  # model.thinking of the newest run that records it, cleaned

    @property
    def key(self) -> tuple[str, bool]:
        return (self.model, self.thinking)

    @property
    def slug(self) -> str:
        """The model's slug; a thinking entry's ends in "--thinking" (a model whose own name already ends so gets
        a hash, so the two never share a page)."""
        base = slug(self.model)
        if self.thinking:
            return f"{base}--thinking"
        if base.endswith("--thinking"):
            return f"{base}-{hashlib.sha1(self.model.encode('utf-8')).hexdigest()[:6]}"
        return base


@dataclass
class Leaderboard:
    rows: list[ModelRow]
    categories: list[Category]  # categories with at least one score, in suite order
    columns: list[str]  # task columns, in category order
    throughput_keys: list[str]
    tasks: dict[str, dict[str, Any]]  # task name -> description, source, license, template, category, versions


def slug(name: str) -> str:
    """A file-name-safe, readable id for a model or task name. A name that had to change gets a short hash of
    the original, so "Qwen/Qwen2.5-7B" and "qwen-qwen2.5-7b" never share a page."""
    s = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.")
    if s != name:
        s = f"{s or 'x'}-{hashlib.sha1(name.encode('utf-8')).hexdigest()[:6]}"
    return s


MAX_RESULTS_BYTES = 256 * 2**20  # a results file is a few hundred KB; anything this large is not one to read whole


def load_results(folder: Path, skipped: list[str] | None = None) -> list[dict[str, Any]]:
    """Every results file (*.json with a schema_version) under `folder`, oldest first; other JSON files are
    ignored. A results file that cannot be read or does not match the results schema (harness/results/schema.py)
    is left out, and `skipped` gets one line naming it and the first wrong field, so one bad file never stops a
    build. Files that pass are returned as parsed (lone surrogates replaced), with `_file` and `_path` added."""
    if not folder.is_dir():
        raise HarnessError(f"leaderboard: results folder {folder} not found")
    runs = []
    for path in sorted(folder.rglob("*.json")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts[:-1]):
            continue  # .shards/ (a Ray run's per-shard files, merged into the model's own file) and other hidden dirs
        data, problem = _read_json(path)
        if problem is None:
            if not (isinstance(data, dict) and "schema_version" in data):
                continue  # JSON, but not a results file
            try:
                validate_results(data)
            except SchemaError as e:
                problem = str(e)
        if problem is not None:
            if skipped is not None:
                skipped.append(f"skipped {rel.as_posix()}: {problem}")
            continue
        data = clean(data)
        if not isinstance(data.get("finished_at"), str):
            data["finished_at"] = ""
        data["_file"] = rel.as_posix()
        data["_path"] = str(path)
        runs.append(data)
    runs.sort(key=lambda r: (r.get("finished_at", ""), r["_file"]))
    return runs


def _read_json(path: Path) -> tuple[Any, str | None]:
    """A JSON file's content, or why it cannot be read (in words for the one-line report)."""
    try:
        size = path.stat().st_size
        if size > MAX_RESULTS_BYTES:
            return None, f"larger than {MAX_RESULTS_BYTES:,} bytes, the most a results file may have"
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        return None, f"not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})"
    except OSError as e:
        return None, f"cannot be read ({e.strerror or type(e).__name__})"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as e:
        return None, f"not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})"
    except RecursionError:
        return None, f"not valid JSON: {TOO_DEEP}"


def number(value: Any) -> float | None:
    """A finite number from a results file, else None (a string, NaN, infinity, a bool or nothing)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value) if math.isfinite(value) else None
    except OverflowError:  # an integer too large for a float
        return None


def count(value: Any) -> int | None:
    """A non-negative whole count, else None."""
    v = number(value)
    return int(v) if v is not None and v >= 0 and v == int(v) else None


def thinking_on(model: Any) -> bool:
    """Whether a run's model block says it ran with thinking on; absent or malformed: off (results from before
    thinking was recorded)."""
    th = model.get("thinking") if isinstance(model, dict) else None
    return isinstance(th, dict) and th.get("enabled") is True


def entry_key(run: dict[str, Any]) -> tuple[str, bool]:
    """The leaderboard entry a run belongs to: (model name, thinking on)."""
    return (run["model"]["name"], thinking_on(run["model"]))


def latest_scores(runs: list[dict[str, Any]]) -> dict[tuple[str, bool], dict[str, TaskScore]]:
    """(model, thinking) -> column -> the score shown: of the run covering the most items, the latest of those
    (runs come oldest first); later runs with fewer items (a --limit smoke run after a full one) are listed in
    `passed_over`. A task block that cannot be read (no version, a score that is not a finite number) is skipped."""
    best: dict[tuple[str, bool], dict[str, TaskScore]] = {}
    later: dict[tuple[tuple[str, bool], str], list[TaskScore]] = {}
    for run in runs:
        key = entry_key(run)
        judge = ((run.get("judge") or {}).get("model") or {}).get("name") if isinstance(run.get("judge"), dict) else None
        for name, t in run["tasks"].items():
            score = number(t.get("score"))
            if score is None or t.get("version") is None or count(t.get("n_samples")) is None:
                continue
            s = TaskScore(name, str(t["version"]), t.get("prompt_hash", ""), score, number(t.get("score_stderr")),
                          int(t["n_samples"]), t.get("category", ""), run.get("finished_at", ""), run["_file"],
                          t.get("template_hash", ""), t.get("num_fewshot"), t.get("mode", ""),
                          judge if t.get("answer_type") == "judged" else None,
                          _not_as_asked(t.get("context"), t.get("data")))
            current = best.setdefault(key, {}).get(s.column)
            if current is None or (s.n, s.finished_at) >= (current.n, current.finished_at):
                best[key][s.column] = s
            if current is not None:
                later.setdefault((key, s.column), []).extend([current, s])
    for (key, col), seen in later.items():
        shown = best[key][col]
        over = {(s.n, s.finished_at, s.run_file) for s in seen if s.finished_at > shown.finished_at and s.n < shown.n}
        if over:
            best[key][col] = replace(shown, passed_over=tuple(sorted(over, key=lambda x: (x[1], x[2]))))
    return best


def thinking_plan(model: Any) -> dict[str, Any] | None:
    """model.thinking as the model page shows it: only well-formed fields (None when absent or not a dict)."""
    th = model.get("thinking") if isinstance(model, dict) else None
    if not isinstance(th, dict):
        return None
    tags = th.get("tags")
    kwargs = th.get("template_kwargs")
    return {
        "enabled": th.get("enabled") is True,
        "mode": th.get("mode") if isinstance(th.get("mode"), str) else None,
        "source": th.get("source") if isinstance(th.get("source"), str) else None,
        "tags": [str(x) for x in tags] if isinstance(tags, list) and all(isinstance(x, str) for x in tags) else None,
        "prefilled": th.get("prefilled") if isinstance(th.get("prefilled"), bool) else None,
        "template_kwargs": (json.dumps(kwargs, ensure_ascii=False, sort_keys=True, default=str)
                            if isinstance(kwargs, dict) and kwargs else None),
        "switch": th.get("switch") if isinstance(th.get("switch"), str) and th.get("switch") else None,
    }


def decoding(block: Any) -> dict[str, Any] | None:
    """tasks.<name>.decoding, cleaned: numbers that are numbers, stop strings that are lists of strings."""
    if not isinstance(block, dict):
        return None
    out: dict[str, Any] = {}
    for k in ("max_new_tokens", "top_k", "samples"):
        out[k] = count(block.get(k))
    for k in ("temperature", "top_p"):
        out[k] = number(block.get(k))
    for k in ("stop", "answer_stop"):
        v = block.get(k)
        out[k] = [x for x in v if isinstance(x, str)] if isinstance(v, list) else None
    return out if any(v is not None for v in out.values()) else None


def _stat(block: Any, key: str) -> float | None:
    return number(block.get(key)) if isinstance(block, dict) else None


def _correct(th: dict[str, Any], generated: float | None, generations: int | None,
             score: float | None) -> tuple[float | None, str]:
    """Correct answers of one task: the harness counts them (the primary metric summed over generations) and
    records generated_tokens / that count as tokens_per_correct, so count = generated_tokens / tokens_per_correct;
    tokens_per_correct null means nothing was right (0). Where that cannot be read back (no tokens generated, the
    field missing or garbage) the count is estimated as generations x score / 100."""
    tpc = number(th.get("tokens_per_correct"))
    if tpc is not None and tpc > 0 and generated is not None:
        return generated / tpc, "tokens_per_correct"
    if "tokens_per_correct" in th and th["tokens_per_correct"] is None and generations is not None:
        return 0.0, "none_right"
    if generations is not None and score is not None:
        return generations * min(max(score, 0.0), 100.0) / 100.0, "score"
    return None, "unknown"


def task_generation(column: str, task: str, t: dict[str, Any], score: float | None) -> TaskGeneration:
    th = t.get("thinking")
    if not isinstance(th, dict):
        th = {}
    generated = number(th.get("generated_tokens"))
    generated = generated if generated is not None and generated >= 0 else None
    generations = count(th.get("generations"))
    correct, how = _correct(th, generated, generations, score) if th else (None, "unknown")
    reasoning, answer = th.get("reasoning_tokens"), th.get("answer_tokens")
    metrics = t.get("metrics")
    if not isinstance(metrics, dict):
        metrics = {}
    across = metrics.get("across_samples")
    if isinstance(across, dict) and count(across.get("samples")) and number(across.get("mean")) is not None:
        per = across.get("per_sample")
        n = count(across.get("samples"))
        across = {"samples": n, "mean": number(across.get("mean")), "stderr": number(across.get("stderr")),
                  "pass_at": number(across.get(f"pass@{n}")),  # an item right in any of its N generations
                  "per_sample": [number(x) for x in per] if isinstance(per, list) else []}
    else:
        across = None
    share = number(th.get("reasoning_share"))
    return TaskGeneration(
        column=column, task=task, decoding=decoding(t.get("decoding")), generations=generations,
        generated_tokens=generated, correct=correct, correct_from=how,
        tokens_per_correct=number(th.get("tokens_per_correct")), unfinished=count(th.get("unfinished_reasoning")),
        with_reasoning=count(th.get("with_reasoning")), reasoning_total=_stat(reasoning, "total"),
        reasoning_mean=_stat(reasoning, "mean"), reasoning_p90=_stat(reasoning, "p90"),
        answer_mean=_stat(answer, "mean"), answer_p90=_stat(answer, "p90"),
        reasoning_share=share if share is not None and 0 <= share <= 1 else None,
        seconds_per_item=number(th.get("seconds_per_item")), tokens_per_s=number(th.get("generated_tokens_per_s")),
        across=across)


def entry_cost(gens: list[TaskGeneration]) -> Cost | None:
    """Cost over tasks whose generated tokens, generations and correct answers are all known (see Cost)."""
    used = [g for g in gens if g.generated_tokens is not None and g.generations and g.correct is not None]
    if not used:
        return None
    generated = sum(g.generated_tokens or 0.0 for g in used)
    correct = sum(g.correct or 0.0 for g in used)
    counted = [g for g in used if g.reasoning_total is not None]
    counted_gens = sum(g.generations or 0 for g in counted)
    return Cost(
        columns=tuple(g.column for g in used), generations=sum(g.generations or 0 for g in used),
        generated_tokens=generated, correct=correct,
        tokens_per_correct=generated / correct if correct > 0 else None,
        reasoning_per_generation=sum(g.reasoning_total or 0.0 for g in counted) / counted_gens if counted_gens else None,
        unfinished=sum(g.unfinished or 0 for g in used), estimated=any(g.correct_from == "score" for g in used))


def _not_as_asked(ctx: Any, data: Any = None) -> tuple[tuple[str, int], ...]:
    """What the run's items did not do as asked (context policy, exclusions by rule), and the rows the task file
    leaves out because they cannot be scored from the data (data.excluded_rows: NaturalCodeBench's fixtures)."""
    counts: list[tuple[str, int]] = []
    if isinstance(ctx, dict):
        excluded = sum(int(e.get("count") or 0) for e in (ctx.get("excluded") or {}).values() if isinstance(e, dict))
        counts = [(k, int(ctx.get(k) or 0)) for k in ("skipped", "fewer_shots", "budget_capped")] + [("excluded", excluded)]
    if isinstance(data, dict) and isinstance(data.get("excluded_rows"), int):
        counts.append(("left_out", data["excluded_rows"]))
    return tuple((k, n) for k, n in counts if n)


def categories_from_runs(runs: list[dict[str, Any]]) -> list[Category]:
    """Categories in the order the suites list them, with their names and tasks; a task run outside any suite
    joins its own category (named by its key when no suite names it)."""
    found: dict[str, dict[str, Any]] = {}
    for run in runs:
        for key, c in (run.get("suite") or {}).get("categories", {}).items():
            cat = found.setdefault(key, {"zh": c.get("zh") or key, "en": c.get("en") or key, "tasks": [],
                                         "weight": float(c.get("weight", 1.0))})
            for t in c.get("tasks", {}):
                if t not in cat["tasks"]:
                    cat["tasks"].append(t)
    for run in runs:
        for name, t in run["tasks"].items():
            key = t.get("category") if isinstance(t.get("category"), str) and t.get("category") else "other"
            cat = found.setdefault(key, {"zh": key, "en": key, "tasks": [], "weight": 1.0})
            if name not in cat["tasks"]:
                cat["tasks"].append(name)
    return [Category(k, v["zh"], v["en"], tuple(v["tasks"]), v["weight"]) for k, v in found.items()]


def _version_key(v: str) -> tuple[int, Any]:
    return (0, int(v)) if v.isdigit() else (1, v)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _devices(acc: dict[str, Any], engine: dict[str, Any]) -> tuple[int, int]:
    """(devices the run used, devices its accelerator block counted). Results from before every device was
    counted recorded `count: 1` for a vLLM run with tensor parallelism; its engine block still says how many."""
    recorded = count(acc.get("count")) or 1
    used = recorded
    if engine.get("engine") == "vllm" and acc.get("kind") == "cuda":
        world = 1
        for key in ("tensor_parallel_size", "pipeline_parallel_size", "prefill_context_parallel_size",
                    "data_parallel_size"):
            world *= count(engine.get(key)) or 1
        used = max(recorded, world)
    return used, recorded


def accelerator_label(run: dict[str, Any]) -> str | None:
    """"kind:label" of the accelerator a run ran on (measured or not), e.g. "cuda:4x NVIDIA H100"."""
    acc = _dict(_dict(run.get("throughput")).get("accelerator"))
    if not acc:
        return None
    n, _ = _devices(acc, _dict(run["model"].get("engine")))
    name = str(acc.get("name") or acc.get("kind") or "?")
    label = f"{n}x {name}" if n > 1 and acc.get("kind") not in ("cpu", "remote") else name
    return f"{acc.get('kind') or ''}:{label}"


def run_measured(run: dict[str, Any]) -> bool:
    """Whether a run measured its throughput: its own `measured` flag, else (results from before the flag) whether
    it computed any request and at least as many as it took from the response cache. A file that records no
    counts at all is taken as measured (nothing says otherwise)."""
    tp = _dict(run.get("throughput"))
    if isinstance(tp.get("measured"), bool):
        return tp["measured"]
    sums = task_sums(run["tasks"])
    computed = count(tp.get("samples"))
    if computed is None:
        computed = sums.computed if sums.has_counts else None
    if computed is None:
        return True
    return is_measured(computed, sums.cached)


def _throughput(run: dict[str, Any]) -> Throughput | None:
    """The run's throughput, or None when it has no accelerator block or did not measure (run_measured)."""
    tp = _dict(run.get("throughput"))
    acc = _dict(tp.get("accelerator"))
    label = accelerator_label(run)
    if not acc or label is None or not run_measured(run):
        return None
    model = run["model"]
    engine = _dict(model.get("engine"))
    n, recorded = _devices(acc, engine)
    sums = task_sums(run["tasks"])
    energy = number(tp.get("energy_joules"))
    if energy is not None and "energy_devices" not in tp and n > recorded:
        energy = None  # an older file's energy of GPU 0 alone, for a run over n GPUs: not the run's energy
    if sums.has_counts and sums.compute_seconds > 0:
        prompt_rate: float | None = sums.prompt_tokens / sums.compute_seconds
        samples_rate: float | None = sums.computed / sums.compute_seconds
    else:  # task blocks without counts: the run-level figures as recorded
        prompt_rate, samples_rate = number(tp.get("prompt_tokens_per_s")), number(tp.get("samples_per_s"))
    gen_rate = sums.generate_tokens / sums.generate_seconds if sums.generate_seconds > 0 else None
    wall_gen = number(tp.get("wall_generated_tokens_per_s"))
    if wall_gen is None and "wall_generated_tokens_per_s" not in tp:  # older files: counts over wall seconds
        secs, gen = number(tp.get("seconds")), number(tp.get("generated_tokens"))
        wall_gen = gen / secs if gen is not None and secs else None
    generated = number(tp.get("generated_tokens"))
    generated = generated if generated is not None else float(sums.generated_tokens)
    items, correct = items_and_correct(run["tasks"])

    def per(x: float | None) -> float | None:
        return x / n if x is not None else None

    return Throughput(
        accelerator=label.split(":", 1)[1], kind=str(acc.get("kind") or ""), backend=str(model.get("backend") or "?"),
        engine=f"{engine.get('engine', '?')} {engine.get('engine_version', '')}".strip(),
        dtype=str(model.get("dtype") or ""), batch_size=tp.get("batch_size"),
        prompt_tokens_per_s=prompt_rate, generated_tokens_per_s=gen_rate, samples_per_s=samples_rate,
        peak_memory_bytes=count(tp.get("peak_memory_bytes")), peak_memory_kind=str(tp.get("peak_memory_kind") or ""),
        ttft_p50_s=number(_dict(tp.get("ttft_s")).get("p50")), tpot_p50_s=number(_dict(tp.get("tpot_s")).get("p50")),
        energy_joules=energy, samples=count(tp.get("samples")) or 0,
        finished_at=run.get("finished_at", ""), run_file=run["_file"],
        devices=n, generate_seconds=sums.generate_seconds if sums.generate_seconds > 0 else None,
        wall_generated_tokens_per_s=wall_gen,
        prompt_tokens_per_s_per_accelerator=per(prompt_rate), generated_tokens_per_s_per_accelerator=per(gen_rate),
        samples_per_s_per_accelerator=per(samples_rate), wall_generated_tokens_per_s_per_accelerator=per(wall_gen),
        joules_per_generated_token=energy / generated if energy is not None and generated > 0 else None,
        cached_requests=sums.cached,
        accelerator_name=str(acc.get("name") or acc.get("kind") or ""), seconds=number(tp.get("seconds")),
        generated_tokens=generated, items=items, correct_answers=correct,
        joules_per_item=energy / items if energy is not None and items and not sums.cached else None,
        energy_method=str(tp["energy_method"]) if energy is not None and isinstance(tp.get("energy_method"), str) else None,
        cost=tp.get("cost") if isinstance(tp.get("cost"), dict) and isinstance(tp["cost"].get("currency"), str) else None,
    )


def rows(runs: list[dict[str, Any]], categories: list[Category] | dict[str, list[str]] | None = None) -> list[ModelRow]:
    """One row per model, ranked (see build())."""
    return build(runs, categories).rows


def build(runs: list[dict[str, Any]], categories: list[Category] | dict[str, list[str]] | None = None,
          category_rule: str = "mean_of_tasks") -> Leaderboard:
    """Latest scores per model, category means over the model's newest version of each task, the total as the
    weighted mean of the categories it has, flags for anything not comparable, throughput, and ranks.
    `category_rule` is the suite's (harness/tasks/suites.py): "weighted_by_items" weighs a category's tasks by their
    item counts, anything else takes the plain mean."""
    if categories is None:
        cats = categories_from_runs(runs)
    elif isinstance(categories, dict):
        cats = [Category(k, k, k, tuple(v)) for k, v in categories.items()]
    else:
        cats = categories
    scores = latest_scores(runs)
    newest: dict[str, TaskScore] = {}  # column -> its newest score (any model)
    most_items: dict[str, int] = {}
    current_version: dict[str, str] = {}
    for per_model in scores.values():
        for col, s in per_model.items():
            if col not in newest or s.finished_at > newest[col].finished_at:
                newest[col] = s
            most_items[col] = max(most_items.get(col, 0), s.n)
            if s.task not in current_version or _version_key(s.version) > _version_key(current_version[s.task]):
                current_version[s.task] = s.version

    out: dict[tuple[str, bool], ModelRow] = {}
    for run in runs:
        m = run["model"]
        key = entry_key(run)
        row = out.setdefault(key, ModelRow(m["name"], m.get("family"), m.get("type"), thinking=key[1]))
        row.family, row.type = m.get("family") or row.family, m.get("type") or row.type
        row.params = m.get("num_parameters") or row.params
        row.thinking_plan = thinking_plan(m) or row.thinking_plan  # runs are oldest first: the newest wins
        row.runs.append(run)
        acc = accelerator_label(run)
        if acc is not None:
            row.accelerators.add(acc)
        tp = _throughput(run)  # None for a run that did not measure (answered from the cache): the last one stays
        if tp is not None:
            row.throughput[tp.key] = tp  # runs are oldest first: the latest run that measured wins

    for key, row in out.items():
        row.scores = dict(sorted(scores.get(key, {}).items()))
        by_file = {r["_file"]: r for r in row.runs}
        for col, s in row.scores.items():
            t = by_file[s.run_file]["tasks"].get(s.task, {})
            if s.mode == "generate" and (isinstance(t.get("thinking"), dict) or isinstance(t.get("decoding"), dict)):
                row.generation[col] = task_generation(col, s.task, t, s.score)
        for col, s in row.scores.items():
            ref = newest[col]
            if s.setup != ref.setup:
                judged = f", judge {s.judge}" if s.judge or ref.judge else ""
                newest_judge = f", judge {ref.judge}" if s.judge or ref.judge else ""
                row.flags.append(f"{col}: prompt setup differs from the column's newest run "
                                 f"(template {s.template_hash}, {s.num_fewshot}-shot, {s.mode}{judged}; newest: "
                                 f"template {ref.template_hash}, {ref.num_fewshot}-shot, {ref.mode}{newest_judge})")
            if s.n < most_items[col]:
                row.flags.append(f"{col}: {s.n} items, fewer than the {most_items[col]} of another model's run")
        by_task: dict[str, TaskScore] = {}
        for s in row.scores.values():  # the model's newest version of each task
            if s.task not in by_task or _version_key(s.version) > _version_key(by_task[s.task].version):
                by_task[s.task] = s
        row.cost = entry_cost([row.generation[s.column] for s in by_task.values() if s.column in row.generation])
        for s in by_task.values():
            if s.version != current_version[s.task]:
                row.flags.append(f"{s.task}: scored on v{s.version}; the newest version on this board is "
                                 f"v{current_version[s.task]}")
        variances: list[tuple[float, float]] = []
        for cat in cats:
            present = [by_task[t] for t in cat.tasks if t in by_task]
            if not present:
                continue
            items = sum(s.n for s in present)
            if category_rule == "weighted_by_items" and items > 0:
                row.categories[cat.key] = sum(s.score * s.n for s in present) / items
                var = sum((s.n * (s.stderr or 0.0)) ** 2 for s in present) / items ** 2
            else:
                row.categories[cat.key] = sum(s.score for s in present) / len(present)
                var = sum((s.stderr or 0.0) ** 2 for s in present) / len(present) ** 2
            judges = sorted({s.judge for s in present if s.judge})
            if judges:
                row.judges[cat.key] = judges
            row.category_stderr[cat.key] = math.sqrt(var)
            row.coverage[cat.key] = (len(present), len(cat.tasks))
            variances.append((cat.weight, var))
        weight = sum(w for w, _ in variances)
        if weight > 0:
            row.total = sum(cat.weight * row.categories[cat.key] for cat in cats if cat.key in row.categories) / weight
            row.total_stderr = math.sqrt(sum(w * w * v for w, v in variances)) / weight

    evaluated = [c for c in cats if any(c.key in r.categories for r in out.values())]
    order = {t: i for i, t in enumerate(t for c in cats for t in c.tasks)}
    columns = sorted({col for r in out.values() for col in r.scores},
                     key=lambda c: (order.get(c.split("@v")[0], len(order)), c))
    keys = sorted({k for r in out.values() for k in r.throughput})
    return Leaderboard(rank(list(out.values())), evaluated, columns, keys, _task_info(runs, cats))


def _task_info(runs: list[dict[str, Any]], cats: list[Category]) -> dict[str, dict[str, Any]]:
    """What a task page shows about the task itself, from its newest run (results carry description and template
    since they exist; older files lack them)."""
    cat_of = {t: c for c in cats for t in c.tasks}
    info: dict[str, dict[str, Any]] = {}
    for run in runs:  # oldest first: newer runs overwrite
        for name, t in run["tasks"].items():
            i = info.setdefault(name, {"name": name, "versions": {}})
            i.update({k: t[k] for k in ("description", "description_zh", "source", "license", "template", "category",
                                        "primary_metric", "answer_type") if t.get(k) is not None})
            i["versions"][str(t.get("version", "?"))] = {"template_hash": t.get("template_hash"), "template": t.get("template")}
            c = cat_of.get(name)
            if c:
                i["category_zh"], i["category_en"] = c.zh, c.en
    return dict(sorted(info.items(), key=lambda kv: list(cat_of).index(kv[0]) if kv[0] in cat_of else len(cat_of)))


def rank(table: list[ModelRow]) -> list[ModelRow]:
    """Sort by total (missing totals last, then by name for a stable order) and assign competition ranks; mark
    a row tied with the one above when their totals differ by less than the combined standard error."""
    table.sort(key=lambda r: (r.total is None, -(r.total or 0.0), r.model, r.thinking))
    for i, row in enumerate(table):
        if row.total is None:
            continue
        prev = table[i - 1] if i else None
        if prev is not None and prev.total is not None and prev.total == row.total:
            row.rank = prev.rank
        else:
            row.rank = i + 1
        if prev is not None and prev.total is not None:
            combined = math.sqrt((prev.total_stderr or 0.0) ** 2 + (row.total_stderr or 0.0) ** 2)
            row.tied_with_previous = abs(prev.total - row.total) <= combined
    return table
