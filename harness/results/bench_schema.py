"""The `harness bench` results file as typed models (harness/bench/run.py writes it, the leaderboard's efficiency
page reads it), checked by one schema like the eval results file (harness/results/schema.py: strict JSON types,
finite numbers, unknown fields kept, errors naming the field). Its JSON Schema is checked in at
schemas/bench.schema.json (`python -m harness.results.bench_schema --write`; a test checks it is current).

A bench file is told apart from an eval results file by `kind: "harness-bench"` and `bench_schema_version`
(it has no `schema_version`, so a results-folder reader that looks for eval files passes it by)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.results.schema import Count, Number, schema_document, validate_as

BENCH_SCHEMA_VERSION = 1


class _Block(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)


class Distribution(_Block):
    """A latency in milliseconds over the requests (TTFT, TPOT, E2EL) or the chunk gaps (ITL)."""

    mean: Number
    std: Number | None = None
    p50: Number
    p90: Number
    p99: Number
    n: Count


class Span(_Block):
    mean: Number
    min: Count
    max: Count


class Workload(_Block):
    """The prompts: where from (random tokens, a JSONL file, tasks), how many, their lengths in tokens."""

    source: Literal["random", "file", "tasks"]
    num_prompts: Count
    seed: int | None = None
    temperature: Number | None = None
    ignore_eos: bool | None = None
    input_len: Span | None = None
    output_len: Span | None = None
    tasks: list[str] | None = None


class ScenarioResult(_Block):
    """One scenario: how requests were sent (rate, concurrency), what came back, and the figures
    (definitions in harness/bench/metrics.py)."""

    name: Annotated[str, Field(min_length=1)]
    request_rate: Number | None = None  # requests/s of the Poisson arrivals; null: all at once
    max_concurrency: Count | None = None
    burstiness: Number | None = None
    requests: Count
    completed: Count
    failed: Count
    duration_s: Number
    input_tokens: Count
    output_tokens: Count
    request_throughput: Number | None
    output_tokens_per_s: Number | None
    total_tokens_per_s: Number | None
    good_requests: Count | None = None
    goodput: Number | None = None
    ttft_ms: Distribution | None = None
    tpot_ms: Distribution | None = None
    itl_ms: Distribution | None = None
    e2el_ms: Distribution | None = None
    per_accelerator: dict[str, Number | None] | None = None
    energy_joules: Number | None = None
    energy_method: str | None = None
    joules_per_output_token: Number | None = None
    errors: list[str] | None = None


class BenchModel(_Block):
    name: Annotated[str, Field(min_length=1)]
    backend: str
    engine: dict[str, Any] | None = None


class BenchFile(_Block):
    bench_schema_version: int
    kind: Literal["harness-bench"]
    model: BenchModel
    accelerator: dict[str, Any] | None = None
    devices: Count | None = None
    workload: Workload
    slo: dict[str, Number] | None = None
    scenarios: list[ScenarioResult]
    started_at: str | None = None
    finished_at: str
    command: list[str] | None = None
    harness: dict[str, Any] | None = None


def is_bench(data: Any) -> bool:
    """Whether parsed JSON claims to be a bench results file (then it is validated as one)."""
    return isinstance(data, dict) and data.get("kind") == "harness-bench"


def validate_bench(data: Any) -> BenchFile:
    """`data` as a BenchFile, or SchemaError naming the first wrong field."""
    return validate_as(BenchFile, data)


def json_schema() -> dict[str, Any]:
    return schema_document(BenchFile, "harness bench results file",
                           f"One run of `harness bench` (bench_schema_version {BENCH_SCHEMA_VERSION}).")


SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "bench.schema.json"


def json_schema_text() -> str:
    return json.dumps(json_schema(), ensure_ascii=False, indent=2) + "\n"


if __name__ == "__main__":  # python -m harness.results.bench_schema [--write]
    if sys.argv[1:] == ["--write"]:
        SCHEMA_FILE.write_text(json_schema_text(), encoding="utf-8")
        print(f"wrote {SCHEMA_FILE}")
    else:
        sys.stdout.write(json_schema_text())
