"""SQL side of the querygen stages: the environment of a run, idempotent row writes, rows
waiting for the judge, and judge verdict updates."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from rader_queue.querygen.generation import QuerygenEnv
from rader_queue.querygen.options import QuerygenOptions, run_seed
from rader_queue.store import insert_ignore
from rader_queue.store.models import GeneratedQuery, Problem
from rader_queue.trees import resources


def corpus_name(run_config: dict[str, Any]) -> str:
    return str(run_config.get("corpus") or "theoremqa")


def make_env(run_id: int, run_config: dict[str, Any], options: QuerygenOptions, *,
             generator: Any = None, need_dense: bool = False) -> QuerygenEnv:
    """The run's corpus with its BM25 (and, for qlexical negatives, dense) retriever from the
    per-process shared resources, plus the given generator view."""
    name = corpus_name(run_config)
    bm25 = resources.retriever(name, "bm25")
    dense = resources.retriever(name, "dense") if need_dense and options.lexical_dense_top else None
    return QuerygenEnv(run_id=run_id, corpus=bm25.corpus, bm25=bm25, options=options,
                       seed=run_seed(run_config, options), generator=generator, dense=dense)


def existing_keys(session: Session, run_id: int, keys: Iterable[str]) -> set[str]:
    keys = list(keys)
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        found.update(session.scalars(select(GeneratedQuery.key).where(
            GeneratedQuery.run_id == run_id, GeneratedQuery.key.in_(keys[start:start + 500]))))
    return found


def write_rows(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows, ignoring keys already stored; a shared qlexical row keeps the best reward
    of the trajectories that led to its theorem. Returns rows inserted."""
    inserted = insert_ignore(session, GeneratedQuery, rows, ["run_id", "key"])
    for row in rows:
        if row["query_type"] == "qlexical" and row.get("trajectory_reward") is not None:
            session.execute(update(GeneratedQuery).where(
                GeneratedQuery.run_id == row["run_id"], GeneratedQuery.key == row["key"],
                or_(GeneratedQuery.trajectory_reward.is_(None),
                    GeneratedQuery.trajectory_reward < row["trajectory_reward"]))
                .values(trajectory_reward=row["trajectory_reward"]))
    return inserted


def rows_to_judge(session: Session, run_id: int, *, problem_id: int | None = None,
                  query_types: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Kept rows without a verdict (unreadable verdicts are not asked again)."""
    where = [GeneratedQuery.run_id == run_id, GeneratedQuery.kept.is_(True),
             GeneratedQuery.judge_label.is_(None)]
    if problem_id is not None:
        where.append(GeneratedQuery.problem_id == problem_id)
    if query_types:
        where.append(GeneratedQuery.query_type.in_(list(query_types)))
    out = []
    for g in session.scalars(select(GeneratedQuery).where(*where).order_by(GeneratedQuery.key)):
        if (g.extra or {}).get("judged"):
            continue
        out.append({"id": g.id, "key": g.key, "query": g.query,
                    "positive_doc_id": g.positive_doc_id, "extra": dict(g.extra or {})})
    return out


def apply_verdicts(session: Session, updates: Sequence[dict[str, Any]]) -> int:
    """Write verdicts on rows that have none yet (a redelivered judge changes nothing)."""
    done = 0
    for u in updates:
        done += session.execute(update(GeneratedQuery).where(
            GeneratedQuery.id == u["id"],
            and_(GeneratedQuery.judge_label.is_(None)))
            .values(judge_label=u["judge_label"], judge_reason=u["judge_reason"],
                    extra=u["extra"])).rowcount or 0
    return done


def finished_problems(session: Session, run_id: int) -> list[Problem]:
    return list(session.scalars(select(Problem).where(
        Problem.run_id == run_id, Problem.finished_at.is_not(None)).order_by(Problem.position,
                                                                             Problem.id)))
