"""Read a task's rows through the `datasets` library: local files in the upstream layout first, the hub second.

Every subset (e.g. a C-Eval subject) is one split of a single `load_dataset` call, which keeps loading 52
subject files to a fraction of a second. CSV cells are read as strings, so an option "0.50" or "NA" stays
exactly what the file says.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from harness.errors import HarnessError
from harness.taskspec import DatasetSpec, TaskSpec

DATA_DIR_ENV = "HARNESS_DATA_DIR"
SINGLE = "_all"  # subset name for tasks that have no subsets


@dataclass
class TaskData:
    """Rows per subset for one split, plus where they came from (for the results' data hashes)."""

    rows: dict[str, list[dict[str, Any]]]
    origin: str  # "local" or "hub"
    file_hashes: dict[str, str] = field(default_factory=dict)  # path relative to data dir -> sha256


@dataclass
class SplitSource:
    """One split's rows per subset, read again from the files on every pass: a run streams its items instead of
    holding tens of thousands of rows in memory. Joins and exclusions apply row by row."""

    subsets: list[str]
    origin: str  # "local" or "hub"
    file_hashes: dict[str, str]
    read: Callable[[str], Iterable[dict[str, Any]]]  # the raw rows of one subset, in file order
    finish: Callable[[dict[str, Any]], dict[str, Any] | None] = lambda row: row  # join, then exclude (None)

    def rows(self, subset: str) -> Iterator[dict[str, Any]]:
        for row in self.read(subset):
            done = self.finish(row)
            if done is not None:
                yield done

    def load(self) -> TaskData:
        """Every row in memory (the few-shot split: small, and indexed by position)."""
        return TaskData({s: list(self.rows(s)) for s in self.subsets}, self.origin, dict(self.file_hashes))


def default_data_dir() -> Path | None:
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value) if value else None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _subset_files(pattern: str, data_dir: Path, subsets: list[str] | None) -> dict[str, Path]:
    """Map subset name -> file. Declared subsets fill {subset}; undeclared ones are discovered by glob."""
    if "{subset}" not in pattern:
        return {SINGLE: data_dir / pattern}
    if subsets is not None:
        return {s: data_dir / pattern.replace("{subset}", s) for s in subsets}
    regex = re.compile("^" + re.escape(pattern).replace(re.escape("{subset}"), "(?P<subset>.+)") + "$")
    found = {}
    for path in sorted(data_dir.glob(pattern.replace("{subset}", "*"))):
        m = regex.match(path.relative_to(data_dir).as_posix())
        if m:
            found[m.group("subset")] = path
    return found


def _local_reader(spec: DatasetSpec, files: dict[str, Path]) -> Callable[[str], Iterable[dict[str, Any]]]:
    """A reader of each subset's rows: `datasets` streaming builders for tables (the same rows as a full load,
    without keeping them), the Python reader for layouts those builders cannot express."""
    def python(subset: str) -> list[dict[str, Any]]:
        return _read_python(spec, files[subset])

    if spec.reader != "table" or spec.format == "lines" or spec.records:
        return python
    datasets = _datasets()
    data_files = {_split_name(s): str(p) for s, p in files.items()}
    kwargs: dict[str, Any] = {}
    if spec.format in ("csv", "tsv"):
        sep = "\t" if spec.format == "tsv" else ","
        first = next(iter(files.values()))
        names = spec.column_names or _csv_header(first, sep)
        kwargs = dict(
            sep=sep,
            features=datasets.Features({n: datasets.Value("string") for n in names}),
            keep_default_na=False,
            na_filter=False,
        )
        if spec.column_names:
            kwargs.update(column_names=spec.column_names, header=None)
        builder = "csv"
    else:
        builder = "json"
    try:
        streamed = datasets.load_dataset(builder, data_files=data_files, streaming=True, **kwargs)
        for split in streamed.values():  # arrow casts fail on a read, not on opening: read every table once
            for _ in split.with_format("arrow").iter(batch_size=4096):
                pass
    except Exception as e:
        if builder == "json":  # e.g. a column whose type changes between rows: arrow refuses, plain JSON copes
            return python
        raise HarnessError(f"cannot parse data files {sorted(map(str, files.values()))[:3]}...: {_short(e)}") from None
    return lambda subset: streamed[_split_name(subset)]


def _datasets() -> Any:
    """The `datasets` library, quiet, and without its torch hooks: rows are read as Python objects, and a
    streamed dataset otherwise imports torch (seconds) to share an epoch counter with DataLoader workers."""
    import datasets

    datasets.disable_progress_bars()
    datasets.config.TORCH_AVAILABLE = False
    return datasets


def _read_python(spec: DatasetSpec, path: Path) -> list[dict[str, Any]]:
    """Layouts the `datasets` builders cannot express: nested JSON documents, SQuAD, C3, separator lines."""
    try:
        text = path.read_text(encoding="utf-8")
        if spec.format == "lines":
            assert spec.separator and spec.column_names
            rows = []
            for line in text.split("\n"):  # not splitlines(): U+2028 and friends occur inside texts
                if line.strip():
                    parts = line.split(spec.separator)
                    if len(parts) != len(spec.column_names):
                        raise ValueError(f"a line has {len(parts)} fields, expected {len(spec.column_names)}")
                    rows.append(dict(zip(spec.column_names, (p.strip() for p in parts))))
            return rows
        doc: Any = _load_json_or_lines(text, spec.format)
    except (ValueError, OSError) as e:
        raise HarnessError(f"cannot parse data file {path}: {_short(e)}") from None
    if spec.records:
        for key in spec.records.split("."):
            doc = doc[key]
    if spec.reader == "squad":
        return _squad_rows(doc)
    if spec.reader == "c3":
        return _c3_rows(doc)
    if not isinstance(doc, list):
        raise HarnessError(f"data file {path}: expected a list of records (set dataset.records to the key holding it)")
    return doc


def _load_json_or_lines(text: str, fmt: str) -> Any:
    if fmt == "jsonl":
        return [json.loads(line) for line in text.split("\n") if line.strip()]
    try:
        return json.loads(text)
    except json.JSONDecodeError:  # FewCLUE's .json files are JSON lines
        return [json.loads(line) for line in text.split("\n") if line.strip()]


def _squad_rows(doc: Any) -> list[dict[str, Any]]:
    """SQuAD layout (CMRC2018): one row per question, with its paragraph and every reference answer."""
    data = doc["data"] if isinstance(doc, dict) else doc
    rows = []
    for article in data:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                rows.append({
                    "id": qa["id"], "context": para["context"], "question": qa["question"],
                    "answers": [a["text"] for a in qa["answers"]], "title": article.get("title", ""),
                })
    return rows


def _c3_rows(doc: Any) -> list[dict[str, Any]]:
    """C3 layout: [[dialogue or passage lines], [{question, choice, answer}], id] -> one row per question."""
    rows = []
    for lines, questions, doc_id in doc:
        for k, q in enumerate(questions):
            rows.append({
                "id": f"{doc_id}-{k}", "context": "\n".join(lines), "question": q["question"],
                "choice": q["choice"], "answer": q["answer"],
            })
    return rows


def _joiner(path: Path, on: str, fields: list[str] | None) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Add fields from a second file keyed by `on`; a row with no partner is an error, not a silent drop."""
    if not path.is_file():
        raise HarnessError(f"dataset.join: {path} not found")
    other: Any = _load_json_or_lines(path.read_text(encoding="utf-8"), "json")
    table = {str(k): v for k, v in other.items()} if isinstance(other, dict) else {str(r[on]): r for r in other}

    def join(row: dict[str, Any]) -> dict[str, Any]:
        partner = table.get(str(row.get(on)))
        if partner is None:
            raise HarnessError(f"dataset.join: row with {on}={row.get(on)!r} has no entry in {path}")
        return {**row, **{k: v for k, v in partner.items() if fields is None or k in fields}}

    return join


def _finisher(join: Callable[[dict[str, Any]], dict[str, Any]] | None,
              rules: dict[str, list[Any]]) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    def finish(row: dict[str, Any]) -> dict[str, Any] | None:
        if join is not None:
            row = join(row)
        return None if any(row.get(k) in v for k, v in rules.items()) else row

    return finish


def load_subset_meta(spec: TaskSpec, data_dir: Path | None) -> dict[str, dict[str, Any]]:
    """Per-subset metadata from a data file (dataset.subsets_from), e.g. GAOKAO-Bench's prompt per subject."""
    src = spec.dataset.subsets_from
    if src is None or data_dir is None or not (data_dir / src.path).is_file():
        return {}
    doc: Any = _load_json_or_lines((data_dir / src.path).read_text(encoding="utf-8"), "json")
    for key in (src.records or "").split(".") if src.records else []:
        doc = doc[key]
    return {str(r[src.key]): r for r in doc}


def _csv_header(path: Path, sep: str) -> list[str]:
    with open(path, encoding="utf-8", newline="") as f:
        header = next(csv.reader(f, delimiter=sep))
    # pandas names an empty header cell "Unnamed: <i>" (CMMLU's index column); keep the same names.
    return [h if h else f"Unnamed: {i}" for i, h in enumerate(header)]


def _split_name(subset: str) -> str:
    """`datasets` split names must be word characters; subset names usually are already."""
    return re.sub(r"\W", "_", subset)


def _hub_reader(spec: TaskSpec, split_kind: str, subsets: list[str] | None) -> tuple[list[str], Callable[[str], Iterable[dict[str, Any]]]]:
    """Download (or reuse the `datasets` cache of) each subset; rows are read from its memory-mapped table."""
    datasets = _datasets()
    hub = spec.dataset.hub
    assert hub is not None
    split = hub.eval_split if split_kind == "eval" else hub.fewshot_split
    if split is None:
        raise HarnessError(f"task {spec.name}: dataset.hub has no {split_kind}_split")
    loaded = {}
    for subset in subsets or [SINGLE]:
        name = hub.name.replace("{subset}", subset) if hub.name else None
        loaded[subset] = datasets.load_dataset(hub.path, name, split=split)

    def read(subset: str) -> Iterator[dict[str, Any]]:
        for row in loaded[subset]:
            yield {k: ("" if v is None else v) for k, v in row.items()}

    return list(loaded), read


def _short(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def load_split(spec: TaskSpec, split_kind: str, data_dir: Path | None, allow_hub: bool = True) -> TaskData:
    """Every row of the eval or few-shot split, per subset, in memory."""
    return open_split(spec, split_kind, data_dir, allow_hub).load()


def open_split(spec: TaskSpec, split_kind: str, data_dir: Path | None, allow_hub: bool = True) -> SplitSource:
    """The rows of the eval or few-shot split of a task, per subset, as a source read on demand.

    Local files under data_dir win; without them the hub copy is tried; without either, one error says
    where the files were looked for and how to provide them.
    """
    pattern = spec.dataset.eval if split_kind == "eval" else spec.dataset.fewshot
    subsets = list(spec.subsets) if spec.subsets else None
    rules = spec.dataset.exclude
    looked = ""
    if pattern and data_dir is not None:
        files = _subset_files(pattern, data_dir, subsets)
        missing = [p for p in files.values() if not p.is_file()]
        if files and not missing:
            read = _local_reader(spec.dataset, files)
            hashes = {p.relative_to(data_dir).as_posix(): sha256_file(p) for p in files.values()}
            join = None
            if spec.dataset.join:
                join_path = data_dir / spec.dataset.join.path
                join = _joiner(join_path, spec.dataset.join.key, spec.dataset.join.fields)
                hashes[spec.dataset.join.path] = sha256_file(join_path)
            return SplitSource(list(files), "local", hashes, read, _finisher(join, rules))
        looked = f"looked for {data_dir / pattern}" + (f" ({len(missing)} of {len(files)} files missing, e.g. {missing[0]})" if missing else "")
    elif pattern:
        looked = f"no data dir given (--data-dir or ${DATA_DIR_ENV}) to look for {pattern}"
    if spec.dataset.hub is not None and not allow_hub:
        hub_msg = "the hub copy was not tried"
    elif spec.dataset.hub is not None:
        try:
            names, read = _hub_reader(spec, split_kind, subsets)
            return SplitSource(names, "hub", {}, read, _finisher(None, rules))
        except HarnessError:
            raise
        except Exception as e:
            hub_msg = f"the hub copy {spec.dataset.hub.path} failed too ({_short(e)})"
    else:
        hub_msg = "the task names no hub copy"
    raise HarnessError(
        f"task {spec.name}: {split_kind} data not found: {looked}; {hub_msg}. "
        f"Point --data-dir (or ${DATA_DIR_ENV}) at a folder holding the upstream files, or go online."
    )
