"""``rader-queue dataset querygen RUN``: the extraction, query-generation and query-judge jobs of
a finished MCTS run, written to SQL with idempotency keys and then published.

* one ``extract`` job per finished problem (key ``extract:<run>:<problem>``);
* one ``querygen`` job per finished problem with a qualifying trajectory and LLM type
  (``querygen:<run>:<problem>:<type>``);
* with ``judge``: a ``judge_queries`` job per problem and type, added now for generating jobs
  that already finished, or by the generating job itself when it finishes.

Keys of a non-default reward filter carry a suffix (``:all-rewards``), so asking for other
trajectories is new work while asking again for the same adds nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select, update

from rader_queue.errors import InputError
from rader_queue.queue.enqueue import publish_pending
from rader_queue.queue.status import find_run
from rader_queue.querygen.options import LLM_TYPES, STATIC_TYPES, QuerygenOptions
from rader_queue.querygen.store import finished_problems
from rader_queue.querygen.tasks import EXTRACT, GENERATE, JUDGE, job_row
from rader_queue.store import insert_ignore, session_scope
from rader_queue.store.db import require_schema
from rader_queue.store.models import Job, JobState, Solution


@dataclass
class QuerygenReport:
    run: str
    run_id: int
    problems: int
    jobs_new: dict[str, int]
    published: int
    keys: list[str] = field(default_factory=list)    # extract and querygen jobs' keys


def publish(run_id: int, stages: tuple[str, ...] = (EXTRACT, GENERATE, JUDGE),
            send: Callable[[str], Callable[[int], str]] | None = None) -> int:
    """Publish every queued, not yet published job of the run's querygen stages."""
    return sum(publish_pending(run_id, stage, send=send(stage) if send else None)
               for stage in stages)


def enqueue_querygen(run_name: str, options: QuerygenOptions, *,
                     send: Callable[[str], Callable[[int], str]] | None = None,
                     publish_jobs: bool = True) -> QuerygenReport:
    """Record the run's querygen-stage jobs and (``publish_jobs``) publish them; without,
    they are run in process (:func:`rader_queue.querygen.local.run_local`)."""
    require_schema()
    with session_scope() as session:
        run = find_run(session, run_name)
        run_id = run.id
        problems = finished_problems(session, run_id)
        if not problems:
            raise InputError(f"run {run_name!r} has no finished problems yet: wait for its MCTS "
                             "jobs (`rader-queue status`)")
        qualifying = set(session.scalars(select(Solution.problem_id).where(
            Solution.problem_id.in_([p.id for p in problems]), Solution.kind == "final",
            Solution.has_retrieval.is_(True),
            *([Solution.reward >= options.min_reward] if options.min_reward is not None else []))))
        rows = [job_row(EXTRACT, run_id, p.id, p.source_id, options) for p in problems]
        rows += [job_row(GENERATE, run_id, p.id, p.source_id, options, t)
                 for t in LLM_TYPES if t in options.types for p in problems if p.id in qualifying]
        new = {EXTRACT: 0, GENERATE: 0, JUDGE: 0}
        for stage in (EXTRACT, GENERATE):
            new[stage] = insert_ignore(session, Job, [r for r in rows if r["stage"] == stage],
                                       ["idempotency_key"])
        if options.judge:
            new[JUDGE] = _judge_jobs(session, rows, options, {p.id: p.source_id for p in problems})
    published = publish(run_id, send=send) if publish_jobs else 0
    return QuerygenReport(run_name, run_id, len(problems), new, published,
                          [r["idempotency_key"] for r in rows])


def _judge_jobs(session, rows: list[dict], options: QuerygenOptions,
                source_ids: dict[int, str]) -> int:
    """Judge jobs for generating jobs already done; the others are told to add theirs."""
    states = dict(session.execute(select(Job.idempotency_key, Job.state).where(
        Job.idempotency_key.in_([r["idempotency_key"] for r in rows]))).all())
    judge_rows = []
    for r in rows:
        types = (STATIC_TYPES if r["stage"] == EXTRACT else (r["payload"]["query_type"],))
        types = [t for t in types if t in options.types]
        if not types:
            continue
        if states.get(r["idempotency_key"]) == JobState.DONE:
            judge_rows += [job_row(JUDGE, r["run_id"], r["problem_id"], source_ids[r["problem_id"]],
                                   options, t) for t in types]
        else:
            job = session.scalars(select(Job).where(
                Job.idempotency_key == r["idempotency_key"])).one()
            payload = dict(job.payload or {})
            payload["options"] = {**payload.get("options", {}), "judge": True,
                                  "types": sorted(set(payload.get("options", {}).get("types", []))
                                                  | set(types))}
            session.execute(update(Job).where(Job.id == job.id, Job.state != JobState.DONE)
                            .values(payload=payload))
    return insert_ignore(session, Job, judge_rows, ["idempotency_key"])
