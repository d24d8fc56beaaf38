"""FollowBench (zh)'s rule checks: the items upstream scores by code instead of by a judge.

Reproduces code_zh/rule_based_evaluation.py of YJiangcm/FollowBench @ 6278f4c1 (written anew, same behaviour):
- the example-constraint file, every item: the answer must match the target template (`{answer}` stands for any
  text on one line) as a whole (check_match);
- in the other files, items from the sources in RULE_SOURCES: one check per source, each covering every constraint
  up to the item's level, so a rule gives one mark for the whole item;
- the format item with example_id 22 (rule_evaluation_format).
Every other item goes to the judge. A rule's mark counts for HSR and SSR alike, as upstream adds it to both.
The answer is checked with surrounding whitespace removed (upstream checks the raw API text, which a server
returns stripped; a local model's trailing newline would otherwise fail exact matches).
"""

from __future__ import annotations

import ast
import re
import string
from typing import Any, Callable

RULE_SOURCES = ("E2E", "WIKIEVENTS", "CONLL2003", "text_editing", "cnn_dailymail", "xsum", "samsum", "gigaword",
                "arxiv", "BBH_logical", "BBH_time", "self_made_space", "gsm_8k")
EXAMPLE_FILE = "example"
_PUNCT = string.punctuation + "，。：’“”"


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"[。！？]", text) if s]


def _n_sentences(text: str) -> int:
    return len(_sentences(text))


def _all_shorter(text: str, n: int) -> bool:
    return all(len(s) < n for s in _sentences(text))


def _all_longer(text: str, n: int) -> bool:
    return all(len(s) > n for s in _sentences(text))


def _sentence_has(text: str, k: int, word: str) -> bool:
    """The k-th sentence (1-based) exists and contains `word`."""
    s = _sentences(text)
    return len(s) >= k and word in s[k - 1]


def _has_digit(text: str) -> bool:
    """Upstream's contains_arabic_numerals: str.isnumeric, which Chinese numerals (五, 十) satisfy too."""
    return any(c.isnumeric() for c in text)


def _paragraphs_numbered(text: str) -> bool:
    return all(re.match(r"\d+\.", p.lstrip()) for p in text.split("\n\n") if p.lstrip())


def _last(pattern: str, text: str) -> str | None:
    found = re.findall(pattern, text)
    return found[-1] if found else None


def _steps(checks: list[Callable[[str], bool]]) -> Callable[[str, str, int], bool]:
    """A source whose level k adds the k-th check: level k passes when the first k checks all pass."""
    return lambda g, target, level: all(check(g) for check in checks[:level])


def _wikievents(g: str, target: str, level: int) -> bool:
    lines = target.split("\n")
    return all(x in lines for x in g.split("\n"))


RULES: dict[str, Callable[[str, str, int], bool]] = {
    "E2E": lambda g, target, level: g == target,
    "WIKIEVENTS": _wikievents,
    "CONLL2003": lambda g, target, level: g in ast.literal_eval(target),
    "text_editing": lambda g, target, level: g == target,
    "cnn_dailymail": _steps([
        lambda g: _n_sentences(g) == 3,
        lambda g: _all_shorter(g, 15),
        lambda g: _sentence_has(g, 1, "波特") and _sentence_has(g, 2, "演员") and _sentence_has(g, 3, "电影"),
        lambda g: not _sentence_has(g, 2, "奢侈"),
        lambda g: _sentence_has(g, 3, "了"),
    ]),
    "xsum": _steps([
        lambda g: _n_sentences(g) == 1,
        lambda g: len(g) < 20,
        lambda g: "牛顿斯图尔特" not in g,
        lambda g: "在" in g,
        lambda g: "操作" in g,
    ]),
    "samsum": _steps([
        lambda g: _n_sentences(g) == 1,
        lambda g: len(g) < 15,
        lambda g: "琐碎的" in g,
        lambda g: "拖沓的" not in g,
        lambda g: sum(1 for c in g if c in _PUNCT) == 1,
    ]),
    "gigaword": _steps([
        lambda g: len(g) == 8,
        lambda g: not any(c in _PUNCT for c in g),
        lambda g: not _has_digit(g),
        lambda g: "公交车" not in g,
        lambda g: "在" in g,
    ]),
    "arxiv": _steps([
        lambda g: _n_sentences(g) == 1,
        lambda g: len(g) <= 20,
        lambda g: g[:2] == "我们",
        lambda g: "激活" in g,
        lambda g: "transformer" not in g,
    ]),
    "BBH_logical": lambda g, target, level: _last(r"\([A-Z]\)", g) == target,
    "BBH_time": lambda g, target, level: _last(r"\d{2}/\d{2}/\d{4}", g) == target,
    "self_made_space": lambda g, target, level: target in g,
    "gsm_8k": lambda g, target, level: _last(r"\d+美元", g) == target,
}


def format_22(g: str, level: int) -> bool:
    """rule_evaluation_format for example_id 22: three paragraphs (four at level 5, the last one "这些是建议") of
    fewer than three sentences each; from level 3 every sentence over 20 characters; from level 4 every paragraph
    opens with a number and a dot."""
    paragraphs = g.split("\n\n")
    short = len(paragraphs) >= 3 and all(_n_sentences(p) < 3 for p in paragraphs[:3])
    checks = [
        len(paragraphs) == (4 if level == 5 else 3),
        short,
        _all_longer(g, 20),
        _paragraphs_numbered(g),
        g.endswith("这些是建议"),
    ]
    return all(checks[:level])


def check_match(template: str, answer: str) -> bool:
    """The example-constraint check: the target with `{answer}` as any one-line text must match the whole answer."""
    pattern = template.replace("{{", "{").replace("}}", "}").replace("{answer}", ".*")
    return re.fullmatch(re.escape(pattern).replace("\\.\\*", ".*"), answer) is not None


def rule_name(subset: str, row: dict[str, Any]) -> str | None:
    """Which rule scores this item (None: the judge does). `subset` is the constraint file (content, ...)."""
    if int(row.get("level", 0)) <= 0:
        return None
    if subset == EXAMPLE_FILE:
        return "example"
    if row.get("source") in RULES:
        return str(row["source"])
    if row.get("category") == "format" and row.get("example_id") == 22:
        return "format_22"
    return None


def rule_mark(name: str, row: dict[str, Any], answer: str) -> int:
    """1 if the answer passes the rule for its item's level, else 0."""
    g = answer.strip()
    level = int(row["level"])
    if name == "example":
        return int(check_match(str(row["target"]).replace("{instruction}\n", ""), g))
    if name == "format_22":
        return int(format_22(g, level))
    return int(bool(RULES[name](g, str(row["target"]), level)))
