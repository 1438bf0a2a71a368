"""Job bodies of the querygen stages (their tasks and queues: :mod:`rader_queue.queue.stages`). Each reads the stored tree, does its model calls without writing, and
returns an :class:`Outcome` whose ``persist`` writes its rows in the job's final transaction.

    extract        (querygen queue, one per finished problem)  qcot + qquestion rows
    querygen       (querygen queue, per problem and LLM type)   qllmq or qlexical rows
    judge_queries  (judge queue, per problem and type)          verdicts on those rows

With the ``judge`` option, a generating job adds the judge job of its rows in the same
transaction; the task publishes it once that transaction has committed (``Stage.adds``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from rader_queue.errors import TaskFailed
from rader_queue.llm.ledger import Ledger
from rader_queue.querygen import generation
from rader_queue.querygen.options import LLM_TYPES, STATIC_TYPES, QuerygenOptions
from rader_queue.querygen.samples import load_samples
from rader_queue.querygen.store import (apply_verdicts, existing_keys, make_env, rows_to_judge,
                                        write_rows)
from rader_queue.queue import keys, runtime
from rader_queue.job_context import JobContext, Outcome
from rader_queue.store import insert_ignore, session_scope
from rader_queue.store.models import Job, JobState

log = logging.getLogger("rader_queue.querygen")


@dataclass(frozen=True)
class LLMQueryType:
    """How the querygen job of one LLM query type makes its rows."""

    rows: Callable[..., Awaitable[list[dict[str, Any]]]]    # (env, samples, skip keys)
    keys: Callable[[Sequence[Any]], list[str]]               # row keys the samples would give
    needs_dense: bool = False                                # dense negatives (the embedder)


# One line per LLM query type (its prompt lives in querygen/prompts/; its name in
# options.LLM_TYPES).
LLM_QUERY_TYPES: dict[str, LLMQueryType] = {
    "qllmq": LLMQueryType(generation.llm_query_rows, generation.llm_keys),
    "qlexical": LLMQueryType(generation.lexical_rows,
                             lambda samples: [generation.row_key("qlexical", s.doc_id)
                                              for s in samples], needs_dense=True),
}
assert set(LLM_QUERY_TYPES) == set(LLM_TYPES), "querygen.options.LLM_TYPES and LLM_QUERY_TYPES"

EXTRACT, GENERATE, JUDGE = "extract", "querygen", "judge_queries"   # stage names (registry)


def job_row(stage: str, run_id: int, problem_id: int, source_id: str, options: QuerygenOptions,
            query_type: str | None = None) -> dict[str, Any]:
    """The jobs row of one querygen-stage job (idempotency key per run, problem (, type))."""
    parts = [run_id, source_id] + ([query_type] if query_type else [])
    payload: dict[str, Any] = {"options": options.model_dump(mode="json")}
    if query_type:
        payload["query_type"] = query_type
    return {"run_id": run_id, "problem_id": problem_id, "stage": stage,
            "idempotency_key": keys.job_key(stage, *parts) + options.variant,
            "state": JobState.QUEUED, "payload": payload}


def _options(ctx: JobContext) -> QuerygenOptions:
    if ctx.problem_id is None or ctx.run_id is None:
        raise TaskFailed(f"job {ctx.job_id} has no problem attached")
    return QuerygenOptions.model_validate(ctx.payload.get("options") or {})


def _judge_jobs(session: Session, ctx: JobContext, options: QuerygenOptions,
                types: list[str]) -> int:
    if not options.judge:
        return 0
    rows = [job_row(JUDGE, ctx.run_id, ctx.problem_id, ctx.problem_source_id, options, t)
            for t in types if t in options.types]
    return insert_ignore(session, Job, rows, ["idempotency_key"])


def _samples(ctx: JobContext, options: QuerygenOptions):
    with session_scope() as session:
        return load_samples(session, ctx.problem_id, min_reward=options.min_reward,
                            unparsed_as_negative=options.unparsed_as_negative)


def extract(ctx: JobContext) -> Outcome:
    """qcot and qquestion rows of one finished problem (no model calls)."""
    options = _options(ctx)
    env = make_env(ctx.run_id, ctx.run_config, options, worker=ctx.worker)
    samples = _samples(ctx, options)
    rows = generation.static_rows(env, samples)
    summary: dict[str, Any] = {"run_id": ctx.run_id, "problem": ctx.problem_source_id,
                               "samples": len(samples), "rows": len(rows),
                               "missing_docs": sorted(env.missing_docs)}

    def persist(session: Session) -> None:
        summary["rows_new"] = write_rows(session, rows)
        summary["judge_jobs"] = _judge_jobs(session, ctx, options, list(STATIC_TYPES))

    return Outcome(summary, persist)


def generate(ctx: JobContext) -> Outcome:
    """qllmq or qlexical rows of one finished problem (``payload.query_type``)."""
    options = _options(ctx)
    qtype = ctx.payload.get("query_type")
    if qtype not in LLM_QUERY_TYPES:
        raise TaskFailed(f"job {ctx.job_id}: query_type must be one of "
                         f"{', '.join(LLM_QUERY_TYPES)}, not {qtype!r}")
    kind = LLM_QUERY_TYPES[qtype]

    ledger = Ledger()
    generator = ctx.worker.generator("querygen").bind(ledger=ledger, run_id=ctx.run_id,
                                                      problem_id=ctx.problem_id)
    env = make_env(ctx.run_id, ctx.run_config, options, generator=generator,
                   need_dense=kind.needs_dense, worker=ctx.worker)
    samples = _samples(ctx, options)
    with session_scope() as session:
        skip = existing_keys(session, ctx.run_id, kind.keys(samples))
    rows = runtime.run(kind.rows(env, samples, skip))
    summary: dict[str, Any] = {"run_id": ctx.run_id, "problem": ctx.problem_source_id,
                               "query_type": qtype, "samples": len(samples), "rows": len(rows),
                               "dropped": sum(1 for r in rows if not r["kept"]),
                               "calls": ledger.totals().calls}

    def persist(session: Session) -> None:
        summary["rows_new"] = write_rows(session, rows)
        ledger.flush(session, ctx.run_id, ctx.problem_id)
        summary["judge_jobs"] = _judge_jobs(session, ctx, options, [qtype])

    return Outcome(summary, persist)


def judge(ctx: JobContext) -> Outcome:
    """Verdicts on one problem's rows of one type: does the theorem help answer the query?"""
    options = _options(ctx)
    qtype = ctx.payload.get("query_type")

    ledger = Ledger()
    generator = ctx.worker.generator("judge").bind(ledger=ledger, run_id=ctx.run_id,
                                                   problem_id=ctx.problem_id)
    env = make_env(ctx.run_id, ctx.run_config, options, generator=generator, worker=ctx.worker)
    with session_scope() as session:
        rows = rows_to_judge(session, ctx.run_id, problem_id=ctx.problem_id,
                             query_types=[qtype] if qtype else None)
    updates = runtime.run(generation.judge_rows(env, rows))
    summary: dict[str, Any] = {"run_id": ctx.run_id, "problem": ctx.problem_source_id,
                               "query_type": qtype, "judged": len(updates),
                               "rejected": sum(1 for u in updates if u["judge_label"] is False)}

    def persist(session: Session) -> None:
        summary["written"] = apply_verdicts(session, updates)
        ledger.flush(session, ctx.run_id, ctx.problem_id)

    return Outcome(summary, persist)
