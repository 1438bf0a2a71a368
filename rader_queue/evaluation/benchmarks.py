"""Benchmarks rader-queue evaluates retrievers on: queries, a document corpus, graded judgements
(qrels) and, per query, documents that must never be counted (``excluded``).

Specs accepted by :func:`load_benchmark`:

* ``champ`` — the 270 CHAMP competition problems as queries over its 89 concepts. A problem's
  judgements are the concept ids (``C_…``) in its ``ch_list`` annotations (``H_…`` entries are
  problem-specific hints, not corpus documents); the 223 problems with at least one concept are
  the queries. ``champ:train`` / ``champ:test`` split those problems deterministically (sorted
  ids, every second one to test) so a model trained on one half is evaluated on the other.
* a directory in BRIGHT layout::

      <dir>/documents.jsonl   {"id": "...", "content": "..."}          one document per line
      <dir>/examples.jsonl    {"id": "...", "query": "...", "gold_ids": ["..."],
                               "excluded_ids": ["..."]}                one query per line

  (``examples.json`` / ``documents.json`` holding a JSON list are accepted too; ``excluded_ids``
  is optional; a ``"N/A"`` entry in it is ignored, as in BRIGHT.)
* a directory in BRIGHT's own layout, ``<dir>/documents/<split>.jsonl`` +
  ``<dir>/examples/<split>.jsonl`` (``<dir>#<split>`` picks a split when there are several).
* ``bright:<task>`` or ``bright:<task>:<reasoning>`` — BRIGHT from ``RADER_BRIGHT_DIR`` (or
  ``<RADER_DATA_DIR>/BRIGHT``) when it holds the split, else the Hugging Face hub
  (``xlangai/BRIGHT``, needs network), e.g. ``bright:theoremqa_theorems`` or ``bright:aops:gpt4``
  for GPT-4 reasoning queries (:mod:`rader_queue.retrieval.bright`).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import champ_dataset

from rader_queue.datasets.loaders import read_jsonl
from rader_queue.errors import InputError
from rader_queue.retrieval.bright import documents_of, load_bright_corpus, load_bright_examples
from rader_queue.retrieval.corpus import Doc, TheoremCorpus, load_champ


@dataclass
class Benchmark:
    name: str
    queries: dict[str, str]
    corpus: TheoremCorpus
    qrels: dict[str, dict[str, int]]
    excluded: dict[str, list[str]] = field(default_factory=dict)
    split: str | None = None          # the BRIGHT split (for its query instruction)

    def __post_init__(self) -> None:
        missing = sorted(q for q in self.qrels if q not in self.queries)
        if missing:
            raise InputError(f"judgements for unknown queries: {missing[:5]}", source=self.name)

    @property
    def docs(self) -> list[Doc]:
        return self.corpus.docs

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "queries": len(self.queries), "docs": len(self.corpus),
                "judgements": sum(len(v) for v in self.qrels.values()),
                "corpus_hash": self.corpus.content_hash}


# ---------------------------------------------------------------------------------- CHAMP ---
def _champ_problems() -> list[tuple[str, str, list[str]]]:
    data = champ_dataset.load("v0")
    out = []
    for pid in sorted(data.problems):
        problem = data.problems[pid]
        concepts = [c for c in dict.fromkeys(problem.ch_list) if c in data.concepts]
        if concepts:
            out.append((pid, problem.text, concepts))
    return out


def champ_split(split: str = "all") -> list[tuple[str, str, list[str]]]:
    if split not in ("all", "train", "test"):
        raise InputError(f"unknown CHAMP split {split!r}: use all, train or test", field="benchmark")
    problems = _champ_problems()
    if split == "all":
        return problems
    return [p for i, p in enumerate(problems) if (i % 2 == 1) == (split == "test")]


def load_champ_benchmark(split: str = "all") -> Benchmark:
    problems = champ_split(split)
    name = "champ" if split == "all" else f"champ:{split}"
    return Benchmark(name=name, queries={pid: text for pid, text, _ in problems},
                     corpus=load_champ(), qrels={pid: {c: 1 for c in cs} for pid, _, cs in problems})


def champ_training_rows(split: str = "train", negatives: int = 8, seed: int = 13,
                        limit: int | None = None) -> list[dict[str, Any]]:
    """Tevatron rows from CHAMP (query = problem, positives = its concepts, negatives = other
    concepts, same category first). Handy for smoke tests and demos, not a RaDeR dataset."""
    corpus = load_champ()
    by_cat: dict[str, list[Doc]] = {}

    cats = {cid: c.category for cid, c in champ_dataset.load("v0").concepts.items()}
    for doc in corpus.docs:
        by_cat.setdefault(cats.get(doc.doc_id, ""), []).append(doc)
    rng = random.Random(seed)
    rows = []
    for pid, text, concepts in champ_split(split)[:limit]:
        pos = [corpus.get(c) for c in concepts]
        same = [d for c in {cats.get(c, "") for c in concepts} for d in by_cat.get(c, [])
                if d.doc_id not in concepts]
        other = [d for d in corpus.docs if d.doc_id not in concepts and d not in same]
        rng.shuffle(same)
        rng.shuffle(other)
        negs = (same + other)[:negatives]

        def passage(d: Doc) -> dict[str, str]:
            return {"docid": d.doc_id, "title": d.title, "text": d.text}
        rows.append({"query_id": pid, "query": text, "positive_passages": [passage(d) for d in pos],
                     "negative_passages": [passage(d) for d in negs]})
    return rows


# --------------------------------------------------------------------------------- BRIGHT ---
def _read_rows(folder: Path, stem: str) -> tuple[list[dict], Path]:
    jsonl, js = folder / f"{stem}.jsonl", folder / f"{stem}.json"
    if jsonl.is_file():
        return [row for _, row in read_jsonl(jsonl)], jsonl
    if js.is_file():
        data = json.loads(js.read_text())
        if not isinstance(data, list):
            raise InputError("expected a JSON list of objects", source=str(js))
        return data, js
    raise InputError(f"missing {stem}.jsonl (BRIGHT layout: documents.jsonl + examples.jsonl)",
                     source=str(folder))


def bright_from_rows(name: str, examples: list[dict], documents: list[dict] | TheoremCorpus,
                     source: str = "", split: str | None = None) -> Benchmark:
    if isinstance(documents, TheoremCorpus):
        corpus = documents
    else:
        corpus = documents_of(documents, name, source or name)
    queries, qrels, excluded = {}, {}, {}
    for i, row in enumerate(examples, 1):
        for key in ("id", "query", "gold_ids"):
            if key not in row:
                raise InputError("example is missing a field", source=source or name, line=i, field=key)
        qid = str(row["id"])
        queries[qid] = row["query"]
        qrels[qid] = {str(d): 1 for d in row["gold_ids"]}
        excl = [str(d) for d in row.get("excluded_ids") or [] if str(d) != "N/A"]
        if excl:
            excluded[qid] = excl
    return Benchmark(name=name, queries=queries, corpus=corpus, qrels=qrels, excluded=excluded,
                     split=split)


def load_bright_split(spec: str, reasoning: str | None = None) -> Benchmark:
    """A BRIGHT split (``bright:<split>`` or ``<folder>[#<split>]`` in BRIGHT's layout with
    ``documents/`` and ``examples/``): a local folder first, else the hub."""
    split, examples = load_bright_examples(spec, reasoning)
    corpus = load_bright_corpus(spec)
    name = f"bright:{split}" + (f":{reasoning}" if reasoning else "")
    return bright_from_rows(name, examples, corpus, source=spec, split=split)


def load_bright_dir(path: str | Path) -> Benchmark:
    folder = Path(path)
    if not folder.is_dir():
        raise InputError("benchmark directory not found", source=str(folder))
    documents, dsrc = _read_rows(folder, "documents")
    examples, esrc = _read_rows(folder, "examples")
    bench = bright_from_rows(folder.name, examples, documents, source=str(esrc))
    return bench


def load_benchmark(spec: str) -> Benchmark:
    key = spec.strip()
    if key.lower() in ("champ", "champ:all"):
        return load_champ_benchmark("all")
    if key.lower().startswith("champ:"):
        return load_champ_benchmark(key.split(":", 1)[1].lower())
    if key.lower().startswith("bright:"):
        parts = key.split(":")
        return load_bright_split(f"bright:{parts[1]}", parts[2] if len(parts) > 2 else None)
    if (Path(key.partition("#")[0]) / "documents").is_dir():
        return load_bright_split(key)
    if Path(key).is_dir():
        return load_bright_dir(key)
    raise InputError(f"unknown benchmark {spec!r}: use champ, champ:train, champ:test, "
                     "bright:<task>[:<reasoning>] or a directory in BRIGHT layout", field="benchmark")
