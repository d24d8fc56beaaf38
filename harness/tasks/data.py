"""Read a task's rows through the `datasets` library: local files in the upstream layout first, the hub second.

Every subset (e.g. a C-Eval subject) is one split of a single `load_dataset` call, which keeps loading 52
subject files to a fraction of a second. CSV cells are read as strings, so an option "0.50" or "NA" stays
exactly what the file says.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from harness import hub
from harness.contain import clean
from harness.errors import HarnessError
from harness.tasks.readers import LAYOUTS
from harness.tasks.spec import DatasetSpec, TaskSpec

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
    excluded: dict[str, int] = field(default_factory=dict)  # rows dataset.exclude dropped, per subset (a full pass)
    # a subset's own finish (a join file per subset: dataset.join.path with {subset}); None: `finish` for all
    finish_for: Callable[[str], Callable[[dict[str, Any]], dict[str, Any] | None]] | None = None

    def rows(self, subset: str) -> Iterator[dict[str, Any]]:
        dropped = 0
        finish = self.finish_for(subset) if self.finish_for is not None else self.finish
        for row in self.read(subset):
            done = finish(row)
            if done is not None:
                yield clean(done)  # a JSON "\ud800" escape is text UTF-8 cannot hold: U+FFFD from here on
            else:
                dropped += 1
        self.excluded[subset] = dropped

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


def check_text_file(path: Path, where: str, header: bool = False) -> str:
    """sha256 of a data file, which must be valid UTF-8 (all formats are read as UTF-8: a GBK file fails here with
    the line of its first bad byte, not deep inside a reader); `header`: a CSV/TSV file whose first line names its
    columns, so an empty file is an error here too."""
    h = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines = 0
    first_line = ""
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 20)
            pending = len(decoder.getstate()[0])  # bytes of a character split over two blocks
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as e:
                line = newlines + block[:max(0, e.start - pending)].count(b"\n") + 1
                bad = e.object[e.start:e.start + 1].hex()
                raise HarnessError(
                    f"{where}: data file {path} is not valid UTF-8 (byte 0x{bad} on line {line}); "
                    f"convert it to UTF-8, e.g. iconv -f GBK -t UTF-8 (every data file is read as UTF-8)") from None
            if header and len(first_line) < 4096 and "\n" not in first_line:
                first_line += text[:4096]
            if not block:
                break
            h.update(block)
            newlines += block.count(b"\n")
    if header and not first_line.split("\n", 1)[0].strip():
        raise HarnessError(
            f"{where}: data file {path} is empty or starts with a blank line: a CSV/TSV file needs a header line "
            f"naming its columns; add one, or list them in dataset.column_names for a file without a header")
    return h.hexdigest()


def _walk(doc: Any, dotted: str, where: str, field: str) -> Any:
    """Follow a dotted key path (`example`, `data.items`) into a JSON document; a wrong key is a one-line error
    naming the task field and the keys that are there."""
    for key in dotted.split("."):
        if isinstance(doc, dict) and key in doc:
            doc = doc[key]
        elif isinstance(doc, list) and key.isdigit() and int(key) < len(doc):
            doc = doc[int(key)]
        else:
            there = f"its keys: {sorted(map(str, doc))[:10]}" if isinstance(doc, dict) else f"it is a {_kind(doc)}"
            raise HarnessError(f"{where}: {field} '{dotted}': no key '{key}' ({there}); set {field} to the dotted "
                               f"key path of the list of records")
    return doc


_KINDS: dict[type, str] = {dict: "JSON object", list: "JSON list", str: "string"}


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), type(value).__name__)


def inside(root: Path, relative: str | Path, where: str, field: str, what: str = "the data dir") -> Path:
    """`root / relative`, refused with a one-line error naming the field unless it stays inside `root` once every
    symlink is resolved (an absolute path, a `..`, or a link out of the folder would read any file)."""
    path = root / relative
    real_root, real = root.resolve(), path.resolve()
    if real != real_root and real_root not in real.parents:
        raise HarnessError(f"{where}: field '{field}': {relative} resolves to {real}, outside {what} {root}; "
                           f"data files must live inside it (no absolute paths, '..' or links out of it)")
    return path


def _subset_name_ok(name: str) -> bool:
    """A subset name that can fill {subset} in a path: one plain path segment."""
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\0")


def _subset_files(pattern: str, data_dir: Path, subsets: list[str] | None, where: str = "",
                  field: str = "dataset.eval") -> dict[str, Path]:
    """Map subset name -> file. Declared subsets fill {subset}; undeclared ones are discovered by glob. Every file
    must stay inside the data dir once symlinks are resolved; a declared name must be one plain path segment."""
    if "{subset}" not in pattern:
        return {SINGLE: inside(data_dir, pattern, where, field)}
    if subsets is not None:
        for s in subsets:
            if not _subset_name_ok(s):
                raise HarnessError(f"{where}: field 'subsets': subset name {s!r} cannot fill {{subset}} in {field} "
                                   f"'{pattern}': a subset name is one plain path segment (no '/', '\\' or '..')")
        return {s: inside(data_dir, pattern.replace("{subset}", s), where, field) for s in subsets}
    regex = re.compile("^" + re.escape(pattern).replace(re.escape("{subset}"), "(?P<subset>.+)") + "$")
    found = {}
    for path in sorted(data_dir.glob(pattern.replace("{subset}", "*"))):
        m = regex.match(path.relative_to(data_dir).as_posix())
        if m:
            found[m.group("subset")] = inside(data_dir, path.relative_to(data_dir), where, f"{field} (found {m.group('subset')!r})")
    return found


def _local_reader(spec: DatasetSpec, files: dict[str, Path], task: str = "") -> Callable[[str], Iterable[dict[str, Any]]]:
    """A reader of each subset's rows: `datasets` streaming builders for tables (the same rows as a full load,
    without keeping them), the Python reader for layouts those builders cannot express. `task` names the task in
    errors."""
    def python(subset: str) -> list[dict[str, Any]]:
        return _read_python(spec, files[subset], task)

    if spec.reader != "table" or spec.format in ("lines", "xlsx") or spec.records:
        return python
    datasets = _datasets()
    data_files = {_split_name(s): str(p) for s, p in files.items()}
    kwargs: dict[str, Any] = {}
    if spec.format in ("csv", "tsv"):
        sep = "\t" if spec.format == "tsv" else ","
        first = next(iter(files.values()))
        names = spec.column_names or _csv_header(first, sep, f"task {task}")
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
        shown = sorted(map(str, files.values()))
        raise HarnessError(f"task {task}: cannot parse data files {shown[:3]}{'...' if len(shown) > 3 else ''}: {_short(e)}; "
                           f"check dataset.format and dataset.column_names") from None
    return lambda subset: streamed[_split_name(subset)]


def _datasets() -> Any:
    """The `datasets` library, quiet, and without its torch hooks: rows are read as Python objects, and a
    streamed dataset otherwise imports torch (seconds) to share an epoch counter with DataLoader workers."""
    import datasets

    datasets.disable_progress_bars()
    datasets.config.TORCH_AVAILABLE = False
    return datasets


def _read_python(spec: DatasetSpec, path: Path, task: str = "") -> list[dict[str, Any]]:
    """Layouts the `datasets` builders cannot express: nested JSON documents, SQuAD, C3, separator lines, and
    Excel workbooks."""
    where = f"task {task}: data file {path}"
    if spec.format == "xlsx":
        return _read_xlsx(spec, path, where)
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
    except UnicodeDecodeError:
        check_text_file(path, f"task {task}")  # raises, naming the line
        raise
    except (ValueError, OSError) as e:
        raise HarnessError(f"{where}: cannot parse it as dataset.format {spec.format}: {_short(e)}") from None
    if spec.records:
        doc = _walk(doc, spec.records, where, "dataset.records")
    if spec.reader != "table":
        try:
            return LAYOUTS[spec.reader](doc)
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise HarnessError(f"{where}: not in the layout of dataset.reader {spec.reader} ({type(e).__name__}: "
                               f"{_short(e)}); check dataset.reader and dataset.records") from None
    if not isinstance(doc, list):
        raise HarnessError(f"{where}: expected a list of records, found a {_kind(doc)}"
                           + (f" at dataset.records '{spec.records}'" if spec.records else "")
                           + "; set dataset.records to the dotted key path of the list")
    return doc


def _read_xlsx(spec: DatasetSpec, path: Path, where: str) -> list[dict[str, Any]]:
    """The rows of one worksheet of an .xlsx workbook (openpyxl; cached values of formulas): `dataset.sheet`, else
    the first. The first non-blank row names the columns (an empty header cell: "Unnamed: <i>", as for CSV),
    unless `dataset.column_names` lists them; blank rows (every cell empty, Math24o's 25 trailing ones) are not
    rows. Cells keep their types (text, int, float, bool; dates as ISO text; an empty cell is None), as JSON rows
    do. A file that is not a readable workbook, a missing sheet, a repeated column name or a row wider than the
    header fails with one line naming the file."""
    try:
        import openpyxl
    except ImportError:
        raise HarnessError(f"{where}: dataset.format xlsx needs openpyxl (pip install openpyxl)") from None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about styles and extensions it does not read
        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as e:  # not a zip, not a workbook, a damaged part: openpyxl raises many kinds
            raise HarnessError(f"{where}: not a readable .xlsx workbook ({type(e).__name__}: {_short(e)}); "
                               f"dataset.format xlsx needs an Excel 2007+ workbook (save it again as .xlsx)") from None
        try:
            if spec.sheet is not None and spec.sheet not in book.sheetnames:
                raise HarnessError(f"{where}: dataset.sheet '{spec.sheet}': no such worksheet (its sheets: "
                                   f"{book.sheetnames[:10]})")
            if not book.worksheets:
                raise HarnessError(f"{where}: the workbook has no worksheet")
            sheet = book[spec.sheet] if spec.sheet is not None else book.worksheets[0]
            cells = [(n, [_cell(v) for v in values]) for n, values in enumerate(sheet.iter_rows(values_only=True), 1)]
        except HarnessError:
            raise
        except Exception as e:
            raise HarnessError(f"{where}: cannot read its worksheet ({type(e).__name__}: {_short(e)}); "
                               f"save it again as .xlsx") from None
        finally:
            book.close()
    cells = [(n, values) for n, values in cells if any(v is not None and str(v).strip() for v in values)]
    if spec.column_names:
        names = list(spec.column_names)
    elif not cells:
        raise HarnessError(f"{where}: the worksheet is empty: no header row naming the columns")
    else:
        header = cells.pop(0)[1]
        while header and header[-1] is None:
            header.pop()
        names = [str(h).strip() if h is not None and str(h).strip() else f"Unnamed: {i}" for i, h in enumerate(header)]
        twice = sorted({h for h in names if names.count(h) > 1})
        if twice:
            raise HarnessError(f"{where}: the header row names column(s) {twice[:5]} twice; columns need distinct names")
    rows = []
    for n, values in cells:
        extra = [v for v in values[len(names):] if v is not None]
        if extra:
            raise HarnessError(f"{where}: sheet row {n} has {len(names) + len(extra)} or more cells, but the header "
                               f"names {len(names)} columns ({names[:10]})")
        rows.append({name: (values[i] if i < len(values) else None) for i, name in enumerate(names)})
    return rows


def _cell(value: Any) -> Any:
    """A cell as JSON would hold it: dates and times as ISO text, everything else as read."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _load_json_or_lines(text: str, fmt: str) -> Any:
    if fmt == "jsonl":
        return [json.loads(line) for line in text.split("\n") if line.strip()]
    try:
        return json.loads(text)
    except json.JSONDecodeError:  # FewCLUE's .json files are JSON lines
        return [json.loads(line) for line in text.split("\n") if line.strip()]


def _joiner(path: Path, on: str, fields: list[str] | None, task: str = "") -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Add fields from a second file keyed by `on`; a row with no partner is an error, not a silent drop."""
    if not path.is_file():
        raise HarnessError(f"task {task}: dataset.join.path: {path} not found")
    where = f"task {task}: dataset.join file {path}"
    try:
        other: Any = _load_json_or_lines(path.read_text(encoding="utf-8"), "json")
    except ValueError as e:
        raise HarnessError(f"{where}: not JSON or JSON lines: {_short(e)}") from None
    if isinstance(other, dict):
        table = {str(k): v for k, v in other.items()}
    else:
        table = {}
        for i, r in enumerate(other):
            if not isinstance(r, dict) or on not in r:
                raise HarnessError(f"{where}: record {i} has no field '{on}' (dataset.join.key); set dataset.join.key "
                                   f"to the id field both files share")
            table[str(r[on])] = r

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
    if src is None or data_dir is None:
        return {}
    path = inside(data_dir, src.path, f"task {spec.name}", "dataset.subsets_from.path")
    if not path.is_file():
        raise HarnessError(f"task {spec.name}: dataset.subsets_from.path: {path} not found; the path is relative to "
                           f"the data dir (--data-dir {data_dir})")
    where = f"task {spec.name}: data file {path}"
    check_text_file(path, f"task {spec.name}")
    try:
        doc: Any = _load_json_or_lines(path.read_text(encoding="utf-8"), "json")
    except ValueError as e:
        raise HarnessError(f"{where} (dataset.subsets_from.path): not JSON or JSON lines: {_short(e)}") from None
    if src.records:
        doc = _walk(doc, src.records, where, "dataset.subsets_from.records")
    if not isinstance(doc, list):
        raise HarnessError(f"{where}: dataset.subsets_from needs a list of records, found a {_kind(doc)}; set "
                           f"dataset.subsets_from.records to the dotted key path of the list")
    out = {}
    for i, r in enumerate(doc):
        if not isinstance(r, dict) or src.key not in r:
            have = f"its fields: {sorted(r)[:10]}" if isinstance(r, dict) else f"it is a {_kind(r)}"
            raise HarnessError(f"{where}: dataset.subsets_from.key '{src.key}': record {i} has no such field ({have}); "
                               f"set it to the field holding the subset name")
        out[str(r[src.key])] = r
    return clean(out)


def _csv_header(path: Path, sep: str, where: str = "") -> list[str]:
    with open(path, encoding="utf-8", newline="") as f:
        header = next(csv.reader(f, delimiter=sep), None)
    if not header:
        raise HarnessError(f"{where}: data file {path} is empty: a CSV/TSV file needs a header line naming its "
                           f"columns; add one, or list them in dataset.column_names for a file without a header")
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
    if os.path.exists(hub.path):  # `datasets` would read a local folder of that name instead of the hub's copy
        raise HarnessError(f"task {spec.name}: field 'dataset.hub.path': {hub.path!r} names a local path, not a hub "
                           f"dataset; put local files under the data dir (dataset.eval)")
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
        files = _subset_files(pattern, data_dir, subsets, f"task {spec.name}",
                              "dataset.eval" if split_kind == "eval" else "dataset.fewshot")
        missing = [p for p in files.values() if not p.is_file()]
        if files and not missing:
            # hashed and checked first: a file that is not UTF-8, or a CSV without its header, fails here in one line
            header = spec.dataset.format in ("csv", "tsv") and not spec.dataset.column_names
            where = f"task {spec.name}"
            hashes = {p.relative_to(data_dir).as_posix(): (sha256_file(p) if spec.dataset.format == "xlsx"  # binary
                                                           else check_text_file(p, where, header))
                      for p in files.values()}
            read = _local_reader(spec.dataset, files, spec.name)
            join = None
            if spec.dataset.join and "{subset}" in spec.dataset.join.path:  # an answers file beside each subset's file
                finishes = {}
                for subset in files:
                    rel = spec.dataset.join.path.replace("{subset}", subset)
                    join_path = inside(data_dir, rel, where, "dataset.join.path")
                    if join_path.is_file():
                        hashes[rel] = check_text_file(join_path, where)
                    finishes[subset] = _finisher(_joiner(join_path, spec.dataset.join.key, spec.dataset.join.fields,
                                                         spec.name), rules)
                return SplitSource(list(files), "local", hashes, read, finish_for=finishes.__getitem__)
            if spec.dataset.join:
                join_path = inside(data_dir, spec.dataset.join.path, where, "dataset.join.path")
                if join_path.is_file():
                    hashes[spec.dataset.join.path] = check_text_file(join_path, where)
                join = _joiner(join_path, spec.dataset.join.key, spec.dataset.join.fields, spec.name)
            return SplitSource(list(files), "local", hashes, read, _finisher(join, rules))
        looked = f"looked for {data_dir / pattern}" + (f" ({len(missing)} of {len(files)} files missing, e.g. {missing[0]})" if missing else "")
    elif pattern:
        looked = f"no data dir given (--data-dir or ${DATA_DIR_ENV}) to look for {pattern}"
    if spec.dataset.hub is not None and not allow_hub:
        hub_msg = "the hub copy was not tried"
    elif spec.dataset.hub is not None:
        offline = hub.unavailable()  # no network: the local cache only, at once, instead of a minute of retries
        try:
            names, read = _hub_reader(spec, split_kind, subsets)
            return SplitSource(names, "hub", {}, read, _finisher(None, rules))
        except HarnessError:
            raise
        except Exception as e:
            hub_msg = (f"the hub copy {spec.dataset.hub.path} is not in the local cache and {offline}" if offline
                       else f"the hub copy {spec.dataset.hub.path} failed too ({_short(e)})")
    else:
        hub_msg = "the task names no hub copy"
    raise HarnessError(
        f"task {spec.name}: {split_kind} data not found: {looked}; {hub_msg}. "
        f"Point --data-dir (or ${DATA_DIR_ENV}) at a folder holding the upstream files, or go online."
    )


def load_context_files(files: dict[str, str], data_dir: Path | None, where: str,
                       field: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Side files a task's templates see as `ctx.<name>` (judge rubrics, dimension tables, prompts shipped with the
    data), with their hashes: a .txt file as its text, any other as a JSON document or JSON lines."""
    ctx: dict[str, Any] = {}
    hashes: dict[str, str] = {}
    for name, rel in files.items():
        path = inside(data_dir, rel, where, f"{field}.{name}") if data_dir else None
        if path is None or not path.is_file():
            raise HarnessError(f"{where}: {field} '{name}': {rel} not found under the data dir")
        check_text_file(path, where)  # not UTF-8: one line naming the file and line
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".txt":
            ctx[name] = text
        else:
            try:
                ctx[name] = json.loads(text)
            except json.JSONDecodeError:
                try:
                    ctx[name] = [json.loads(line) for line in text.split("\n") if line.strip()]
                except json.JSONDecodeError as e:
                    raise HarnessError(f"{where}: {field} '{name}': {rel} is neither JSON nor JSON lines ({e.msg} at "
                                       f"line {e.lineno}); a plain-text prompt file must end in .txt") from None
        hashes[rel] = sha256_file(path)
    return ctx, hashes
