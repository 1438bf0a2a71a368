"""Tevatron-format files: the JSONL every dataset version is exported to, its validator, and
the optional Hugging Face ``save_to_disk`` copy.

One line per query, with all its positives::

    {"query_id": "qcot:P_1:4:5", "query": "...",
     "positive_passages": [{"docid": "...", "title": "...", "text": "..."}, ...],
     "negative_passages": [{"docid": "...", "title": "...", "text": "...", "source": "self_reflection"}, ...]}

A negative's ``source`` says where it came from (Tevatron ignores the extra key).

Lines are written in a fixed order with fixed key order, so equal content gives identical bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rader_queue.errors import InputError
from rader_queue.retrieval.corpus import Doc

FIELDS = ("query_id", "query", "positive_passages", "negative_passages")
PASSAGE_FIELDS = ("docid", "title", "text")
NEGATIVE_EXTRA = ("source",)


def passage(doc: Doc) -> dict[str, str]:
    return {"docid": doc.doc_id, "title": doc.title, "text": doc.text}


def dumps(rows: Sequence[dict[str, Any]]) -> bytes:
    return "".join(json.dumps({k: row[k] for k in FIELDS}, ensure_ascii=False) + "\n"
                   for row in rows).encode("utf-8")


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _check_passages(value: Any, where: str, name: str, extra: tuple[str, ...] = ()) -> list[str]:
    if not isinstance(value, list) or not value:
        raise InputError(f"{name} must be a non-empty list", source=where)
    ids = []
    for i, p in enumerate(value):
        if not isinstance(p, dict) or not set(PASSAGE_FIELDS) <= set(p) <= set(PASSAGE_FIELDS + extra):
            raise InputError(f"{name}[{i}] must have the fields {', '.join(PASSAGE_FIELDS)}"
                             + (f" (and optionally {', '.join(extra)})" if extra else ""), source=where)
        if not all(isinstance(p[f], str) for f in (*PASSAGE_FIELDS, *(set(extra) & set(p)))) \
                or not p["text"].strip():
            raise InputError(f"{name}[{i}]: docid/title/text must be strings, text non-empty",
                             source=where)
        ids.append(p["docid"])
    return ids


def validate_jsonl(path: str | Path) -> int:
    """Check a Tevatron training file; returns its number of rows. Every row needs a string
    query_id (unique) and query (in no other row), ≥1 positive, ≥1 negative, no passage twice
    and no negative that is a positive."""
    path = Path(path)
    seen: set[str] = set()
    queries: dict[str, int] = {}
    count = 0
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"not valid JSON ({exc.msg})", source=where) from None
            if not isinstance(row, dict) or set(row) != set(FIELDS):
                raise InputError(f"a row must have exactly the fields {', '.join(FIELDS)}", source=where)
            if not isinstance(row["query_id"], str) or not isinstance(row["query"], str) \
                    or not row["query"].strip():
                raise InputError("query_id and query must be strings, query non-empty", source=where)
            if row["query_id"] in seen:
                raise InputError(f"duplicate query_id {row['query_id']!r}", source=where)
            seen.add(row["query_id"])
            text = " ".join(row["query"].split()).casefold()
            if text in queries:
                raise InputError(f"query of row {row['query_id']!r} is also the query of line "
                                 f"{queries[text]} (one row per query)", source=where)
            queries[text] = lineno
            positives = _check_passages(row["positive_passages"], where, "positive_passages")
            negatives = _check_passages(row["negative_passages"], where, "negative_passages",
                                        NEGATIVE_EXTRA)
            if len(set(positives)) != len(positives) or len(set(negatives)) != len(negatives):
                raise InputError("a passage is listed twice in the same row", source=where)
            if set(positives) & set(negatives):
                raise InputError(f"negatives contain a positive: {sorted(set(positives) & set(negatives))}",
                                 source=where)
            count += 1
    return count


def save_hf(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """The rows as a Hugging Face ``datasets.Dataset`` saved with ``save_to_disk``."""
    try:
        import datasets
    except ImportError:
        raise InputError("--hf needs the `datasets` package (pip install datasets)") from None
    features = datasets.Features({
        "query_id": datasets.Value("string"), "query": datasets.Value("string"),
        "positive_passages": [{f: datasets.Value("string") for f in PASSAGE_FIELDS}],
        "negative_passages": [{f: datasets.Value("string") for f in PASSAGE_FIELDS + NEGATIVE_EXTRA}]})
    data = datasets.Dataset.from_list([
        {**{k: r[k] for k in FIELDS},
         "negative_passages": [{"source": "", **n} for n in r["negative_passages"]]} for r in rows],
        features=features)
    tmp = path.with_name(f".{path.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    data.save_to_disk(str(tmp))
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)
    return path
