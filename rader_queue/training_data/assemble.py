"""Query rows of a run → a versioned Tevatron dataset (``datasets`` + ``training_examples`` + a
JSONL file, optionally a Hugging Face copy).

Which rows: ``generated_queries`` of the run with a requested type, ``kept`` (the qlexical round
trip and the qllmq checks passed), not rejected by the query judge, with a trajectory reward of
at least ``min_reward`` (None: any) and a positive found in the run's corpus.

* Dedupe: one row per (query, positive) (whitespace and case folded); negatives of duplicates are
  merged into the first row by key order.
* Negatives: the stored ones minus every positive of the same query text; a row with fewer than
  ``min_negatives`` is topped up with a seeded sample from BM25 ranks 31–50 for its query (gold
  and positives excluded; lower ranks when the corpus is too small).
* Versions: the content hash of the JSONL decides. Same content as an existing version of the
  name → that version again (idempotent); new content → the next version number.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from rader_queue.errors import InputError
from rader_queue.querygen.generation import QuerygenEnv, bm25_band, ranking
from rader_queue.querygen.options import QUERY_TYPES, QuerygenOptions, derive_seed, parse_types, run_seed
from rader_queue.querygen.store import make_env
from rader_queue.queue.status import find_run
from rader_queue.store import insert_ignore, session_scope
from rader_queue.store.db import require_schema
from rader_queue.store.models import Dataset, GeneratedQuery, Job, TrainingExample
from rader_queue.training_data import export

Progress = Callable[[str, int, int], None]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
STAT_KEYS = ("candidates", "dropped", "judge_rejected", "reward_filtered", "missing_doc",
             "duplicates", "topped_up", "no_negative")


@dataclass(frozen=True)
class BuildOptions:
    types: tuple[str, ...] = QUERY_TYPES
    min_reward: float | None = 1.0
    seed: int | None = None                 # None: the run's seed
    min_negatives: int = 1
    topup_ranks: tuple[int, int] = (31, 50)

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


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def select_rows(session, env: QuerygenEnv, options: BuildOptions, seed: int,
                progress: Progress) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]]]:
    """Dataset rows (with ``query_type`` and ``generated_query_id``) and per-type statistics."""
    stats = {t: dict.fromkeys(STAT_KEYS, 0) for t in options.types}
    order = {t: i for i, t in enumerate(QUERY_TYPES)}
    stored = sorted(session.scalars(select(GeneratedQuery).where(
        GeneratedQuery.run_id == env.run_id, GeneratedQuery.query_type.in_(options.types))),
        key=lambda g: (order[g.query_type], g.key))
    rows: list[dict[str, Any]] = []
    by_pair: dict[tuple[str, str], dict[str, Any]] = {}
    positives_of: dict[str, set[str]] = {}
    progress("select", 0, len(stored))
    for i, g in enumerate(stored, 1):
        st = stats[g.query_type]
        st["candidates"] += 1
        if not g.kept:
            st["dropped"] += 1
        elif g.judge_label is False:
            st["judge_rejected"] += 1
        elif options.min_reward is not None and (g.trajectory_reward is None
                                                 or g.trajectory_reward < options.min_reward):
            st["reward_filtered"] += 1
        elif g.positive_doc_id not in env.corpus or not g.query.strip():
            st["missing_doc"] += 1
        else:
            pair = (_norm(g.query), g.positive_doc_id)
            negatives = [d for d in g.negative_doc_ids or [] if d in env.corpus]
            positives_of.setdefault(pair[0], set()).add(g.positive_doc_id)
            if pair in by_pair:
                st["duplicates"] += 1
                first = by_pair[pair]
                first["negatives"] += [d for d in negatives if d not in first["negatives"]]
            else:
                by_pair[pair] = {"query_id": g.key, "query": g.query.strip(), "query_type": g.query_type,
                                 "positive": g.positive_doc_id, "negatives": negatives,
                                 "generated_query_id": g.id}
                rows.append(by_pair[pair])
        if i % 200 == 0 or i == len(stored):
            progress("select", i, len(stored))
    out = []
    progress("negatives", 0, len(rows))
    for i, row in enumerate(rows, 1):
        exclude = positives_of[_norm(row["query"])]
        negatives = [d for d in dict.fromkeys(row["negatives"]) if d not in exclude]
        if len(negatives) < options.min_negatives:
            extra = _top_up(env, row, options, seed, exclude | set(negatives),
                            options.min_negatives - len(negatives))
            stats[row["query_type"]]["topped_up"] += bool(extra)
            negatives += extra
        if not negatives:
            stats[row["query_type"]]["no_negative"] += 1
            continue
        out.append({"query_id": row["query_id"], "query": row["query"], "query_type": row["query_type"],
                    "generated_query_id": row["generated_query_id"],
                    "positive_passages": [export.passage(env.corpus.get(row["positive"]))],
                    "negative_passages": [export.passage(env.corpus.get(d)) for d in negatives]})
        if i % 200 == 0 or i == len(rows):
            progress("negatives", i, len(rows))
    return out, stats


def _top_up(env: QuerygenEnv, row: dict[str, Any], options: BuildOptions, seed: int,
            exclude: set[str], want: int) -> list[str]:
    band = bm25_band(env, row["query"], options.topup_ranks, exclude)
    if len(band) < want:                         # small corpus: the ranks after the band, then any
        order = [env.corpus.docs[i].doc_id for i in ranking(env.bm25.scores(row["query"]))]
        band += [d for d in order if d not in exclude and d not in band][:want - len(band)]
    rng = random.Random(derive_seed(seed, "topup", row["query_id"]))
    return rng.sample(band, min(want, len(band)))


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
                  querygen: QuerygenOptions | None = None, progress: Progress | None = None,
                  generator=None) -> BuildReport:
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
        from rader_queue.querygen.local import run_local

        run_local(run_name, querygen, progress=tick, generator=generator)
    env = make_env(run_id, run_config, QuerygenOptions())
    seed = run_seed(run_config, QuerygenOptions(seed=options.seed))
    out_dir = Path(out_dir)
    with session_scope() as session:
        rows, stats = select_rows(session, env, options, seed, tick)
        data = export.dumps(rows)
        digest = hashlib.sha256(data).hexdigest()
        counts = {t: sum(1 for r in rows if r["query_type"] == t) for t in options.types}
        counts["all"] = len(rows)
        dataset, created = _version(session, name, digest, {
            "run": run_name, "run_id": run_id, "corpus": run_config.get("corpus"),
            "types": list(options.types), "min_reward": options.min_reward, "seed": seed,
            "min_negatives": options.min_negatives, "topup_ranks": list(options.topup_ranks),
            "content_hash": digest, "stats": stats,
            "querygen": [querygen.to_dict()] if querygen else _querygen_options(session, run_id)},
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
                             stats, path, digest, rows=rows)
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
