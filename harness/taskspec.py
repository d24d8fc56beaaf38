"""The task file format: one YAML file per benchmark, validated strictly so a typo fails with the field named.

A task says where its data lives (upstream file layout under the data dir, optional hub copy), how a dataset
row becomes a sample (`fields`), how a sample becomes a prompt (a Jinja2 template), how it is scored (`mode`,
`extraction`, `metrics`) and how scores roll up (`group_by`, `aggregate`). See tasks/README.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.errors import HarnessError

DataFormat = Literal["csv", "tsv", "json", "jsonl"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HubSpec(_Strict):
    """Where the same data lives on the Hugging Face hub, used when the local files are absent."""

    path: str
    name: str | None = None  # config name; may contain {subset}
    eval_split: str
    fewshot_split: str | None = None


class DatasetSpec(_Strict):
    format: DataFormat
    eval: str  # path under the data dir; {subset} is replaced by each subset name
    fewshot: str | None = None
    hub: HubSpec | None = None
    column_names: list[str] | None = None  # for header-less CSV/TSV files

    @field_validator("eval", "fewshot")
    @classmethod
    def _relative(cls, v: str | None) -> str | None:
        if v is not None and (v.startswith("/") or ".." in Path(v).parts):
            raise ValueError("must be a path relative to the data dir, without '..'")
        return v


class FieldsSpec(_Strict):
    """Which dataset columns hold what. `choices` is a list of columns or one column (list or newline text)."""

    id: str | None = None
    question: str
    choices: Union[list[str], str]
    target: str  # a letter, an index, the option's text, or a list of letters


class GenerationSpec(_Strict):
    max_new_tokens: int = Field(32, ge=1)
    stop: list[str] = Field(default_factory=lambda: ["\n\n"])


class SubsetMeta(BaseModel):
    """Free-form metadata of one subset (e.g. a subject): names and the groups it belongs to."""

    model_config = ConfigDict(extra="allow", frozen=True)
    zh: str | None = None
    en: str | None = None


class TaskSpec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    version: Union[int, str]
    category: str
    description: str
    source: str
    license: str
    dataset: DatasetSpec
    subsets: dict[str, SubsetMeta] | None = None
    fields: FieldsSpec
    labels: list[str] = Field(default_factory=lambda: ["A", "B", "C", "D"])
    prompt: str  # template file (relative to the YAML file) or an inline template
    continuation: str = "{{ label }}"  # what is scored after the prompt in likelihood mode
    num_fewshot: int = Field(0, ge=0)
    mode: Literal["likelihood", "generate"] = "likelihood"
    modes: list[Literal["likelihood", "generate"]] = Field(default_factory=lambda: ["likelihood", "generate"])
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    extraction: Literal["choice"] = "choice"
    metrics: list[Literal["accuracy"]] = Field(default_factory=lambda: ["accuracy"])
    group_by: list[str] = Field(default_factory=list)
    aggregate: Literal["macro", "micro"] = "micro"  # macro: mean over the first group_by key's groups

    @model_validator(mode="after")
    def _consistent(self) -> "TaskSpec":
        if self.mode not in self.modes:
            raise ValueError(f"field 'mode': '{self.mode}' is not in modes {self.modes}")
        if self.num_fewshot and not self.dataset.fewshot and not (self.dataset.hub and self.dataset.hub.fewshot_split):
            raise ValueError("field 'num_fewshot': > 0 needs dataset.fewshot (the split exemplars come from)")
        if self.aggregate == "macro" and not self.group_by:
            raise ValueError("field 'aggregate': macro needs group_by (the groups to average over)")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("field 'labels': labels must be distinct")
        return self


def _one_line(err: ValidationError) -> str:
    first = err.errors()[0]
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    if not first["loc"]:  # a cross-field check: its message names the field itself
        return f"{first['msg'].removeprefix('Value error, ')}{more}"
    where = ".".join(str(p) for p in first["loc"])
    return f"field '{where}': {first['msg']}{more}"


def load_task_spec(path: Path) -> TaskSpec:
    """Parse and validate one task file; every failure is a one-line HarnessError naming the file and field."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise HarnessError(f"{path}: not valid YAML{at}: {getattr(e, 'problem', e)}") from None
    except OSError as e:
        raise HarnessError(f"{path}: cannot read task file: {e.strerror}") from None
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: a task file must be a YAML mapping of fields (name, version, dataset, ...)")
    subsets = data.get("subsets")
    if isinstance(subsets, str):  # subsets kept in a file of their own beside the task
        data["subsets"] = _load_subsets_file(path.parent / subsets, path)
    try:
        return TaskSpec.model_validate(data)
    except ValidationError as e:
        raise HarnessError(f"{path}: {_one_line(e)}") from None


def _load_subsets_file(sub_path: Path, task_path: Path) -> Any:
    try:
        return yaml.safe_load(sub_path.read_text(encoding="utf-8"))
    except OSError as e:
        raise HarnessError(f"{task_path}: field 'subsets': cannot read {sub_path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise HarnessError(f"{task_path}: field 'subsets': {sub_path} is not valid YAML{at}: {getattr(e, 'problem', e)}") from None
