"""Query rows of a run → a versioned Tevatron dataset (``datasets`` + ``training_examples`` + a
JSONL file, optionally a Hugging Face copy).

Which rows: ``generated_queries`` of the run with a requested type, ``kept`` (the qlexical round
trip and the qllmq checks passed), not rejected by the query judge, with a trajectory reward of
at least ``min_reward`` (None: any) and a positive found in the run's corpus.

* One row per query text with all its positives (:mod:`rader_queue.training_data.rows`), so a
  query's other positives never become its in-batch negatives; duplicates are merged.
* Negatives: the stored ones (self-reflection rejections; qlexical's mined ones) minus every
  positive of the row, topped up to ``min_negatives`` (train_group_size − 1) with a seeded
  sample of BM25 ranks 31–50, then the dense top-k, then lower BM25 ranks on a small corpus.
  Each negative passage carries its ``source``.
* Versions: the content hash of the JSONL decides. Same content as an existing version of the
  name → that version again (idempotent); new content → the next version number.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from rader_queue.errors import InputError
from rader_queue.querygen.generation import QuerygenEnv, bm25_band, ranking
from rader_queue.querygen.local import run_local
from rader_queue.querygen.options import (QUERY_TYPES, QuerygenOptions, derive_seed, parse_types,
                                          run_seed)
from rader_queue.querygen.store import corpus_name, make_env
from rader_queue.queue.status import find_run
from rader_queue.store import insert_ignore, session_scope
from rader_queue.store.db import require_schema
from rader_queue.store.models import Dataset, GeneratedQuery, Job, TrainingExample
from rader_queue.training_data import export, rows as rows_mod

Progress = Callable[[str, int, int], None]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
STAT_KEYS = ("candidates", "pairs", "dropped", "overlap_dropped", "judge_rejected", "reward_filtered",
             "missing_doc", "duplicates", "merged", "topped_up", "short_of_negatives", "no_negative")


@dataclass(frozen=True)
class BuildOptions:
    types: tuple[str, ...] = QUERY_TYPES
    min_reward: float | None = 1.0
    seed: int | None = None                 # None: the run's seed
    min_negatives: int = 11                 # train_group_size 12 − 1: no negative is repeated
    topup_ranks: tuple[int, int] = (31, 50)
    dense_top: int = 10                     # dense top-k after the BM25 band; 0: none
    preset: str | None = None               # recorded with the dataset

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", parse_types(self.types))
        if self.min_negatives < 1:
            raise InputError("min_negatives must be at least 1 (Tevatron needs a negative per row)")


@dataclass
class BuildReport:
    dataset_id: int
    name: str
    version: int
    created: bool
    counts: dict[str, int]
    stats: dict[str, dict[str, int]]
    jsonl_path: Path
    content_hash: str
    hf_path: Path | None = None
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False)
    negatives_per_row: dict[int, int] = field(default_factory=dict)
    negative_sources: dict[str, int] = field(default_factory=dict)


def select_rows(session, env: QuerygenEnv, options: BuildOptions, seed: int,
                progress: Progress, corpus: str = "theoremqa") -> tuple[list[dict[str, Any]], dict[str, dict[str, int]]]:
    """Dataset rows (with ``query_type`` and ``generated_query_id``) and per-type statistics."""
    stats = {t: dict.fromkeys(STAT_KEYS, 0) for t in options.types}
    order = {t: i for i, t in enumerate(rows_mod.MERGE_ORDER)}
    stored = sorted(session.scalars(select(GeneratedQuery).where(
        GeneratedQuery.run_id == env.run_id, GeneratedQuery.query_type.in_(options.types))),
        key=lambda g: (order[g.query_type], g.key))
    candidates: list[rows_mod.Candidate] = []
    progress("select", 0, len(stored))
    for i, g in enumerate(stored, 1):
        st = stats[g.query_type]
        st["candidates"] += 1
        if not g.kept:
            st["dropped"] += 1
            st["overlap_dropped"] += (g.reject_reason or "").startswith("lexical overlap")
        elif g.judge_label is False:
            st["judge_rejected"] += 1
        elif options.min_reward is not None and (g.trajectory_reward is None
                                                 or g.trajectory_reward < options.min_reward):
            st["reward_filtered"] += 1
        elif g.positive_doc_id not in env.corpus or not g.query.strip():
            st["missing_doc"] += 1
        else:
            candidates.append(rows_mod.Candidate(
                g.key, g.query, g.query_type, g.positive_doc_id,
                tuple(d for d in g.negative_doc_ids or [] if d in env.corpus), g.id))
        if i % 200 == 0 or i == len(stored):
            progress("select", i, len(stored))
    progress("negatives", 0, len(candidates))
    miner = _Miner(env, options, seed, corpus)
    rows = rows_mod.assemble(candidates, options.min_negatives, miner, stats)
    progress("negatives", len(candidates), len(candidates))
    out = []
    for row in rows:
        negatives = []
        for doc_id, source in row.negatives:
            negatives.append({**export.passage(env.corpus.get(doc_id)), "source": source})
        out.append({"query_id": row.query_id, "query": row.query, "query_type": row.query_type,
                    "generated_query_id": row.generated_query_id,
                    "positive_passages": [export.passage(env.corpus.get(d)) for d in row.positives],
                    "negative_passages": negatives})
    return out, stats


class _Miner:
    """Top-up negatives for a query: a seeded sample of BM25 ranks 31–50, then the dense
    top-k (the dense retriever is loaded on first need), then lower BM25 ranks."""

    def __init__(self, env: QuerygenEnv, options: BuildOptions, seed: int, corpus: str) -> None:
        self.env, self.options, self.seed, self.corpus = env, options, seed, corpus
        self._dense: Any = None

    def dense(self) -> Any:
        if self._dense is None:
            from rader_queue import context

            self._dense = context.current().retriever(self.corpus, "dense")
        return self._dense

    def __call__(self, query: str, exclude: set[str], want: int) -> list[tuple[str, str]]:
        env, opts = self.env, self.options
        band = bm25_band(env, query, opts.topup_ranks, exclude)
        rng = random.Random(derive_seed(self.seed, "topup", query))
        out = [(d, rows_mod.SOURCE_BM25_BAND) for d in rng.sample(band, min(want, len(band)))]
        taken = exclude | {d for d, _ in out}
        if len(out) < want and opts.dense_top:
            for d, _ in self.dense().search(query, k=opts.dense_top + len(taken), exclude=sorted(taken)):
                if len(out) >= want:
                    break
                if d not in taken:
                    taken.add(d)
                    out.append((d, rows_mod.SOURCE_DENSE))
        if len(out) < want:                   # small corpus: the ranks after the band, then any
            for i in ranking(env.bm25.scores(query)):
                d = env.corpus.docs[i].doc_id
                if len(out) >= want:
                    break
                if d not in taken:
                    taken.add(d)
                    out.append((d, rows_mod.SOURCE_BM25_FALLBACK))
        return out


def _querygen_options(session, run_id: int) -> list[dict[str, Any]]:
    payloads = session.scalars(select(Job.payload).where(
        Job.run_id == run_id, Job.stage.in_(("extract", "querygen", "judge_queries"))))
    seen: dict[str, dict[str, Any]] = {}
    for p in payloads:
        opts = (p or {}).get("options")
        if opts:
            seen.setdefault(repr(sorted(opts.items())), opts)
    return [seen[k] for k in sorted(seen)]


def build_dataset(run_name: str, name: str, options: BuildOptions | None = None, *,
                  out_dir: str | Path = "rader_datasets", hf: bool = False,
                  querygen: QuerygenOptions | None = None,
                  progress: Progress | None = None) -> BuildReport:
    """Assemble (with ``querygen``: first generate the query rows in-process) and store one
    dataset version of ``run_name`` called ``name``."""
    options = options or BuildOptions()
    tick = progress or (lambda phase, done, total: None)
    if not _NAME.match(name):
        raise InputError(f"dataset name {name!r}: use letters, digits, '.', '_' or '-' "
                         "(it names the exported files)")
    require_schema()
    with session_scope() as session:
        run = find_run(session, run_name)
        run_id, run_config = run.id, dict(run.config or {})
    if querygen is not None:
        run_local(run_name, querygen, progress=tick)
    env = make_env(run_id, run_config, QuerygenOptions())
    seed = run_seed(run_config, QuerygenOptions(seed=options.seed))
    out_dir = Path(out_dir)
    with session_scope() as session:
        rows, stats = select_rows(session, env, options, seed, tick, corpus_name(run_config))
        data = export.dumps(rows)
        histogram = rows_mod.negatives_histogram_of(rows)
        sources = dict(sorted(Counter(n["source"] for r in rows for n in r["negative_passages"]).items()))
        digest = hashlib.sha256(data).hexdigest()
        counts = {t: sum(1 for r in rows if r["query_type"] == t) for t in options.types}
        counts["all"] = len(rows)
        dataset, created = _version(session, name, digest, {
            "run": run_name, "run_id": run_id, "corpus": run_config.get("corpus"),
            "types": list(options.types), "min_reward": options.min_reward, "seed": seed,
            "min_negatives": options.min_negatives, "topup_ranks": list(options.topup_ranks),
            "dense_top": options.dense_top, "content_hash": digest, "stats": stats,
            "negatives_per_row": {str(k): v for k, v in histogram.items()},
            "negative_sources": sources, "preset": options.preset,
            "querygen": [querygen.model_dump(mode="json")] if querygen else _querygen_options(session, run_id)},
            counts, run_id)
        path = out_dir / f"{name}-v{dataset.version}.jsonl"
        export.write_atomic(path, data)
        dataset.path = str(path.resolve())
        insert_ignore(session, TrainingExample, [
            {"dataset_id": dataset.id, "query_id": r["query_id"], "query_type": r["query_type"],
             "query": r["query"], "positive_passages": r["positive_passages"],
             "negative_passages": r["negative_passages"],
             "generated_query_id": r["generated_query_id"]} for r in rows],
            ["dataset_id", "query_id"])
        report = BuildReport(dataset.id, name, dataset.version, created, dict(dataset.counts),
                             stats, path, digest, rows=rows, negatives_per_row=histogram,
                             negative_sources=sources)
    if hf:
        report.hf_path = export.save_hf(rows, out_dir / f"{name}-v{report.version}.hf")
    return report


def _version(session, name: str, digest: str, config: dict[str, Any], counts: dict[str, int],
             run_id: int) -> tuple[Dataset, bool]:
    """The version of ``name`` with this content, created as the next number if new."""
    for _ in range(5):
        existing = session.scalars(select(Dataset).where(Dataset.name == name)).all()
        for d in existing:
            if (d.config or {}).get("content_hash") == digest:
                return d, False
        version = (session.scalar(select(func.max(Dataset.version)).where(Dataset.name == name)) or 0) + 1
        if insert_ignore(session, Dataset, [{"name": name, "version": version, "run_id": run_id,
                                             "config": config, "counts": counts}],
                         ["name", "version"]):
            return session.scalars(select(Dataset).where(Dataset.name == name,
                                                         Dataset.version == version)).one(), True
    raise InputError(f"could not allocate a version of dataset {name!r} (concurrent builds)")
