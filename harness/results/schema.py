"""The results file as typed models: what `harness eval` writes (harness/run/runner.py), what a Ray merge writes
(harness/run/launch_ray.py) and what the leaderboard reads (harness/leaderboard/collect.py), checked by one schema.

Why strict: a results file travels (copied between machines, edited by hand, shared on a leaderboard), so the
reader takes nothing on trust. Types are checked as JSON has them (strict mode: "50" is not a number, true is not
a count, NaN and infinity are not scores); any error names the field (`tasks.ceval.score`), so one line can say
which file cannot be read and why. Fields the harness does not know are kept (extra="allow"): a file from a newer
harness that only adds fields still reads.

Versions. `schema_version` 1: results files before this schema existed (every field here optional but the model
name, the tasks and each task's version, item count and score); 2: files written since, checked against this
schema as they are written. Both are read by the same models: version 2 only adds the guarantee. The JSON
Schema of this module is checked in at schemas/results.schema.json (`python -m harness.results.schema --write`
writes it; a test checks it is current).

The samples file (one JSON object per line, harness/results/files.py) has a model too, `SampleLine`: the fields
the leaderboard's sample browser reads, the rest kept as they are.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

SCHEMA_VERSION = 2
READS = (1, 2)  # the schema versions this harness reads

Count = Annotated[int, Field(ge=0)]
Number = float  # strict: a JSON integer or float, finite (allow_inf_nan=False below); never a string or a bool
FileName = Annotated[str, StringConstraints(pattern=r"^[^./\\][^/\\]*$")]  # a file beside the results file


class _Block(BaseModel):
    """A block of the file: JSON types as they are, finite numbers, unknown fields kept."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)


class ThinkingPlan(_Block):
    """model.thinking: whether the run thought, and how it was switched (harness/run/reasoning.py)."""

    enabled: bool
    mode: str | None = None
    source: str | None = None
    tags: list[str | None] | None = None
    prefilled: bool | None = None
    template_kwargs: dict[str, Any] | None = None
    switch: str | None = None


class ModelInfo(_Block):
    """The model evaluated (or the judge): name, where from, how it was run."""

    name: Annotated[str, Field(min_length=1)]
    source: str | None = None
    is_local: bool | None = None
    preset: str | None = None
    family: str | None = None
    type: str | None = None
    revision: str | None = None
    architecture: str | None = None
    dtype: str | None = None
    backend: str | None = None
    engine: dict[str, Any] | None = None  # the backend's own description (engine, versions, parallel sizes)
    chat_template_applied: bool | None = None
    chat_template_hash: str | None = None
    trust_remote_code: bool | None = None
    max_model_len: Count | None = None
    tokenizer: dict[str, Any] | None = None
    commit: str | None = None
    commit_source: str | None = None
    commit_note: str | None = None
    weights: dict[str, Any] | None = None
    num_parameters: Count | None = None
    thinking: ThinkingPlan | None = None


class Latency(_Block):
    """A latency histogram (ttft_s, tpot_s) in seconds: mean, percentiles and buckets, so shards can merge."""

    mean: Number | None = None
    p50: Number | None = None
    p90: Number | None = None
    p99: Number | None = None
    n: Count | None = None
    buckets: dict[str, Count] | None = None


class Usage(_Block):
    """What a set of requests cost (harness/results/throughput.py Usage.report)."""

    samples: Count | None = None
    prompt_tokens: Count | None = None
    generated_tokens: Count | None = None
    seconds: Number | None = None
    prompt_tokens_per_s: Number | None = None
    generated_tokens_per_s: Number | None = None
    samples_per_s: Number | None = None
    ttft_s: Latency | None = None
    tpot_s: Latency | None = None
    per_accelerator: dict[str, Number | None] | None = None


class Accelerator(_Block):
    """What the run ran on: kind (cpu, cuda, npu, xpu, mlu, hpu, mps, remote), vendor, name, how many devices it
    used, and the stack's versions (harness/results/devices.py)."""

    kind: str
    vendor: str | None = None
    name: str | None = None
    count: Count | None = None
    parallel: dict[str, Count] | None = None
    runtime: str | None = None
    plugin: str | None = None
    driver: str | None = None


class RunCost(_Block):
    """The run's cost from a prices file (harness/results/prices.py); figures null where their inputs are unknown."""

    currency: str
    prices_file: str | None = None
    total: Number | None = None
    includes: list[str] = []
    per_million_generated_tokens: Number | None = None
    per_1k_items: Number | None = None
    per_correct_answer: Number | None = None
    accelerator_cost: Number | None = None
    electricity_cost: Number | None = None
    device_hours: Number | None = None
    energy_kwh: Number | None = None
    items: Count | None = None
    correct_answers: Number | None = None
    note: str | None = None


class RunThroughput(Usage):
    """The run's cost: the requests' sums and rates (Usage), model load, memory, energy, the accelerator."""

    model_load_seconds: Number | None = None
    batch_size: int | str | None = None
    peak_memory_bytes: Count | None = None
    peak_memory_kind: str | None = None
    energy_joules: Number | None = None
    energy_method: str | None = None
    energy_devices: Count | None = None
    energy_note: str | None = None
    accelerator: Accelerator | None = None
    measured: bool | None = None
    measured_note: str | None = None
    computed_requests: Count | None = None
    cached_requests: Count | None = None
    compute_seconds: Number | None = None
    generate_seconds: Number | None = None
    wall_prompt_tokens_per_s: Number | None = None
    wall_generated_tokens_per_s: Number | None = None
    wall_samples_per_s: Number | None = None
    joules_per_generated_token: Number | None = None
    joules_per_item: Number | None = None
    energy_scope: str | None = None  # what a sampled or whole-socket meter covers (harness/results/energy.py)
    cost: RunCost | None = None
    seconds_are: str | None = None  # a Ray merge: "summed over workers"


class Decoding(_Block):
    """tasks.<name>.decoding: how a generate-mode task was decoded (harness/run/decoding.py)."""

    max_new_tokens: Count | None = None
    temperature: Number | None = None
    top_p: Number | None = None
    top_k: int | None = None
    samples: Count | None = None
    stop: list[str] | None = None
    answer_stop: list[str] | None = None
    seeds: list[int] | None = None


class TokenStats(_Block):
    total: Number | None = None
    mean: Number | None = None
    p90: Number | None = None
    max: Number | None = None


class TaskThinking(_Block):
    """tasks.<name>.thinking: what a generate-mode task's generations cost (harness/run/reasoning.py)."""

    generations: Count | None = None
    unfinished_reasoning: Count | None = None
    with_reasoning: Count | None = None
    generated_tokens: Count | None = None
    seconds: Number | None = None
    seconds_per_item: Number | None = None
    generated_tokens_per_s: Number | None = None
    tokens_per_correct: Number | None = None
    reasoning_tokens: TokenStats | None = None
    answer_tokens: TokenStats | None = None
    reasoning_share: Number | None = None


class Excluded(_Block):
    count: Count
    ids: list[str | int] = []


class Context(_Block):
    """tasks.<name>.context: items not asked as the task says (too long, fewer shots, excluded by rule)."""

    limit: Count | None = None
    policy: str | None = None
    skipped: Count = 0
    fewer_shots: Count = 0
    budget_capped: Count = 0
    excluded: dict[str, Excluded] = {}


class AcrossSamples(_Block):
    """metrics.across_samples, with several generations per item: each run's score, their mean (avg@N), the
    standard error across runs, pass@N (an item right in any of its N generations) and cons@N (what the majority
    answer scored; harness/scoring/consensus.py)."""

    __pydantic_extra__: dict[str, Number | None]  # pass@N

    samples: Annotated[int, Field(ge=1)]
    per_sample: list[Number | None] = []
    mean: Number | None = None
    stderr: Number | None = None


class Metrics(_Block):
    """tasks.<name>.metrics: every metric's value and standard error (`<metric>`, `<metric>_stderr`), counts
    (unextracted, judged, judge_unparsed), and blocks: statuses (execution tasks), across_samples, and whatever a
    metric reports as a block of its own (e.g. FollowBench's csl_by): a value is a number, null or an object."""

    __pydantic_extra__: dict[str, Number | dict[str, Any] | None]

    statuses: dict[str, Count] | None = None
    across_samples: AcrossSamples | None = None


class TaskData(_Block):
    """tasks.<name>.data: where the items came from and the sha256 of every data file read."""

    origin: str | None = None
    files: dict[str, str] = {}
    skipped_rows: Count | None = None


class TaskResult(_Block):
    """One task's block: its score (the primary metric), every metric, how it was asked and what it cost."""

    name: str | None = None
    version: int | str
    category: str | None = None
    mode: str | None = None
    answer_type: str | None = None
    num_fewshot: Count | None = None
    n_samples: Count
    primary_metric: str | None = None
    score: Number | None  # null: nothing to score (e.g. every judge verdict unreadable)
    score_stderr: Number | None = None
    metrics: Metrics | None = None
    aggregate: dict[str, Any] | None = None
    template_hash: str | None = None
    prompt_hash: str | None = None
    data: TaskData | None = None
    source: str | None = None
    license: str | None = None
    description: str | None = None
    description_zh: str | None = None  # the description in Chinese (task file's description_zh), when it has one
    template: str | None = None
    throughput: Usage | None = None
    max_new_tokens: Count | None = None
    decoding: Decoding | None = None
    thinking: TaskThinking | None = None
    cached_requests: Count | None = None
    context: Context | None = None
    failed_items: Count | None = None


class SuiteCategory(_Block):
    zh: str | None = None
    en: str | None = None
    weight: Annotated[float, Field(ge=0)] = 1.0
    tasks: dict[str, Number | None] = {}
    score: Number | None = None
    evaluated: bool | None = None
    missing_tasks: list[str] = []
    unscored_tasks: list[str] = []  # ran, but nothing could be scored (e.g. every judge verdict unreadable)


class SuiteResult(_Block):
    """The suite's categories and total (harness/tasks/suites.py aggregate_suite)."""

    name: str | None = None
    version: int | str | None = None
    rule: str | None = None
    category_rule: str | None = None
    categories: dict[str, SuiteCategory] = {}
    total: Number | None = None
    weight_evaluated: Number | None = None
    weight_all: Number | None = None


class JudgeThroughput(Usage):
    """judge.throughput: the run's names and definitions (harness/results/throughput.py judge_figures)."""

    model_load_seconds: Number | None = None
    compute_seconds: Number | None = None
    generate_seconds: Number | None = None
    wall_prompt_tokens_per_s: Number | None = None
    wall_generated_tokens_per_s: Number | None = None
    wall_samples_per_s: Number | None = None


class JudgeInfo(_Block):
    """The judge pass of judged tasks (harness/run/judge.py)."""

    model: ModelInfo
    backend: str | None = None
    engine: dict[str, Any] | None = None
    prompts: dict[str, Any] = {}
    requests: Count = 0
    cached_requests: Count = 0
    unparsed_verdicts: dict[str, Count] = {}
    too_long_for_judge: dict[str, Count] = {}  # prompts that filled the judge's context: not sent, items unparsed
    judge_budget_capped: dict[str, Count] = {}  # prompts that left the judge less room than its token budget
    judgements_file: FileName | None = None
    sees_reasoning: bool | None = None
    throughput: JudgeThroughput | None = None


class HarnessInfo(_Block):
    version: str | None = None
    git_commit: str | None = None


class CacheStats(_Block):
    path: str | None = None
    read: bool | None = None
    write: bool | None = None
    hits: Count = 0
    misses: Count = 0
    corrupt_entries: Count = 0
    unstorable: Count | None = None


class ShardInfo(_Block):
    tasks: list[str]
    run_id: str | None = None
    throughput: dict[str, Number | None] = {}


class Launcher(_Block):
    kind: str
    shards: list[ShardInfo] = []


class ResultsFile(_Block):
    """One run: `results/<model>/<run_id>.json`."""

    schema_version: Annotated[int, Field(ge=1)]
    run_id: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    model: ModelInfo
    harness: HarnessInfo | None = None
    environment: dict[str, Any] | None = None
    judge: JudgeInfo | None = None
    command: list[str] | None = None
    config: dict[str, Any] | None = None
    tasks: dict[str, TaskResult]
    suite: SuiteResult | None = None
    notes: list[str] = []
    throughput: RunThroughput | None = None
    samples_file: FileName | None = None
    sandbox: dict[str, Any] | None = None
    cache: CacheStats | None = None
    launcher: Launcher | None = None


class SampleLine(_Block):
    """One line of a samples file: the fields the leaderboard's sample browser reads."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=True)  # a metric may be NaN in old files

    task: Annotated[str, Field(min_length=1)]
    sample_id: str | int | None = None
    mode: str | None = None
    prompt: str | None = None
    target: Any = None
    prediction: Any = None
    correct: bool | None = None
    metrics: dict[str, Any] = {}
    output: str | None = None
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None
    reasoning: str | None = None
    reasoning_finished: bool | None = None
    reasoning_finished_each: list[bool] | None = None
    judge: Any = None
    turns: list[str] | None = None
    answers: list[str | None] | None = None
    verdicts: Any = None
    judge_outputs: list[Any] | None = None
    execution: list[dict[str, Any]] | None = None


class SchemaError(ValueError):
    """A document that does not match its model: `field` is its dotted path in the file, `reason` what is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field, self.reason = field, reason


def _path(data: Any, loc: tuple[Any, ...], missing: bool) -> str:
    """The field's path in the document: pydantic's loc without the names of union members it tried."""
    parts: list[str] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif missing and i == len(loc) - 1:
            pass
        else:
            continue
        parts.append(str(part))
    return ".".join(parts)


_WANTS = {"dict_type": "an object", "model_type": "an object", "model_attributes_type": "an object",
          "list_type": "a list", "string_type": "a string", "int_type": "a whole number", "float_type": "a number",
          "finite_number": "a finite number", "bool_type": "true or false", "string_too_short": "a non-empty string",
          "string_pattern_mismatch": "a file name in the same folder", "none_required": "null"}


def _got(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def first_error(e: ValidationError, data: Any) -> SchemaError:
    """One line from pydantic's errors: the first field that is wrong, what it should be and what it holds."""
    errors = e.errors()
    head = errors[0]
    field = _path(data, tuple(head["loc"]), head["type"] == "missing")
    same = [x for x in errors if _path(data, tuple(x["loc"]), x["type"] == "missing") == field]
    wants = list(dict.fromkeys(_WANTS.get(x["type"]) or x["msg"].removeprefix("Input should be ") for x in same))
    if head["type"] == "missing":
        reason = "missing"
    else:
        reason = "should be " + " or ".join(wants) + f" (got {_got(head.get('input'))})"
    more = len({_path(data, tuple(x["loc"]), x["type"] == "missing") for x in errors}) - 1
    return SchemaError(field, reason + (f"; {more} more field{'s' if more > 1 else ''} wrong" if more else ""))


MAX_DEPTH = 64  # nesting a document may have: a results file needs under 10 levels, a samples line fewer
TOO_DEEP = f"nested too deeply (more than {MAX_DEPTH} levels)"


def too_deep(data: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether `data` nests lists and objects deeper than `limit`, found without recursion: every recursive walk
    of such a document (validation, cleaning, display) would end in RecursionError."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _document(data: Any) -> None:
    if not isinstance(data, dict):
        raise SchemaError("", f"should be a JSON object (got {type(data).__name__})")
    if too_deep(data):
        raise SchemaError("", TOO_DEEP)


def validate_results(data: Any) -> ResultsFile:
    """`data` (a parsed results file) as a ResultsFile, or SchemaError naming the first wrong field."""
    _document(data)
    try:
        return ResultsFile.model_validate(data)
    except ValidationError as e:
        err = first_error(e, data)
    version = data.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        err = SchemaError(err.field, f"{err.reason} (schema_version {version} is newer than this harness reads, "
                                     f"{SCHEMA_VERSION}: update the harness)")
    raise err


_M = TypeVar("_M", bound=BaseModel)


def validate_as(model: type[_M], data: Any) -> _M:
    """`data` (a parsed JSON document) as `model`, or SchemaError naming the first wrong field."""
    _document(data)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise first_error(e, data) from None


def validate_sample(data: Any) -> SampleLine:
    """`data` (one parsed samples line) as a SampleLine, or SchemaError naming the first wrong field."""
    return validate_as(SampleLine, data)


def schema_document(model: type[BaseModel], title: str, description: str) -> dict[str, Any]:
    """`model`'s JSON Schema, opening with $schema, a title and what it describes (the files under schemas/)."""
    head = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, "description": description}
    return {**head, **{k: v for k, v in model.model_json_schema().items() if k not in head}}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a results file, as checked in at schemas/results.schema.json."""
    return schema_document(ResultsFile, "harness results file",
                           f"One run of `harness eval` (schema_version {SCHEMA_VERSION}; this harness reads versions "
                           f"{', '.join(map(str, READS))}, and newer ones that only add fields).")


SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "results.schema.json"


def json_schema_text() -> str:
    return json.dumps(json_schema(), ensure_ascii=False, indent=2) + "\n"


if __name__ == "__main__":  # python -m harness.results.schema [--write]: print it, or write the checked-in copy
    if sys.argv[1:] == ["--write"]:
        SCHEMA_FILE.parent.mkdir(parents=True, exist_ok=True)
        SCHEMA_FILE.write_text(json_schema_text(), encoding="utf-8")
        print(f"wrote {SCHEMA_FILE}")
    else:
        sys.stdout.write(json_schema_text())
