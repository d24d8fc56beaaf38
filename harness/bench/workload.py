"""The prompts a benchmark sends: fixed lengths of random tokens (as `vllm bench --dataset-name random` makes them),
a JSONL file of prompts (vLLM's custom dataset format, so both tools can be given the very same prompts), or the
real prompts of harness tasks, rendered by the task code (the same text `harness eval` sends, chat template
included where the model has one)."""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError


@dataclass(frozen=True)
class BenchPrompt:
    """One request: its text, its token ids where a local tokenizer made them, how many tokens to generate."""

    text: str
    output_len: int
    ids: tuple[int, ...] | None = None  # None: the server tokenizes the text
    source: str = "random"  # random, file, or the task's name

    @property
    def input_len(self) -> int | None:
        return len(self.ids) if self.ids is not None else None


def random_prompts(tokenizer: Any, n: int, input_len: int, output_len: int, seed: int) -> list[BenchPrompt]:
    """`n` prompts of `input_len` random ordinary tokens (no special tokens), seeded. Local engines get the ids
    themselves; a server gets their text, which may re-tokenize a few tokens shorter or longer (the server's
    usage then says how many it read)."""
    if tokenizer is None:
        raise HarnessError("bench --input-len: random prompts need a tokenizer; give --tokenizer (the served model's "
                           "tokenizer folder) or use --prompts / --tasks")
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    vocab = [i for i in range(len(tokenizer)) if i not in special]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        ids = tuple(rng.choice(vocab) for _ in range(input_len))
        out.append(BenchPrompt(tokenizer.decode(list(ids)), output_len, ids))
    return out


def file_prompts(path: Path, n: int | None, output_len: int | None, tokenizer: Any = None) -> list[BenchPrompt]:
    """Prompts from a JSONL file, one {"prompt": ..., "output_tokens": N} per line (vLLM's custom dataset format;
    output_tokens optional when --output-len is given)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise HarnessError(f"bench --prompts {path}: cannot read it ({e})") from None
    out = []
    for k, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise HarnessError(f"bench --prompts {path} line {k}: not JSON; each line is {{\"prompt\": ..., \"output_tokens\": N}}") from None
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str):
            raise HarnessError(f"bench --prompts {path} line {k}: field 'prompt' missing or not a string")
        length = output_len if output_len is not None else row.get("output_tokens")
        if not isinstance(length, int) or isinstance(length, bool) or length < 1:
            raise HarnessError(f"bench --prompts {path} line {k}: field 'output_tokens' should be a positive integer "
                               "(or give --output-len)")
        ids = tuple(tokenizer.encode(row["prompt"], add_special_tokens=False)) if tokenizer is not None else None
        out.append(BenchPrompt(row["prompt"], length, ids, "file"))
        if n is not None and len(out) >= n:
            break
    if not out:
        raise HarnessError(f"bench --prompts {path}: no prompts in it")
    return out


def task_prompts(tasks: list[str], suite: str | None, data_dir: Path | None, n: int, output_len: int | None,
                 seed: int, chat: Any = None, tokenizer: Any = None) -> list[BenchPrompt]:
    """`n` real prompts from the tasks (or the suite's tasks), spread evenly over them: a seeded, subject-stratified
    draw of each task's items (as `--limit` draws them), rendered by the task code, wrapped in the model's chat
    template when `chat` is given, taken round-robin across tasks. Each asks for `output_len` tokens, else for its
    task's generation budget (generation.max_new_tokens)."""
    from harness.run.runner import EvalConfig, _plan_tasks
    from harness.tasks.suites import load_suite

    suite_obj = load_suite(suite) if suite else None
    names = tasks or (suite_obj.tasks if suite_obj else [])
    if not names:
        raise HarnessError("bench: say which prompts to send: --input-len/--output-len, --prompts FILE, or --tasks/--suite")
    per_task = max(1, math.ceil(n / len(names)))
    cfg = EvalConfig(model="bench", tasks=list(tasks), suite=suite, data_dir=data_dir, limit=per_task, seed=seed)
    planned = _plan_tasks(cfg, suite_obj, [])
    columns: list[list[BenchPrompt]] = []
    for p in planned:
        budget = output_len or p.task.spec.generation.max_new_tokens
        col = []
        for ps in p.rendered():
            text = ps.prompt
            if chat is not None:
                turns = ([("system", ps.system)] if ps.system else []) + [("user", ps.prompt)]
                text = chat(turns)
            ids = tuple(tokenizer.encode(text, add_special_tokens=chat is None)) if tokenizer is not None else None
            col.append(BenchPrompt(text, budget, ids, p.task.name))
        columns.append(col)
    out = [col[k] for k in range(max(map(len, columns), default=0)) for col in columns if k < len(col)]
    return out[:n]


def write_jsonl(prompts: list[BenchPrompt], path: Path) -> None:
    """The prompts in vLLM's custom dataset format (`vllm bench serve --dataset-name custom --dataset-path`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"prompt": p.text, "output_tokens": p.output_len}, ensure_ascii=False) + "\n"
                            for p in prompts), encoding="utf-8")
