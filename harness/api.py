"""The Python API: `harness.evaluate(...)` runs an evaluation and returns a typed result, like lm-eval's
`simple_evaluate` or inspect_ai's `eval()`, without building an EvalConfig or reading files back.

    import harness
    result = harness.evaluate("qwen3-8b", tasks=["ceval", "cmmlu"], data_dir="~/data", limit=100)
    result.scores          # {"ceval": 61.0, "cmmlu": 58.5}
    result.samples("ceval")  # the per-item records: prompt, response, prediction, metrics

Nothing is written unless asked: without `output_dir` the run writes into a temporary folder that is read back
into memory and removed, and the response cache is off (pass `cache="on"` to share the CLI's). `harness eval`
runs through `run_config` below, so the CLI and the API cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import difflib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.results.schema import ResultsFile, RunThroughput, TaskResult
    from harness.run.runner import EvalConfig

# EvalConfig fields that evaluate() sets itself, or that only make sense on the command line
_RESERVED = {"model", "tasks", "suite", "data_dir", "output_dir", "command"}


@dataclass
class EvalResult:
    """One finished run: the results file as typed models (`results`), the same as a plain dict (`raw`), and the
    per-item records (`samples()`). `path` is the results file when the run kept its files, else None."""

    results: ResultsFile
    raw: dict[str, Any]
    path: Path | None = None
    samples_path: Path | None = None
    _samples: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def tasks(self) -> dict[str, TaskResult]:
        return self.results.tasks

    @property
    def scores(self) -> dict[str, float | None]:
        """Each task's score: its primary metric, 0-100 (None: nothing could be scored, e.g. no judge verdicts)."""
        return {name: t.score for name, t in self.results.tasks.items()}

    @property
    def categories(self) -> dict[str, float | None]:
        """The suite's category scores (empty when the run named tasks rather than a suite)."""
        suite = self.results.suite
        return {name: c.score for name, c in suite.categories.items()} if suite else {}

    @property
    def overall(self) -> float | None:
        """The suite's total by its rule (None without a suite, or when a category was not evaluated)."""
        return self.results.suite.total if self.results.suite else None

    @property
    def throughput(self) -> RunThroughput | None:
        return self.results.throughput

    def samples(self, task: str | None = None) -> list[dict[str, Any]]:
        """The per-item records (the samples JSONL), of one task or all."""
        if task is not None and task not in self.results.tasks:
            raise HarnessError(f"task {task}: not in this run ({', '.join(self.results.tasks)})")
        if self._samples is None:  # a run that kept its files: read the JSONL when first asked
            from harness.results.files import read_samples

            self._samples = read_samples(self.samples_path) if self.samples_path else []
        return [s for s in self._samples if task is None or s.get("task") == task]


def _config(model: str, tasks: Sequence[str], suite: str | None, data_dir: str | Path | None,
            output_dir: Path, options: dict[str, Any]) -> EvalConfig:
    from harness.run.runner import EvalConfig

    known = {f.name for f in dataclasses.fields(EvalConfig)} - _RESERVED
    for name in options:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {close[0]}?" if close else f"; known: {', '.join(sorted(known))}"
            raise HarnessError(f"harness.evaluate: unknown option {name}{hint}")
    if isinstance(tasks, str):
        tasks = [t.strip() for t in tasks.split(",") if t.strip()]
    data = Path(data_dir).expanduser() if data_dir is not None else None
    if data is not None and not data.is_dir():
        raise HarnessError(f"data_dir {data}: no such folder (it should hold e.g. ceval/val/*.csv)")
    options.setdefault("progress", False)
    return EvalConfig(model=model, tasks=list(tasks), suite=suite, data_dir=data, output_dir=output_dir,
                      command=["harness.evaluate", model], **options)


def run_config(cfg: EvalConfig, keep_files: bool = True) -> EvalResult:
    """Run one evaluation as configured and return its result (the CLI's path; `evaluate` builds the config).
    keep_files=False reads the samples into memory now, since the caller removes the output folder."""
    import json

    from harness.results.files import read_samples, results_text
    from harness.results.schema import SchemaError, validate_results
    from harness.run.runner import run_eval

    raw, path = run_eval(cfg)
    samples_path = path.parent / raw["samples_file"]
    try:
        typed = validate_results(json.loads(results_text(raw)))  # as the file holds it: a NaN metric is null there
    except SchemaError as e:  # the runner checks what it writes; this would be a harness bug, said in one line
        raise HarnessError(f"{path}: the results do not match their schema ({e}); the files are kept") from None
    if keep_files:
        return EvalResult(typed, raw, path, samples_path)
    return EvalResult(typed, raw, None, None, read_samples(samples_path))


def evaluate(model: str, tasks: Sequence[str] | str = (), *, suite: str | None = None,
             data_dir: str | Path | None = None, output_dir: str | Path | None = None, **options: Any) -> EvalResult:
    """Evaluate `model` (a preset, hub id, local folder, or with backend="openai" a served model) on `tasks` or a
    `suite`. `options` are the `harness eval` flags as keywords (limit=100, num_fewshot=0, backend="hf",
    judge_model="...", thinking="off", ...: the fields of harness.run.runner.EvalConfig). Returns an EvalResult;
    files are written only when `output_dir` is given. Errors are HarnessError with one line saying what to fix."""
    if output_dir is not None:
        from harness.results.files import check_output_dir

        check_output_dir(Path(output_dir), "output_dir")  # before any model loads, as the CLI does
        return run_config(_config(model, tasks, suite, data_dir, Path(output_dir), options))
    options.setdefault("cache", "off")  # the response cache is a file too
    with tempfile.TemporaryDirectory(prefix="harness-eval-") as tmp:
        return run_config(_config(model, tasks, suite, data_dir, Path(tmp), options), keep_files=False)
