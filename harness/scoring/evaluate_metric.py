"""Metrics from Hugging Face's `evaluate` library, for a task whose metric is not among the built-ins.

A task lists `evaluate:<name>` in `metrics` and says in its `evaluate` block which module computes it: a folder
beside the task file holding `<folder>/<folder>.py` (works offline), or a hub name such as "exact_match" or
"org/metric" (needs the hub). The module is applied to each answer on its own, against each reference, and the
sample gets the best value; the task score is the mean over samples with its standard error, like every
metric. So it suits per-answer metrics (exact match, character F1, a regex rule); a corpus-level statistic such
as BLEU is not the mean of per-sentence values and would come out different here.

An `evaluate` module is Python code, so it is loaded only with --trust-remote-code, like a hub model's code. The
results record each module's location and the SHA-256 of its script."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.types import Sample


@dataclass
class EvaluateMetric:
    """One loaded `evaluate` module, scoring one answer at a time."""

    name: str  # the metric's name in the task (without the evaluate: prefix)
    module: Any  # evaluate.EvaluationModule
    key: str  # the entry of compute()'s result that is the score
    kwargs: dict[str, Any] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)  # where it came from, for the results

    def value(self, prediction: str | None, sample: Sample) -> float:
        """The best value over the sample's references, in [0, 1] (a module reporting 0-100 is scaled down)."""
        best = 0.0
        for ref in sample.answers or [""]:
            got = self.module.compute(predictions=[prediction or ""], references=[str(ref)], **self.kwargs)
            if not isinstance(got, dict) or self.key not in got:
                raise ValueError(f"evaluate metric {self.name}: compute() returned no '{self.key}' "
                                 f"(keys: {sorted(got) if isinstance(got, dict) else type(got).__name__})")
            v = float(got[self.key])
            if math.isnan(v) or v < 0 or v > 100:
                raise ValueError(f"evaluate metric {self.name}: '{self.key}' is {v}, not a score in [0, 1] or [0, 100]")
            best = max(best, v / 100 if v > 1 else v)
        return best


def _script_hash(folder: Path) -> str:
    return hashlib.sha256((folder / f"{folder.name}.py").read_bytes()).hexdigest()


def load_evaluate_metrics(task: Any, trust_remote_code: bool) -> dict[str, EvaluateMetric]:
    """The task's `evaluate:` metrics, loaded once before any model loads, so a missing module or flag is one line
    naming the task file's field."""
    wanted = {m.split(":", 1)[1] for m in task.spec.metrics if m.startswith("evaluate:")}
    if not wanted:
        return {}
    where = f"{task.path}: field 'evaluate'"
    if not trust_remote_code:
        raise HarnessError(f"{where}: task {task.name} scores with evaluate modules ({', '.join(sorted(wanted))}), "
                           f"which are Python code; run with --trust-remote-code to allow them")
    try:
        import evaluate
    except ImportError:
        raise HarnessError(f"{where}: the `evaluate` library is not installed; pip install 'zh-llm-harness[evaluate]'") from None
    evaluate.logging.set_verbosity_error()
    loaded = {}
    for name in sorted(wanted):
        entry = task.spec.evaluate[name]
        folder = (task.path.parent / entry.module).resolve()
        local = folder.is_dir()
        if not local and entry.module.startswith((".", "/")):  # meant as a folder
            raise HarnessError(f"{where}.{name}.module: no folder {folder}")
        if local and not (folder / f"{folder.name}.py").is_file():
            raise HarnessError(f"{where}.{name}.module: {folder} has no {folder.name}.py (an evaluate module folder "
                               f"holds a script named like the folder)")
        try:
            module = evaluate.load(str(folder) if local else entry.module, keep_in_memory=True)
        except Exception as e:  # an offline hub name, a script that fails to import: one line, the module named
            hint = "" if local else " (a hub name needs the hub; offline, give a folder beside the task file)"
            raise HarnessError(f"{where}.{name}.module: cannot load {entry.module!r}: {type(e).__name__}: "
                               f"{str(e).splitlines()[0][:200] if str(e) else ''}{hint}") from None
        source = {"module": entry.module, "kind": "folder" if local else "hub"}
        if local:
            source["sha256"] = _script_hash(folder)
        loaded[name] = EvaluateMetric(name, module, entry.key or name, dict(entry.kwargs), source)
    return loaded
