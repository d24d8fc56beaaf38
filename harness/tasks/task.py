"""Tasks: find task files, turn dataset rows into samples, and samples into prompts.

Nothing here knows about models or backends: the output is plain strings (a prompt, and in likelihood mode
the continuations to score).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from harness.errors import HarnessError, did_you_mean
from harness.tasks.data import (
    SINGLE,
    SplitSource,
    TaskData,
    check_text_file,
    inside,
    load_context_files,
    load_split,
    load_subset_meta,
    open_split,
    sha256_file,
)
from harness.tasks.roots import task_dirs
from harness.tasks.spec import TaskSpec, load_task_spec
from harness.tasks.templates import PromptTemplate
from harness.types import Mode, Sample

_LABEL_PREFIX = re.compile(r"^\s*[\(（]?[A-Z][\.．、:：\)）]\s*")


def discover_tasks() -> dict[str, Path]:
    """Task name -> YAML file. Side files (a dot in the stem: x.subsets.yaml, x.classes.yaml) and suites/ are
    not tasks; task names cannot contain dots."""
    found: dict[str, Path] = {}
    for root in task_dirs():
        for path in sorted(root.rglob("*.yaml")):
            if "." in path.stem or "suites" in path.relative_to(root).parts:
                continue
            found.setdefault(path.stem, path)
    return found


def resolve_task_files(names: list[str]) -> list[Path]:
    """Names from --tasks: a registered task name or a path to a task YAML file."""
    known = discover_tasks()
    out = []
    for name in names:
        if name in known:
            out.append(known[name])
        elif name.endswith((".yaml", ".yml")) and Path(name).is_file():
            out.append(Path(name))
        else:
            hint = ", ".join(sorted(known)) or "none found"
            raise HarnessError(f"--tasks: unknown task '{name}'{did_you_mean(name, known)} (known: {hint}; or give a "
                               f"path to a task .yaml)")
    return out


@dataclass
class PromptedSample:
    """A sample with the exact text(s) sent to the model, before any chat template."""

    sample: Sample
    prompt: str
    continuations: tuple[str, ...] = ()
    shots: int | None = None  # exemplars actually used, when the context policy dropped some to fit
    system: str | None = None  # the task's system message (`system`), sent before the prompt


@dataclass
class Task:
    spec: TaskSpec
    path: Path
    template: PromptTemplate
    continuation: PromptTemplate
    data_hashes: dict[str, str] = field(default_factory=dict)
    data_origin: str = ""
    subset_meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: int = 0  # multi-answer rows left out of a single-choice task (multi_answer: skip)
    excluded: int = 0  # rows dropped by dataset.exclude (not scored, counted: FollowBench's level-0 seeds)
    execution_program: PromptTemplate | None = None
    execution_stdin: PromptTemplate | None = None
    judge_prompt: PromptTemplate | None = None
    judge_system: PromptTemplate | None = None
    judge_history: list[tuple[str, PromptTemplate]] = field(default_factory=list)  # fixed earlier judge turns
    derived: list[tuple[str, PromptTemplate]] = field(default_factory=list)  # dataset.derive: column, template
    ctx: dict[str, Any] = field(default_factory=dict)  # the `context` files, read by `plan`: what templates see as ctx
    system: PromptTemplate | None = None
    # rows of the benchmark this task cannot score (dataset.not_scored): reason -> their ids, read by `plan`
    not_scored: dict[str, list[str]] = field(default_factory=dict)
    evaluators: dict[str, Any] = field(default_factory=dict)  # `evaluate:` metrics, loaded by the runner (trust)
    _prefix_free: set[tuple[str, ...]] = field(default_factory=set)  # continuation sets already checked

    @classmethod
    def load(cls, path: Path) -> Task:
        spec = load_task_spec(path)
        task = cls(
            spec=spec,
            path=path,
            template=PromptTemplate.from_task_field(spec.prompt, path, "prompt"),
            # an inline one-liner whose final "\n" is meant: the answer ends the way the exemplars end it
            continuation=PromptTemplate(spec.continuation, f"{path} field 'continuation'", keep_trailing_newline=True),
        )
        if spec.system is not None:
            task.system = PromptTemplate.from_task_field(spec.system, path, "system")
        if spec.execution is not None:
            task.execution_program = PromptTemplate.from_task_field(spec.execution.program, path, "execution.program")
            if spec.execution.stdin is not None:
                task.execution_stdin = PromptTemplate.from_task_field(spec.execution.stdin, path, "execution.stdin")
        if spec.judge is not None:
            task.judge_prompt = PromptTemplate.from_task_field(spec.judge.prompt, path, "judge.prompt")
            if spec.judge.system is not None:
                task.judge_system = PromptTemplate.from_task_field(spec.judge.system, path, "judge.system")
            task.judge_history = [(t.role, PromptTemplate.from_task_field(t.content, path, f"judge.history.{i}"))
                                  for i, t in enumerate(spec.judge.history)]
        task.derived = [(name, PromptTemplate(source, f"{path} field 'dataset.derive.{name}'"))
                        for name, source in spec.dataset.derive.items()]
        return task

    @property
    def name(self) -> str:
        return self.spec.name

    def samples(self, data_dir: Path | None, limit: int | None = None, seed: int = 1234, allow_hub: bool = True) -> list[Sample]:
        """The evaluated items in memory (tests, small tools); a run streams them with `plan`."""
        return list(self.plan(data_dir, limit, seed, allow_hub))

    def plan(self, data_dir: Path | None, limit: int | None = None, seed: int = 1234, allow_hub: bool = True) -> SampleStream:
        """Read the eval split once: every row becomes a sample (bad rows fail now, before any model loads), the
        --limit selection is drawn; what is returned yields the chosen samples again, in order, on each pass."""
        self.skipped = 0
        source = open_split(self.spec, "eval", data_dir, allow_hub=allow_hub)
        self.data_hashes.update(source.file_hashes)
        self._load_subset_meta(data_dir)
        self.data_origin = source.origin
        if self.spec.context:  # prompts shipped with the data, seen by the templates as ctx.<name>
            self.ctx, hashes = load_context_files(self.spec.context, data_dir, f"task {self.name}", "context")
            self.data_hashes.update(hashes)
        counts: dict[str, int] = {}
        for subset in source.subsets:
            n = 0
            for i, row in enumerate(source.rows(subset)):
                if self._to_sample(row, i, subset) is None:
                    self.skipped += 1
                else:
                    n += 1
            counts[subset] = n
        self.excluded = sum(source.excluded.get(s, 0) for s in source.subsets)
        chosen = stratified_choice(counts, limit, seed)
        self._count_not_scored(data_dir)
        total = sum(counts.values()) if chosen is None else sum(sum(c) for c in chosen.values())
        return SampleStream(self, source, chosen, total)

    def _count_not_scored(self, data_dir: Path | None) -> None:
        """The ids of the benchmark's rows this task leaves out (dataset.not_scored), per reason; their files are
        hashed like every file read."""
        self.not_scored = {}
        for ns in self.spec.dataset.not_scored:
            where = f"task {self.name}: dataset.not_scored"
            if data_dir is None:
                raise HarnessError(f"{where}: {ns.path} is read from the data dir; give --data-dir")
            path = inside(data_dir, ns.path, f"task {self.name}", "dataset.not_scored.path")
            if not path.is_file():
                raise HarnessError(f"{where}: {path} not found (the rows it names are counted in the results)")
            self.data_hashes[ns.path] = check_text_file(path, f"task {self.name}")
            ids = self.not_scored.setdefault(ns.reason, [])
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError:
                    raise HarnessError(f"{where}: {path} line {i + 1} is not JSON") from None
                ids.append(str(row.get(ns.id, i)) if isinstance(row, dict) else str(i))

    def _to_samples(self, rows: list[dict[str, Any]], subset: str) -> list[Sample]:
        out = []
        for i, row in enumerate(rows):
            sample = self._to_sample(row, i, subset)
            if sample is None:
                self.skipped += 1
            else:
                out.append(sample)
        return out

    def _load_subset_meta(self, data_dir: Path | None) -> None:
        src = self.spec.dataset.subsets_from
        if src is None or self.subset_meta:
            return
        self.subset_meta = load_subset_meta(self.spec, data_dir)
        if data_dir is not None:
            self.data_hashes[src.path] = sha256_file(data_dir / src.path)

    def fewshot_pool(self, data_dir: Path | None, num_fewshot: int) -> dict[str, list[Sample]]:
        if not num_fewshot:
            return {}
        if not self.spec.dataset.fewshot and not (self.spec.dataset.hub and self.spec.dataset.hub.fewshot_split):
            raise HarnessError(f"--num-fewshot {num_fewshot}: task {self.name} has no few-shot split (dataset.fewshot); use 0")
        self._load_subset_meta(data_dir)
        data: TaskData = load_split(self.spec, "fewshot", data_dir)
        self.data_hashes.update(data.file_hashes)
        skipped = self.skipped
        pool = {s: self._to_samples(rows, s) for s, rows in data.rows.items()}
        self.skipped = skipped  # only evaluated rows count as skipped
        return pool

    def prompts(self, samples: list[Sample], fewshot: dict[str, list[Sample]], num_fewshot: int, mode: Mode) -> list[PromptedSample]:
        return [self.prompt(s, fewshot, num_fewshot, mode) for s in samples]

    def prompt(self, s: Sample, fewshot: dict[str, list[Sample]], num_fewshot: int, mode: Mode) -> PromptedSample:
        """Render one sample. Exemplars are the first k rows of the same subset's few-shot split, as the
        official C-Eval and CMMLU scripts take them."""
        subset = s.meta.get("subset", SINGLE)
        shots = fewshot.get(subset, [])[:num_fewshot]
        if len(shots) < num_fewshot:
            raise HarnessError(f"task {self.name}: subset '{subset}' has {len(shots)} few-shot exemplars, {num_fewshot} asked")
        doc, few = template_doc(s), [template_doc(x) for x in shots]
        prompt = self.template.render(doc=doc, fewshot=few, subset=s.meta, ctx=self.ctx)
        system = self.system.render(doc=doc, fewshot=few, subset=s.meta) if self.system is not None else None
        conts: tuple[str, ...] = ()
        if mode == "likelihood":
            conts = tuple(self.continuation.render(label=lab, text=t) for lab, t in zip(s.labels, s.choices))
            if conts not in self._prefix_free:
                self._check_prefix_free(conts, s)
        return PromptedSample(s, prompt, conts, system=system)

    def _check_prefix_free(self, conts: tuple[str, ...], s: Sample) -> None:
        """Every option must be able to win: if one continuation is a proper prefix of another ("1" of "10"), the
        longer one's probability is a product that includes the shorter one's, so it can never exceed it. In
        sorted order a prefix sits right before a string that extends it, so neighbours are enough."""
        ordered = sorted(conts)
        for a, b in zip(ordered, ordered[1:]):
            if b.startswith(a):
                raise HarnessError(
                    f"{self.path}: field 'continuation': option {a!r} is a prefix of option {b!r} (item {s.sample_id}), "
                    "so the longer option can never win in likelihood mode; end the continuation the way the "
                    "exemplars end the answer, e.g. continuation: \"{{ label }}\\n\"")
        if len(self._prefix_free) < 1024:
            self._prefix_free.add(conts)

    def _to_sample(self, row: dict[str, Any], index: int, subset: str) -> Sample | None:
        spec, f = self.spec, self.spec.fields
        where = f"task {self.name}, subset {subset}, row {index}"
        if spec.dataset.repairs and f.id and _has(row, f.id):
            row = _repair(row, str(_get(row, f.id)), spec.dataset.repairs, where)
        if self.derived:  # dataset.derive: columns computed from the row, in the order written
            row = dict(row)
            for name, template in self.derived:
                row[name] = template.render(row=row)
        try:
            question = str(_get(row, f.question))
            optional = spec.answer_type in ("execution", "judged")  # a reference, where the row has one
            raw_target = _get(row, f.target) if f.target and (not optional or _has(row, f.target)) else None
            choices = _choices(row, f.choices, spec.labels) if f.choices is not None else ()
        except KeyError as e:
            raise HarnessError(f"{where}: field {e} named in fields is not in the data (columns: {sorted(row)})") from None
        except HarnessError as e:
            raise HarnessError(f"{where}: {e}") from None
        answers: tuple[str, ...]
        if spec.classes is not None:
            keys = list(spec.classes)
            choices = tuple(spec.classes.values())
            labels = _labels(spec.labels, len(choices))
            if str(raw_target) not in spec.classes:
                raise HarnessError(f"{where}: label {raw_target!r} is not one of the task's classes {keys[:8]}...")
            target = keys.index(str(raw_target))
            answers = (labels[target],)
        elif spec.answer_type == "tool_call":  # the possible answer(s) as JSON: any shape, read back by the checker
            labels, target = (), -1
            if raw_target is None or raw_target == "" or raw_target == {} or raw_target == []:
                raise HarnessError(f"{where}: empty possible answer in field '{f.target}'")
            answers = (json.dumps(raw_target, ensure_ascii=False),)
        elif spec.answer_type == "choice":
            if len(choices) > len(spec.labels):
                raise HarnessError(f"{where}: {len(choices)} options but only {len(spec.labels)} labels; extend 'labels'")
            labels = tuple(spec.labels[: len(choices)])
            if spec.multi_answer != "error" and _is_multi(raw_target, labels):
                if spec.multi_answer == "skip":
                    return None
                target, answers = -1, _label_set(raw_target, labels, where)
            else:
                target = _target_index(raw_target, labels, choices, where)
                answers = (labels[target],)
        else:
            labels, target = (), -1
            values = raw_target if isinstance(raw_target, (list, tuple)) else [raw_target]
            answers = tuple(str(v) for v in values if v is not None and str(v) != "")
            if not answers and not optional:
                raise HarnessError(f"{where}: empty reference answer in field '{f.target}'")
        rid = str(_get(row, f.id)) if f.id and _has(row, f.id) else str(index)
        meta: dict[str, Any] = {}
        if subset != SINGLE:
            meta["subset"] = subset
            info = spec.subsets.get(subset) if spec.subsets else None
            if info is not None:
                meta.update(info.model_dump(exclude_none=True))
            meta.update(self.subset_meta.get(subset, {}))
        for key in spec.meta_keys:  # a group may also be a field of the row (SafetyBench's category)
            if key not in meta and _has(row, key):
                meta[key] = _get(row, key)
        if spec.all_of is not None and _has(row, spec.all_of.field):  # a dialogue's turns count as one unit
            m = re.match(spec.all_of.pattern, str(_get(row, spec.all_of.field)))
            if m is not None and m.group(1) is not None:
                meta["all_of"] = m.group(1)
        if spec.answer_type == "gaokao" and "type" not in meta:
            raise HarnessError(f"{where}: subset '{subset}' has no question type in {spec.dataset.subsets_from.path if spec.dataset.subsets_from else 'dataset.subsets_from'}; "
                               "answer_type gaokao needs one per subset")
        sid = f"{subset}/{rid}" if subset != SINGLE else rid
        weight = 1.0
        if f.points:
            try:
                weight = float(_get(row, f.points)) * len(answers)
            except (KeyError, TypeError, ValueError):
                raise HarnessError(f"{where}: field '{f.points}' (points) is missing or not a number") from None
        return Sample(self.name, sid, question, choices, labels, target, meta, dict(row), answers, weight)


def _repair(row: dict[str, Any], rid: str, repairs: list[Any], where: str) -> dict[str, Any]:
    """Apply the task's repairs for this row (a copy; the data file is never touched)."""
    mine = [r for r in repairs if r.id == rid]
    if not mine:
        return row
    row = dict(row)
    for r in mine:
        value = str(row.get(r.field, ""))
        if r.old not in value:
            raise HarnessError(f"{where}: dataset.repairs for {rid} field '{r.field}' no longer applies (the upstream "
                               "text changed); check the data file and update or remove the repair")
        row[r.field] = value.replace(r.old, r.new, 1)
    return row


def _get(row: dict[str, Any], name: str) -> Any:
    """A column, or a dotted path into nested objects (`target.span1_text`); a `*` part maps the rest of the path
    over a list (`answer_option_list.*.0.content`: every option's text)."""
    if name in row:
        return row[name]
    return _walk_path(row, name.split("."), name)


def _walk_path(value: Any, parts: list[str], name: str) -> Any:
    for k, part in enumerate(parts):
        if part == "*" and isinstance(value, list):
            return [_walk_path(v, parts[k + 1:], name) for v in value]
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]  # `turns.0`: the first element of a list
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise KeyError(name)
    return value


def _has(row: dict[str, Any], name: str) -> bool:
    try:
        _get(row, name)
        return True
    except KeyError:
        return False


def _is_multi(value: Any, labels: tuple[str, ...]) -> bool:
    """["A", "C"], "AD" or "A B D": a target naming several options."""
    if isinstance(value, (list, tuple)):
        return len(value) > 1
    letters = str(value).replace(" ", "").replace(",", "")
    return len(letters) > 1 and all(c in labels for c in letters)


def _label_set(value: Any, labels: tuple[str, ...], where: str) -> tuple[str, ...]:
    """The labels a multi-answer target names, in label order: ["A", "C"], "AC", "A,C" -> ("A", "C")."""
    items = [str(v).strip() for v in value] if isinstance(value, (list, tuple)) else list(str(value).replace(" ", "").replace(",", ""))
    if not items or any(x not in labels for x in items):
        raise HarnessError(f"{where}: multi-answer target {value!r} names options outside the labels {list(labels)}")
    return tuple(sorted(set(items), key=labels.index))


def _labels(default: list[str], n: int) -> tuple[str, ...]:
    """Letters while they last (A-D, or as many as the task lists), numbers beyond (IFLYTEK has 119 classes)."""
    return tuple(default[:n]) if n <= len(default) else tuple(str(i + 1) for i in range(n))


def template_doc(s: Sample) -> dict[str, Any]:
    """What a template sees as `doc` (and each entry of `fewshot`)."""
    has_choice = s.target >= 0
    if s.is_multi_choice:  # several correct options: "AC" and their texts
        answer, answer_text = s.target_label, "、".join(s.choices[s.labels.index(a)] for a in s.answers)
    else:
        answer = s.target_label if has_choice else (s.answers[0] if s.answers else "")
        answer_text = s.choices[s.target] if has_choice else (s.answers[0] if s.answers else "")
    return {
        "question": s.question,
        "choices": [{"label": lab, "text": t} for lab, t in zip(s.labels, s.choices)],
        "answer": answer,
        "answer_text": answer_text,
        "answers": list(s.answers),
        "row": s.raw,
    }


def _choices(row: dict[str, Any], spec: list[str] | str, labels: list[str]) -> tuple[str, ...]:
    """Options from columns, a list, or newline-separated text. Label prefixes ("A. ", "(B)") are removed only
    when every option carries its own label, so an option like "B.B.C.广播电台" keeps its text."""
    if isinstance(spec, list):
        return _present([_get(row, c) for c in spec], spec)
    value = _get(row, spec)
    if isinstance(value, str):
        value = [line for line in value.split("\n") if line.strip()]
    if not isinstance(value, (list, tuple)):
        raise HarnessError(f"column '{spec}' holds {type(value).__name__}, not a list of options or newline-separated text")
    texts = list(_present(list(value), [f"{spec}[{i}]" for i in range(len(value))]))
    prefixes = [_LABEL_PREFIX.match(t) for t in texts]
    own = len(texts) <= len(labels) and all(
        m is not None and m.group(0).strip(" (（).．、:：）") == labels[i] for i, m in enumerate(prefixes)
    )
    return tuple(t[m.end():] if own and m else t for t, m in zip(texts, prefixes))


def _present(values: list[Any], names: list[str]) -> tuple[str, ...]:
    """Option texts; trailing null or empty options (a 3-option row in a 4-column table) are dropped, never turned
    into an option reading "None"; a null option before a present one is an error (an empty CSV cell there stays an
    option with empty text, as the file has it)."""
    while values and (values[-1] is None or str(values[-1]).strip() == ""):
        values = values[:-1]
    for v, name in zip(values, names):
        if v is None:
            raise HarnessError(f"option column '{name}' is empty while a later option is not")
    return tuple(str(v) for v in values)


def _target_index(value: Any, labels: tuple[str, ...], choices: tuple[str, ...], where: str) -> int:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool):
        value = str(value)
    if isinstance(value, int) and 0 <= value < len(choices):
        return value
    text = str(value).strip()
    if text in labels:
        return labels.index(text)
    stripped = [c.strip() for c in choices]  # targets and options compared cleaned alike (a trailing space)
    if text in stripped:  # C3 gives the option's text (which may itself be "2" or "④")
        return stripped.index(text)
    if text.isascii() and text.isdigit() and int(text) < len(choices):
        return int(text)
    raise HarnessError(f"{where}: target {value!r} is neither a label {list(labels)}, an index, nor an option's text")


@dataclass
class SampleStream:
    """A task's evaluated items, in order (subsets sorted, rows in file order), produced again from the data
    source on every pass: nothing per item stays in memory between passes."""

    task: Task
    source: SplitSource
    chosen: dict[str, bytearray] | None  # per subset, 1 for each (non-skipped) sample position drawn by --limit
    count: int

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Sample]:
        for subset in sorted(self.source.subsets):
            flags = self.chosen[subset] if self.chosen is not None else None
            # with --limit, a subset none of whose rows was drawn is not read, and one is read only up to its last
            # drawn row: a pass over a few items of a big task no longer parses every row (the plan's pass did,
            # checking them all once)
            last = flags.rfind(1) if flags is not None else -1
            if flags is not None and last < 0:
                continue
            pos = 0
            rows = self.source.rows(subset)
            try:
                for i, row in enumerate(rows):
                    sample = self.task._to_sample(row, i, subset)
                    if sample is None:
                        continue
                    if flags is None or flags[pos]:
                        yield sample
                    pos += 1
                    if flags is not None and pos > last:
                        break
            finally:
                if hasattr(rows, "close"):
                    rows.close()  # the reader's files now, not when the generator is collected


def stratified_choice(counts: dict[str, int], limit: int | None, seed: int) -> dict[str, bytearray] | None:
    """Which sample positions of each subset a --limit run takes (None: all of them).

    A deterministic, seeded sample of `limit` items spread evenly over subsets (not the first N rows): each
    subset's positions are shuffled with its own seeded RNG, then dealt round-robin over the subsets (in a
    seeded order) until `limit` is reached. Flags, not sets: a byte per row.
    """
    subsets = sorted(counts)
    if limit is None or limit >= sum(counts.values()):
        return None
    rng = random.Random(seed)
    order = subsets[:]
    rng.shuffle(order)
    queues = {}
    for name in order:
        idx = list(range(counts[name]))
        random.Random(f"{seed}/{name}").shuffle(idx)
        queues[name] = idx
    chosen = {name: bytearray(counts[name]) for name in subsets}
    taken = 0
    while taken < limit:
        for name in order:
            if queues[name] and taken < limit:
                chosen[name][queues[name].pop()] = 1
                taken += 1
    return chosen


def stratified_limit(by_subset: dict[str, list[Sample]], limit: int | None, seed: int) -> list[Sample]:
    """`stratified_choice` over samples in memory; the result is in dataset order (subsets sorted)."""
    chosen = stratified_choice({k: len(v) for k, v in by_subset.items()}, limit, seed)
    return [s for name in sorted(by_subset) for i, s in enumerate(by_subset[name]) if chosen is None or chosen[name][i]]


class PromptHash:
    """Hash of every rendered prompt and continuation, fed one sample at a time: changes whenever what the
    model sees changes."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def add(self, p: PromptedSample) -> None:
        # surrogatepass: the bytes of strict UTF-8 for any valid text, and no crash on a lone surrogate
        self._h.update(p.prompt.encode("utf-8", "surrogatepass"))
        for c in p.continuations:
            self._h.update(b"\x00" + c.encode("utf-8", "surrogatepass"))
        self._h.update(b"\x01")

    def hexdigest(self) -> str:
        return self._h.hexdigest()[:16]

