"""The task file format: one YAML file per benchmark, validated strictly so a typo fails with the field named.

A task says where its data lives (upstream file layout under the data dir, optional hub copy), how a dataset
row becomes a sample (`fields`), how a sample becomes a prompt (a Jinja2 template), how it is scored (`mode`,
`extraction`, `metrics`) and how scores roll up (`group_by`, `aggregate`). See tasks/README.md.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.errors import HarnessError
from harness.registry import Registry
from harness.scoring.answer_metrics import check_metric_name
from harness.scoring.extractors import EXTRACTORS
from harness.tasks.readers import LAYOUTS

DataFormat = Literal["csv", "tsv", "json", "jsonl", "lines", "xlsx"]
# math: a mathematical answer (LaTeX), read from the last \boxed{} (extraction `boxed`) and scored by `math_equiv`
# tool_call: the answer is tool calls (or, in a benchmark's special cases, a refusal in words), checked by the task's
# `tool_call.checker` (harness/scoring/acebench.py)
AnswerType = Literal["choice", "numeric", "span", "gaokao", "execution", "judged", "math", "tool_call"]
# csr/isr/psr (CFBench) and hsr/ssr (FollowBench): per-item scores from a judge's checklist marks (judge parsers
# cfbench, followbench; harness/scoring/checklists.py)
# a metric name: a per-answer metric (harness/scoring/answer_metrics.py METRICS), one another scorer computes
# (SCORED_ELSEWHERE: judge, checklists, tool calls), pass@k (execution) or evaluate:<name> (the task's `evaluate` block)
Metric = Annotated[str, AfterValidator(lambda v: check_metric_name(v))]
# per-item shares of a three-way judged grade (Chinese SimpleQA): correct (A), incorrect (B), not_attempted (C); the
# task-level correct_given_attempted and f_score are computed from the first two (harness/scoring/metrics.py, three_way)
THREE_WAY = ("correct", "incorrect", "not_attempted")
DERIVED = ("correct_given_attempted", "f_score")
CHECKLIST_METRICS = {"cfbench": ("csr", "isr", "psr"), "followbench": ("hsr", "ssr")}
# how the answer is read out of a reply: a name in harness/scoring/extractors.py EXTRACTORS (each documented there)
Extraction = Annotated[str, AfterValidator(lambda v: _registered(EXTRACTORS, v))]
# how rows come out of a nested upstream file: a name in harness/tasks/readers.py LAYOUTS (table: rows as they are)
Layout = Annotated[str, AfterValidator(lambda v: _registered(LAYOUTS, v))]


def _registered(registry: Registry[Any], name: str) -> str:
    if name not in registry:
        raise ValueError(registry.unknown(name))
    return name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _data_relative(v: str | None) -> str | None:
    """A path under the data dir: relative and without '..' (symlinks are checked when the file is opened)."""
    if v is not None and (v.startswith(("/", "\\")) or ".." in Path(v).parts or Path(v).is_absolute()):
        raise ValueError("must be a path relative to the data dir, without '..'")
    return v


class HubSpec(_Strict):
    """Where the same data lives on the Hugging Face hub, used when the local files are absent."""

    path: str
    name: str | None = None  # config name; may contain {subset}
    eval_split: str
    fewshot_split: str | None = None


class JoinSpec(_Strict):
    """Fields taken from a second file keyed by id (SafetyBench keeps its answers apart from its questions)."""

    path: str  # under the data dir
    key: str  # id column in the main rows; the other file is a JSON object keyed by it, or a list with that column
    # (not "on": YAML 1.1 reads a key named on as the boolean true)
    fields: list[str] | None = None  # which fields to copy (default: all)

    @field_validator("path")
    @classmethod
    def _relative(cls, v: str) -> str:
        return _data_relative(v) or v


class SubsetsFromSpec(_Strict):
    """Subset metadata read from a data file (GAOKAO-Bench's per-subject prompt and question type)."""

    path: str
    records: str | None = None  # key of the list inside the JSON document
    key: str  # the field holding the subset name

    @field_validator("path")
    @classmethod
    def _relative(cls, v: str) -> str:
        return _data_relative(v) or v


class RepairSpec(_Strict):
    """A documented fix of a known upstream defect in one row: `old` must occur in the field exactly, so a changed
    upstream file fails loudly instead of being patched blindly."""

    id: str  # value of fields.id of the row
    field: str
    old: str
    new: str
    why: str


class NotScoredSpec(_Strict):
    """A data file of the benchmark whose rows this task cannot score (ACEBench's agent scenarios need upstream's
    simulated environments): its rows are counted and their ids listed in the results under `reason`, never
    scored 0."""

    path: str  # JSON lines under the data dir
    reason: str = Field(pattern=r"^[a-z0-9_]+$")  # shown with underscores as spaces
    id: str = "id"  # the field holding each row's id

    @field_validator("path")
    @classmethod
    def _relative(cls, v: str) -> str:
        return _data_relative(v) or v


class DatasetSpec(_Strict):
    format: DataFormat
    eval: str  # path under the data dir; {subset} is replaced by each subset name
    fewshot: str | None = None
    hub: HubSpec | None = None
    column_names: list[str] | None = None  # for header-less CSV/TSV/lines files
    separator: str | None = None  # field separator of a `lines` file (GSM8K-zh uses "[SEP]")
    records: str | None = None  # dotted key path to the list of records inside a JSON document
    reader: Layout = "table"  # squad/c3: nested upstream layouts, one sample per question
    join: JoinSpec | None = None
    exclude: dict[str, list[Any]] = Field(default_factory=dict)  # drop rows whose field has one of these values
    subsets_from: SubsetsFromSpec | None = None
    repairs: list[RepairSpec] = Field(default_factory=list)
    sheet: str | None = None  # xlsx: the worksheet the rows are on (default: the first)
    # columns computed from each row by an inline template that sees `row` (UHGEval's option order, a gold letter cut
    # out of "Answer: X"); added to the row before `fields` are read, rendered in the order written
    derive: dict[str, str] = Field(default_factory=dict)
    not_scored: list[NotScoredSpec] = Field(default_factory=list)  # files of the benchmark left out, counted

    @field_validator("eval", "fewshot")
    @classmethod
    def _relative(cls, v: str | None) -> str | None:
        return _data_relative(v)

    @model_validator(mode="after")
    def _lines_need_columns(self) -> DatasetSpec:
        if self.format == "lines" and not (self.separator and self.column_names):
            raise ValueError("field 'dataset.separator': a lines file needs separator and column_names")
        if self.sheet is not None and self.format != "xlsx":
            raise ValueError(f"field 'dataset.sheet': a worksheet is named only for format xlsx, not {self.format}")
        if self.format == "xlsx":  # a table of cells: one row per sheet row, the header row naming the columns
            for name, value in (("records", self.records), ("separator", self.separator)):
                if value is not None:
                    raise ValueError(f"field 'dataset.{name}': not used by format xlsx (a sheet is a table); remove it")
            if self.reader != "table":
                raise ValueError(f"field 'dataset.reader': format xlsx is read as a table, not {self.reader}")
        return self


class FieldsSpec(_Strict):
    """Which dataset columns hold what. `choices` is a list of columns or one column (list or newline text);
    a dotted name reaches into nested objects (`target.span1_text`)."""

    id: str | None = None
    question: str
    choices: Union[list[str], str, None] = None  # None: options come from `classes`, or the task has none
    target: str | None = None  # a label, an index, an option's text, a list of labels, or the reference answer(s);
    # optional only for execution and judged tasks (a reference shown to the judge or in the sample browser)
    turns: str | None = None  # column holding a list of user turns (multi-turn dialogue); turn 1 goes through `prompt`
    points: str | None = None  # points per reference answer: the sample weighs points x answers (GAOKAO-Bench)


class GenerationSpec(_Strict):
    max_new_tokens: int = Field(32, ge=1)
    stop: list[str] = Field(default_factory=lambda: ["\n\n"])
    samples: int = Field(1, ge=1)  # generations per item (pass@k needs k or more, sampled: temperature > 0)
    temperature: float = Field(0.0, ge=0.0)


class NumericSpec(_Strict):
    """Tolerance of numeric answers (answer_type numeric), handed to harness.scoring.numeric.numbers_match. Defaults: the
    ones numbers_match uses without this block, rel_tol 1e-4 and abs_tol 1e-6. A whole-number gold is always
    matched exactly; the tolerances apply to the others ("1/3" against "0.33": rel_tol 0.02 accepts it)."""

    rel_tol: float = Field(1e-4, ge=0)  # = harness.scoring.numeric.DEFAULT_REL_TOL
    abs_tol: float = Field(1e-6, ge=0)  # = harness.scoring.numeric.DEFAULT_ABS_TOL


class ExecutionSpec(_Strict):
    """An answer checked by running a program: the generated code with the task's tests, or a verifier shipped
    with the data. Both are untrusted, so they only ever run in the sandbox (harness/sandbox/core.py). The program
    passes only by running to its end (harness/sandbox/protocol.py), never by its exit status."""

    program: str  # template file or inline template; sees doc, output (the generation) and code (see `code`)
    stdin: str | None = None  # template for the program's standard input, e.g. "{{ output }}"
    # template of the model's code, run in a process of its own; `program` (the tests) calls its entry point over a
    # pipe with plain data (the verdict protocol, harness/sandbox/protocol.py). Without it the program runs alone.
    solution: str | None = None
    code: Literal["none", "python", "java"] = "none"  # python/java: `code` is the completion read out of the output
    # how the tests reach the model's code: calls (the tests call the entry point over a pipe with plain data),
    # pytest (a pytest module run against the solution's names; NaturalCodeBench Python), junit (JUnit 5 test
    # classes compiled with the solution; NaturalCodeBench Java)
    tests: Literal["calls", "pytest", "junit"] = "calls"
    timeout_s: float = Field(10.0, gt=0)
    memory_mb: int = Field(1024, ge=64)

    @model_validator(mode="after")
    def _tests_match_code(self) -> ExecutionSpec:
        needs = {"pytest": "python", "junit": "java"}.get(self.tests)
        if needs and self.code != needs:
            raise ValueError(f"field 'execution.tests': {self.tests} needs execution.code {needs}, got {self.code}")
        return self


class EvaluateSpec(_Strict):
    """A metric computed by a module of the `evaluate` library (harness/scoring/evaluate_metric.py)."""

    # a folder beside the task file holding <folder>/<folder>.py (offline), or a hub name ("exact_match", "org/x")
    module: str
    key: str | None = None  # the entry of compute()'s result that is the score (default: the metric's name)
    kwargs: dict[str, Any] = Field(default_factory=dict)  # extra arguments to compute()


class JudgeTurn(_Strict):
    """A fixed earlier turn of the judge's conversation (HalluQA: the rubric, then its acknowledgement)."""

    role: Literal["user", "assistant"]
    content: str  # template file or inline template; sees what the judge prompt sees


class JudgeSpec(_Strict):
    """An answer scored by a judge model with the task's rubric."""

    prompt: str  # judge prompt template: sees doc, output (last answer), outputs (every turn's answer), turn, subset
    system: str | None = None  # judge system prompt template
    history: list[JudgeTurn] = Field(default_factory=list)  # turns between the system message and the prompt
    # judge: an empty answer is judged like any other; zero: it is not sent and scores 0 on every metric
    empty_answer: Literal["judge", "zero"] = "judge"
    # the verdict is points out of the item's points (fields.points): the item scores min(verdict, points) / points,
    # weighs its points, and a verdict above them is clamped and counted
    points: bool = False
    # votes per item (parser yes_no; HalluQA: 5, a hallucination when more than half say 是): separate requests with
    # seeds seed..seed+votes-1 to a judge server (--judge-backend openai), whose replies at temperature 0 may differ;
    # a local judge decodes greedily, where every vote would repeat the first, so it is asked once
    votes: int = Field(1, ge=1)
    # [[8]] / 得分: 0.7 / AlignBench's dimension dict / a mark per checklist item: CFBench's "checkpoint\t0|1" lines,
    # FollowBench's final YES/NO list (these give the metrics in CHECKLIST_METRICS instead of judge_score)
    # abc: the first A|B|C of the reply (Chinese SimpleQA: correct, incorrect, not attempted; none: C), giving the
    # metrics in THREE_WAY; yes_no: 是 / 否 (HalluQA: 否 = no hallucination = 1); gaokao_total: GAOKAO-Bench's
    # 【总分】N分, points out of the item's points (with `points`)
    parser: Literal["rating", "score", "alignbench", "cfbench", "followbench", "abc", "yes_no", "gaokao_total"]
    # items a rule scores instead of the judge (FollowBench's rule-checked sources, harness/scoring/followbench_rules.py)
    rules: Literal["followbench"] | None = None
    scale: tuple[float, float] = (1.0, 10.0)  # lowest and highest verdict; an item scores verdict / highest
    pass_at: float | None = None  # instead: an item scores 1 when its verdict reaches this value (Flames: 3)
    per_turn: bool = False  # multi-turn: one verdict per turn (MT-Bench), else one for the whole dialogue
    max_new_tokens: int = Field(1024, ge=1)
    context: dict[str, str] = Field(default_factory=dict)  # name -> JSON/JSONL file under the data dir: `ctx.name`

    @field_validator("context")
    @classmethod
    def _relative(cls, v: dict[str, str]) -> dict[str, str]:
        for path in v.values():
            _data_relative(path)
        return v

    @model_validator(mode="after")
    def _points_parser(self) -> JudgeSpec:
        if self.points != (self.parser == "gaokao_total"):
            raise ValueError("field 'judge.points': the gaokao_total parser reads points (points: true), and only it")
        if self.votes > 1 and self.parser != "yes_no":
            raise ValueError("field 'judge.votes': votes are counted by the yes_no parser only")
        if self.parser == "yes_no" and tuple(self.scale) != (0, 1):
            raise ValueError("field 'judge.scale': the yes_no parser gives 0 (是) or 1 (否): scale [0, 1]")
        return self


class CslSpec(_Strict):
    """FollowBench's CSL: items sharing `chain` (within a `by` group) are one instruction at levels 1..`levels`; a
    chain's CSL is how many levels from level 1 have every constraint met (harness/scoring/chains.py)."""

    chain: str  # row field naming the chain (example_id)
    level: str  # row field holding the item's level
    by: str = "subset"  # chains are averaged per group first (upstream: per constraint file), then over groups
    levels: int = Field(5, ge=1)
    metric: Literal["hsr"] = "hsr"


class ToolCallSpec(_Strict):
    """A tool-calling task: where the function descriptions are, how they reach the model and how calls are read
    back (harness/scoring/tool_calls.py) and checked."""

    functions: str  # row field holding the function descriptions ({name, description, parameters})
    # prompt: the task's templates show the functions (a benchmark's own prompt, ACEBench's); template: they go to
    # the model's chat template as tools= (or to an OpenAI-compatible server as `tools`)
    tools: Literal["prompt", "template"] = "prompt"
    # how calls are read from the answer: bracket ([Api(k=v)], ACEBench), qwen (<tool_call> JSON), deepseek, glm;
    # calls a server returned apart (`tool_calls`) are taken as they are
    format: Literal["bracket", "qwen", "deepseek", "glm"] = "bracket"
    checker: Literal["acebench"] = "acebench"  # ACEBench's rules: normal_* calls, special_* refusals by subset name


class AllOfSpec(_Strict):
    """Items that form one unit (a dialogue's turns): the unit counts once and is right only if all its items are.
    The unit is group 1 of `pattern` matched against the row's `field`; an item whose field does not match counts
    on its own."""

    field: str
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _one_group(cls, v: str) -> str:
        try:
            groups = re.compile(v).groups
        except re.error as e:
            raise ValueError(f"not a regular expression: {e}") from None
        if groups < 1:
            raise ValueError("needs a group naming the unit, e.g. '^(dialogue_\\d+)_\\d+$'")
        return v


class SubsetMeta(BaseModel):
    """Free-form metadata of one subset (e.g. a subject): names and the groups it belongs to."""

    model_config = ConfigDict(extra="allow", frozen=True)
    zh: str | None = None
    en: str | None = None


def _all_modes() -> list[Literal["likelihood", "generate"]]:
    return ["likelihood", "generate"]


class TaskSpec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    version: Union[int, str]
    category: str
    description: str
    # the description in Chinese, for the Chinese pages of the leaderboard (optional: they show `description` without it)
    description_zh: str | None = None
    source: str
    license: str
    dataset: DatasetSpec
    subsets: dict[str, SubsetMeta] | None = None
    fields: FieldsSpec
    classes: dict[str, str] | None = None  # fixed option set: raw label value -> natural-language verbalizer
    answer_type: AnswerType = "choice"
    # rows whose target names several options: error (a single-choice task), skip (left out, counted), set (the
    # answer is a set of labels: exact-set accuracy in generate mode; in likelihood mode such rows are excluded,
    # counted and named in the results)
    multi_answer: Literal["error", "skip", "set"] = "error"
    # a prompt longer than the model's context: skip (the item is left out of the score, counted and shown), or
    # fewer_shots (drop exemplars from the end until it fits, then skip). Never truncated. --context-policy overrides.
    context_policy: Literal["skip", "fewer_shots"] = "skip"
    labels: list[str] = Field(default_factory=lambda: ["A", "B", "C", "D"])
    prompt: str  # template file (relative to the YAML file) or an inline template
    system: str | None = None  # a system message before the prompt (template file or inline; same variables)
    # name -> file under the data dir the prompt templates see as `ctx.name` (JSON/JSON lines parsed, other text as it
    # is): prompts that ship with the data (HalluQA's 6-shot prompts/*.txt)
    context: dict[str, str] = Field(default_factory=dict)
    continuation: str = "{{ label }}"  # what is scored after the prompt in likelihood mode
    num_fewshot: int = Field(0, ge=0)
    mode: Literal["likelihood", "generate"] = "likelihood"
    modes: list[Literal["likelihood", "generate"]] = Field(default_factory=_all_modes)
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    extraction: Extraction | None = None  # default follows answer_type (class for `classes` tasks)
    numeric: NumericSpec | None = None  # answer_type numeric: tolerances of the comparison (None: the defaults)
    metrics: list[Metric] = Field(default_factory=lambda: ["accuracy"])  # the first is the task's score
    execution: ExecutionSpec | None = None  # answer_type execution
    judge: JudgeSpec | None = None  # answer_type judged
    tool_call: ToolCallSpec | None = None  # answer_type tool_call
    all_of: AllOfSpec | None = None  # items scored together: a dialogue right only if every turn is
    # a key may join two with "+" (subset+level: one group per subset and level; macro then averages those cells)
    group_by: list[str] = Field(default_factory=list)
    aggregate: Literal["macro", "micro"] = "micro"  # macro: mean over the first group_by key's groups
    csl: CslSpec | None = None  # FollowBench's consecutive satisfied levels, reported beside the metrics
    evaluate: dict[str, EvaluateSpec] = Field(default_factory=dict)  # the modules of `evaluate:<name>` metrics

    @field_validator("description_zh")
    @classmethod
    def _chinese(cls, v: str | None) -> str | None:
        if v is not None and not re.search(r"[\u4e00-\u9fff]", v):
            raise ValueError("should be the description in Chinese (shown on the Chinese pages); leave the field out "
                             "to show `description` there")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> TaskSpec:
        if self.mode not in self.modes:
            raise ValueError(f"field 'mode': '{self.mode}' is not in modes {self.modes}")
        if self.num_fewshot and not self.dataset.fewshot and not (self.dataset.hub and self.dataset.hub.fewshot_split):
            raise ValueError("field 'num_fewshot': > 0 needs dataset.fewshot (the split exemplars come from)")
        if self.aggregate == "macro" and not self.group_by:
            raise ValueError("field 'aggregate': macro needs group_by (the groups to average over)")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("field 'labels': labels must be distinct")
        if self.answer_type != "choice" and "likelihood" in self.modes:
            raise ValueError(f"field 'modes': answer_type {self.answer_type} is scored by generation only")
        if self.answer_type == "choice" and self.fields.choices is None and self.classes is None:
            raise ValueError("field 'fields.choices': a choice task needs choices columns or classes")
        if self.classes is not None and len(set(self.classes.values())) != len(self.classes):
            raise ValueError("field 'classes': verbalizers must be distinct")
        if self.fields.target is None and self.answer_type not in ("execution", "judged"):
            raise ValueError(f"field 'fields.target': answer_type {self.answer_type} needs the reference answer's column")
        if (self.answer_type == "execution") != (self.execution is not None):
            raise ValueError("field 'execution': needed by answer_type execution, and only by it")
        if (self.answer_type == "judged") != (self.judge is not None):
            raise ValueError("field 'judge': needed by answer_type judged, and only by it")
        if self.fields.turns is not None and self.answer_type != "judged":
            raise ValueError("field 'fields.turns': multi-turn tasks are judged (answer_type judged)")
        for m in self.metrics:
            if m.startswith("pass@") and (self.answer_type != "execution" or self.generation.samples < int(m[5:])):
                raise ValueError(f"field 'metrics': {m} needs answer_type execution and generation.samples >= {m[5:]}")
            if m == "judge_score" and self.answer_type != "judged":
                raise ValueError("field 'metrics': judge_score is for answer_type judged")
        if (self.answer_type == "math") != ("math_equiv" in self.metrics) or (
                self.answer_type == "math" and set(self.metrics) != {"math_equiv"}):
            raise ValueError("field 'metrics': answer_type math is scored by math_equiv (mathematical equivalence), "
                             "and math_equiv only scores answer_type math")
        if self.answer_type in ("execution", "judged") and self.metrics[0] in ("accuracy", "exact_match", "f1", "gaokao_score"):
            raise ValueError(f"field 'metrics': answer_type {self.answer_type} is scored by "
                             f"{'pass@k' if self.answer_type == 'execution' else 'judge_score'}")
        if (self.answer_type == "tool_call") != (self.tool_call is not None):
            raise ValueError("field 'tool_call': needed by answer_type tool_call, and only by it")
        acebench = {"acebench", "acebench_strict"}
        if self.answer_type == "tool_call" and not set(self.metrics) <= acebench:
            raise ValueError("field 'metrics': answer_type tool_call is scored by acebench (and acebench_strict)")
        if set(self.metrics) & acebench and self.answer_type != "tool_call":
            raise ValueError("field 'metrics': acebench scores answer_type tool_call only")
        if self.answer_type == "gaokao" and self.dataset.subsets_from is None:
            raise ValueError("field 'dataset.subsets_from': answer_type gaokao scores by question type; name the file "
                             "that gives each subset its `type` (GAOKAO-Bench's Obj_Prompt.json)")
        if self.multi_answer == "set" and self.answer_type != "choice":
            raise ValueError("field 'multi_answer': set is for answer_type choice")
        self._checklists_consistent()
        if self.generation.samples > 1 and self.generation.temperature == 0:
            raise ValueError("field 'generation.samples': several samples per item need temperature > 0")
        return self

    def _checklists_consistent(self) -> None:
        """Checklist parsers give their own metrics and only those; CSL and rules need FollowBench's parser."""
        parser = self.judge.parser if self.judge else None
        wanted = CHECKLIST_METRICS.get(parser or "")
        mine = [m for m in self.metrics if any(m in ms for ms in CHECKLIST_METRICS.values())]
        if wanted is not None and not set(self.metrics) <= set(wanted):
            raise ValueError(f"field 'metrics': judge parser {parser} gives {', '.join(wanted)}, not "
                             f"{', '.join(m for m in self.metrics if m not in wanted)}")
        if mine and wanted is None:
            raise ValueError(f"field 'metrics': {mine[0]} comes from a checklist judge parser "
                             f"({', '.join(p for p, ms in CHECKLIST_METRICS.items() if mine[0] in ms)})")
        if self.csl is not None and (parser != "followbench" or "hsr" not in self.metrics):
            raise ValueError("field 'csl': needs judge parser followbench and the metric hsr")
        if self.judge is not None and self.judge.rules is not None and parser != self.judge.rules:
            raise ValueError(f"field 'judge.rules': {self.judge.rules} rules go with judge parser {self.judge.rules}")

    @property
    def meta_keys(self) -> list[str]:
        """Row fields every sample carries in its meta (and samples line): the group_by keys and the CSL chain."""
        extra = [self.csl.chain, self.csl.level] if self.csl else []
        return [*self.group_by, *(k for k in extra if k not in self.group_by)]

    @field_validator("context")
    @classmethod
    def _context_relative(cls, v: dict[str, str]) -> dict[str, str]:
        for path in v.values():
            _data_relative(path)
        return v

    @model_validator(mode="after")
    def _three_way_metrics(self) -> TaskSpec:
        """Three-way metrics come from a three-way grade (parser abc); the derived ones need correct and incorrect."""
        three = [m for m in self.metrics if m in THREE_WAY + DERIVED]
        abc = self.judge is not None and self.judge.parser == "abc"
        if three and not abc:
            raise ValueError(f"field 'metrics': {three[0]} needs answer_type judged with judge.parser abc")
        if abc and (not three or "judge_score" in self.metrics):
            raise ValueError("field 'metrics': judge.parser abc grades correct / incorrect / not attempted: list those "
                             "(and correct_given_attempted, f_score) instead of judge_score")
        if any(m in DERIVED for m in self.metrics) and not {"correct", "incorrect"} <= set(self.metrics):
            raise ValueError("field 'metrics': correct_given_attempted and f_score are computed from correct and "
                             "incorrect; list both")
        if any(m in DERIVED for m in self.metrics) and self.aggregate != "micro":
            raise ValueError("field 'aggregate': correct_given_attempted and f_score come from per-item shares (micro)")
        if self.metrics[0] == "accuracy_answered":
            raise ValueError("field 'metrics': accuracy_answered leaves out unanswered items; it cannot be the score")
        if self.judge is not None and self.judge.points and not self.fields.points:
            raise ValueError("field 'fields.points': judge.points grades out of each item's points; name their column")
        if self.extraction == "first_letter" and self.answer_type != "choice":
            raise ValueError("field 'extraction': first_letter reads an option label (answer_type choice)")
        return self

    @model_validator(mode="after")
    def _evaluate_metrics(self) -> TaskSpec:
        """An evaluate:<name> metric scores an extracted answer (generate mode) and names its module."""
        named = [m.split(":", 1)[1] for m in self.metrics if m.startswith("evaluate:")]
        for name in named:
            if name not in self.evaluate:
                raise ValueError(f"field 'evaluate': metric evaluate:{name} needs an entry evaluate.{name} naming "
                                 f"its module (a folder beside the task file, or a hub name)")
        for name in self.evaluate:
            if name not in named:
                raise ValueError(f"field 'evaluate': {name} is not used; list evaluate:{name} in metrics or remove it")
        if named and (self.modes != ["generate"] or self.answer_type in ("execution", "judged", "tool_call")):
            raise ValueError("field 'metrics': evaluate metrics score an answer read out of a reply: they need "
                             "modes [generate] and an answer_type other than execution, judged or tool_call")
        return self

    @model_validator(mode="after")
    def _numeric_for_numeric(self) -> TaskSpec:
        if self.numeric is not None and self.answer_type != "numeric":
            raise ValueError(f"field 'numeric': tolerances are for answer_type numeric, not {self.answer_type}; remove it")
        return self

    @property
    def extractor(self) -> str:
        if self.extraction:
            return self.extraction
        if self.multi_answer == "set":
            return "choice_set"  # every item's answer is read as a set of labels: "AC", "A、C", "答案：A,C"
        if self.answer_type == "math":
            return "boxed"
        return self.answer_type  # choice: a label, or an option's (class's) text, read from the output


def _one_line(err: ValidationError) -> str:
    first = err.errors()[0]
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    if not first["loc"]:  # a cross-field check: its message names the field itself
        return f"{first['msg'].removeprefix('Value error, ')}{more}"
    where = ".".join(str(p) for p in first["loc"])
    return f"field '{where}': {first['msg'].removeprefix('Value error, ')}{more}"


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
    except UnicodeDecodeError as e:
        raise HarnessError(f"{path}: not UTF-8 text (byte 0x{e.object[e.start:e.start + 1].hex()} at offset {e.start}); "
                           f"save the task file as UTF-8") from None
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: a task file must be a YAML mapping of fields (name, version, dataset, ...)")
    for key in ("subsets", "classes"):  # kept in a file of their own beside the task
        if isinstance(data.get(key), str):
            data[key] = _load_side_file(path.parent / data[key], path, key)
    if isinstance(data.get("classes"), dict):  # YAML may read numeric labels as ints
        data["classes"] = {str(k): str(v) for k, v in data["classes"].items()}
    try:
        spec = TaskSpec.model_validate(data)
    except ValidationError as e:
        raise HarnessError(f"{path}: {_one_line(e)}") from None
    if spec.name != path.stem:  # tasks are found by file name; a different name would be reported under another
        raise HarnessError(f"{path}: field 'name': '{spec.name}' differs from the file name; rename the file to "
                           f"{spec.name}.yaml or set name: {path.stem}")
    return spec


def _load_side_file(sub_path: Path, task_path: Path, field: str) -> Any:
    if task_path.parent.resolve() not in sub_path.resolve().parents:
        raise HarnessError(f"{task_path}: field '{field}': {sub_path} must live in the task's folder")
    try:
        return yaml.safe_load(sub_path.read_text(encoding="utf-8"))
    except OSError as e:
        raise HarnessError(f"{task_path}: field '{field}': cannot read {sub_path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise HarnessError(f"{task_path}: field '{field}': {sub_path} is not UTF-8 text; save it as UTF-8") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise HarnessError(f"{task_path}: field '{field}': {sub_path} is not valid YAML{at}: {getattr(e, 'problem', e)}") from None
