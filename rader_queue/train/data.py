"""Training data for rader-queue retrievers: Tevatron-format JSONL, per-epoch group sampling and
the collator that turns groups into padded token batches.

One JSON object per line::

    {"query_id": "q1", "query": "...",
     "positive_passages": [{"docid": "d1", "title": "", "text": "..."}],
     "negative_passages": [{"docid": "d7", "title": "", "text": "..."}, ...]}

``doc_id`` is accepted for ``docid`` and ``title`` is optional. Every row needs at least one
positive and one negative; a malformed row raises :class:`InputError` naming file and line.
The same :func:`tokenize` is used by the trainer and by the encoder at evaluation time, so the
two never format or truncate text differently.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from rader_queue.datasets.loaders import read_jsonl as read_objects
from rader_queue.errors import InputError


@dataclass(frozen=True)
class Passage:
    docid: str
    title: str
    text: str

    def as_text(self) -> str:
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass(frozen=True)
class TrainExample:
    query_id: str
    query: str
    positives: tuple[Passage, ...]
    negatives: tuple[Passage, ...]


def _passages(value: Any, *, source: str, line: int, field: str) -> tuple[Passage, ...]:
    if not isinstance(value, list):
        raise InputError("must be a list of {docid, title, text} objects", source=source, line=line,
                         field=field)
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise InputError(f"item {i} needs a string 'text'", source=source, line=line, field=field)
        docid = item.get("docid", item.get("doc_id", ""))
        title = item.get("title") or ""
        if not isinstance(title, str):
            raise InputError(f"item {i}: 'title' must be a string", source=source, line=line,
                             field=field)
        out.append(Passage(str(docid), title, item["text"]))
    return tuple(out)


def parse_row(row: Any, *, source: str = "<row>", line: int = 0) -> TrainExample:
    """One Tevatron row → :class:`TrainExample` (strict: positives and negatives required)."""
    if not isinstance(row, dict):
        raise InputError("each line must be a JSON object", source=source, line=line)
    query = row.get("query", row.get("query_text"))
    if not isinstance(query, str) or not query.strip():
        raise InputError("missing or empty query", source=source, line=line, field="query")
    positives = _passages(row.get("positive_passages"), source=source, line=line,
                          field="positive_passages")
    negatives = _passages(row.get("negative_passages", []), source=source, line=line,
                          field="negative_passages")
    if not positives:
        raise InputError("needs at least one positive passage", source=source, line=line,
                         field="positive_passages")
    if not negatives:
        raise InputError("needs at least one negative passage (hard negatives are required)",
                         source=source, line=line, field="negative_passages")
    return TrainExample(str(row.get("query_id", line)), query, positives, negatives)


def read_jsonl(path: str | Path) -> list[TrainExample]:
    """Read a Tevatron JSONL file; blank lines are skipped."""
    path = Path(path)
    if not path.is_file():
        raise InputError("training file not found", source=str(path))
    examples = [parse_row(row, source=str(path), line=lineno)
                for lineno, row in read_objects(path)]
    if not examples:
        raise InputError("training file has no rows", source=str(path))
    return examples


def write_jsonl(path: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


MAX_POSITIVE_KEYS = 32      # positives per query that the in-batch mask knows (fixed width)


def passage_key(p: Passage) -> int:
    """A stable 62-bit id of a passage (its docid, else its text) for the in-batch mask."""
    ident = f"id:{p.docid}" if p.docid else f"text:{p.title}\n{p.text}"
    return int.from_bytes(hashlib.blake2b(ident.encode("utf-8"), digest_size=8).digest(), "big") >> 2


class GroupItem(NamedTuple):
    """One sampled group and the passage keys the loss masks with."""

    query: str
    passages: list[str]
    passage_keys: list[int]
    positive_keys: list[int]


class GroupDataset:
    """Item i of epoch e = (query, [positive, negative × (group-1)]), sampled reproducibly from
    (seed, epoch, i). A row with several positives gives one of them per epoch (all of them
    are known to the loss, which never scores them as in-batch negatives of this query).
    Negatives are drawn without replacement when there are enough of them; otherwise all are
    used and the rest is topped up with replacement."""

    def __init__(self, examples: Sequence[TrainExample], group_size: int, seed: int = 42) -> None:
        self.examples = list(examples)
        self.group_size = group_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> tuple[str, list[str]]:
        item = self.item(index)
        return item.query, item.passages

    def item(self, index: int) -> GroupItem:
        """The group of ``index`` with its passage keys and all the query's positive keys."""
        ex = self.examples[index]
        rng = random.Random(f"{self.seed}:{self.epoch}:{index}")
        positive = rng.choice(ex.positives)
        want = self.group_size - 1
        negs = list(ex.negatives)
        if len(negs) >= want:
            chosen = rng.sample(negs, want)
        else:
            rng.shuffle(negs)
            chosen = negs + rng.choices(ex.negatives, k=want - len(negs))
        group = [positive, *chosen]
        return GroupItem(ex.query, [p.as_text() for p in group], [passage_key(p) for p in group],
                         [passage_key(p) for p in ex.positives[:MAX_POSITIVE_KEYS]])


def tokenize(tokenizer, texts: Sequence[str], max_len: int, *, append_eos: bool,
             pad_to_multiple_of: int | None = None):
    """Tokenize with truncation to ``max_len`` tokens in total (EOS included when appended) and
    right padding; returns a dict of ``input_ids``/``attention_mask`` tensors."""
    eos = tokenizer.eos_token_id if append_eos else None
    model_max = getattr(tokenizer, "model_max_length", None) or max_len
    budget = min(max_len, model_max) - (1 if eos is not None else 0)
    enc = tokenizer(list(texts), add_special_tokens=True, truncation=True, max_length=budget,
                    padding=False, return_attention_mask=False)
    ids = [list(x) for x in enc["input_ids"]]
    if eos is not None:
        for row in ids:
            if not row or row[-1] != eos:
                row.append(eos)
    tokenizer.padding_side = "right"
    return tokenizer.pad({"input_ids": ids}, padding=True, pad_to_multiple_of=pad_to_multiple_of,
                         return_tensors="pt")


class Collator:
    """Groups → ``{"query": batch, "passage": batch}`` for the bi-encoder (passages flattened
    group by group, positive first), or ``{"pair": batch}`` for the reranker."""

    def __init__(self, tokenizer, config) -> None:
        self.tokenizer = tokenizer
        self.config = config

    def __call__(self, items: Sequence[tuple[str, list[str]] | GroupItem]) -> dict[str, Any]:
        cfg = self.config
        queries = [cfg.query_prefix + item[0] for item in items]
        passages = [cfg.passage_prefix + p for item in items for p in item[1]]
        if cfg.kind == "reranker":
            pair_queries = [q for q, item in zip(queries, items) for _ in item[1]]
            return {"pair": tokenize_pairs(self.tokenizer, pair_queries, passages,
                                           cfg.query_max_len + cfg.passage_max_len,
                                           append_eos=cfg.use_eos,
                                           pad_to_multiple_of=cfg.pad_to_multiple_of)}
        batch = {
            "query": tokenize(self.tokenizer, queries, cfg.query_max_len, append_eos=cfg.use_eos,
                              pad_to_multiple_of=cfg.pad_to_multiple_of),
            "passage": tokenize(self.tokenizer, passages, cfg.passage_max_len,
                                append_eos=cfg.use_eos, pad_to_multiple_of=cfg.pad_to_multiple_of),
        }
        if items and all(isinstance(item, GroupItem) for item in items):
            import torch

            batch["passage_keys"] = torch.tensor([k for item in items for k in item.passage_keys],
                                                 dtype=torch.long)
            positive = torch.full((len(items), MAX_POSITIVE_KEYS), -1, dtype=torch.long)
            for i, item in enumerate(items):
                positive[i, :len(item.positive_keys)] = torch.tensor(item.positive_keys, dtype=torch.long)
            batch["positive_keys"] = positive
        return batch


def tokenize_pairs(tokenizer, queries: Sequence[str], passages: Sequence[str], max_len: int, *,
                   append_eos: bool, pad_to_multiple_of: int | None = None):
    """(query, passage) pairs for the cross-encoder, truncating the longer side first."""
    limit = min(max_len, getattr(tokenizer, "model_max_length", max_len) or max_len)
    eos = tokenizer.eos_token_id if append_eos else None
    enc = tokenizer(list(queries), list(passages), truncation="longest_first",
                    max_length=limit - (1 if eos is not None else 0), padding=False)
    rows = [dict(zip(enc.keys(), values)) for values in zip(*enc.values())]
    if eos is not None:
        for row in rows:
            if row["input_ids"][-1] != eos:
                row["input_ids"].append(eos)
                for key in row:
                    if key == "attention_mask":
                        row[key].append(1)
                    elif key == "token_type_ids":
                        row[key].append(row[key][-1])
    tokenizer.padding_side = "right"
    return tokenizer.pad(rows, padding=True, pad_to_multiple_of=pad_to_multiple_of,
                         return_tensors="pt")
