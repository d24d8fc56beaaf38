"""Data layouts: how rows come out of an upstream file whose records are not one per sample, by the task's
`dataset.reader` name (the format itself, CSV/JSON/lines/xlsx, is read in harness/tasks/data.py). Each takes the
parsed document and returns one dict per sample; a row missing a key raises, and the loader turns that into one
line naming the file and `dataset.reader`."""

from __future__ import annotations

from typing import Any, Callable

from harness.registry import Registry

Layout = Callable[[Any], "list[dict[str, Any]]"]
LAYOUTS: Registry[Layout] = Registry("dataset.reader")


@LAYOUTS.register("table")
def table(doc: Any) -> list[dict[str, Any]]:
    """Records as they are: one row per sample (the default)."""
    return list(doc)


@LAYOUTS.register("squad")
def squad(doc: Any) -> list[dict[str, Any]]:
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


@LAYOUTS.register("c3")
def c3(doc: Any) -> list[dict[str, Any]]:
    """C3 layout: [[dialogue or passage lines], [{question, choice, answer}], id] -> one row per question."""
    rows = []
    for lines, questions, doc_id in doc:
        for k, q in enumerate(questions):
            rows.append({
                "id": f"{doc_id}-{k}", "context": "\n".join(lines), "question": q["question"],
                "choice": q["choice"], "answer": q["answer"],
            })
    return rows
