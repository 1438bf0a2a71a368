"""Idempotent enqueueing: runs, problems and jobs are written to SQL first (one transaction,
UNIQUE keys), then one broker message per job that has not been published yet.

Running the same enqueue twice adds nothing. A crash between the SQL commit and the publishing
leaves jobs with no ``celery_task_id``; the next enqueue (or ``rader-queue retry``) publishes
exactly those."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from kombu.exceptions import KombuError
from redis.exceptions import RedisError
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from rader_queue.datasets import Problem
from rader_queue.errors import BrokerError, ConfigError
from rader_queue.queue import keys
from rader_queue.queue.jobs import now as jobs_now
from rader_queue.queue.publish import job_sender
from rader_queue.queue.run_names import validate_run_name
from rader_queue.secrets import redact_url, scrub
from rader_queue.store import insert_ignore, session_scope
from rader_queue.store.db import bulk_insert_ignore
from rader_queue.store.models import Job, JobState, Problem as ProblemRow, Run


@dataclass
class EnqueueReport:
    run: str
    run_id: int
    problems_new: int
    jobs_new: int
    published: int


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def ensure_run(session: Session, name: str, dataset: str, split: str | None,
               config: dict[str, Any]) -> Run:
    """The run called ``name``; created if new. An existing run with another config is an error
    (a run's trees are only comparable under one config)."""
    digest = config_hash(config)
    run = session.scalars(select(Run).where(Run.name == name)).one_or_none()
    if run is None:
        validate_run_name(name)
        insert_ignore(session, Run, [{"name": name, "dataset": dataset, "split": split,
                                      "config": config, "config_hash": digest}], ["name"])
        run = session.scalars(select(Run).where(Run.name == name)).one()
    if run.config_hash != digest:
        changed = sorted(k for k in set(run.config) | set(config) if run.config.get(k) != config.get(k))
        raise ConfigError(f"run {name!r} already exists with a different config (differs in: "
                          f"{', '.join(changed)}); use another --run name")
    return run


def record_problems(session: Session, run: Run, problems: Sequence[Problem], stage: str = "mcts") -> tuple[int, int]:
    """Insert problems and their jobs (bulk: COPY on PostgreSQL); returns (new problems, new
    jobs). Rows give every column, defaults included, for the bulk path."""
    new_problems = bulk_insert_ignore(session, ProblemRow, [
        {"run_id": run.id, "source_id": p.source_id, "position": i, "text": p.text,
         "gold_answer": p.gold_answer, "meta": p.meta} for i, p in enumerate(problems)],
        ["run_id", "source_id"])
    ids = dict(session.execute(select(ProblemRow.source_id, ProblemRow.id)
                               .where(ProblemRow.run_id == run.id)).all())
    enqueued_at = jobs_now()
    new_jobs = bulk_insert_ignore(session, Job, [
        {"run_id": run.id, "problem_id": ids[p.source_id], "stage": stage,
         "idempotency_key": keys.job_key(stage, run.id, p.source_id), "state": JobState.QUEUED,
         "attempts": 0, "payload": {}, "enqueued_at": enqueued_at} for p in problems],
        ["idempotency_key"])
    return new_problems, new_jobs


def publish_pending(run_id: int, stage: str, send: Callable[[int], str] | None = None,
                    db_url: str | None = None, batch: int = 2000) -> int:
    """Publish a broker message for every queued job of ``stage`` in the run that has none yet.

    ``send(job_id) -> task id`` publishes one message (default: :func:`publish.job_sender`, the
    stage's task and queue from the registry). A sender with a ``batch()`` context buffers a batch's messages and writes them to the broker in one pipeline when
    the context exits; only then are the batch's jobs marked published."""
    if send is None:
        try:
            with job_sender(stage) as celery_send:
                return publish_pending(run_id, stage, celery_send, db_url, batch)
        except (KombuError, RedisError, OSError) as exc:
            from rader_queue.settings import get_settings

            raise BrokerError(f"broker unreachable at {redact_url(get_settings().broker)} "
                              f"({scrub(str(exc))}); the jobs are recorded in SQL: enqueue again "
                              "or run `rader-queue retry RUN` once it is back") from exc
    published, last_id = 0, 0
    while True:
        with session_scope(db_url) as session:
            # Claim the batch: a concurrent enqueue (or retry) of the same run skips rows this
            # one holds, and finds them published once it commits: each job published once.
            job_ids = _claim_batch(session, run_id, stage, last_id, batch)
            if not job_ids:
                return published
            last_id = job_ids[-1]
            sent: dict[int, str] = {}
            try:
                with getattr(send, "batch", nullcontext)():
                    for job_id in job_ids:
                        sent[job_id] = send(job_id)
            except BaseException:
                session.rollback()              # the claim: these jobs are not published
                if sent and not hasattr(send, "batch"):
                    # Record what did reach the broker even when a send fails half-way, so
                    # the next enqueue publishes only the rest. (A hard crash inside this loop
                    # can duplicate up to ``batch`` messages; a duplicate is harmless.)
                    mark_published(session, sent)
                    session.commit()
                raise
        published += len(sent)


def _claim_batch(session: Session, run_id: int, stage: str, after: int, batch: int) -> list[int]:
    """Mark up to ``batch`` unpublished queued jobs published (task id ``stage-id``, database
    clock) in the caller's transaction and return their ids; rows another transaction holds
    are skipped. Rolled back if the messages cannot be written."""
    pick = (select(Job.id).where(Job.run_id == run_id, Job.stage == stage,
                                 Job.state == JobState.QUEUED, Job.celery_task_id.is_(None),
                                 Job.id > after).order_by(Job.id).limit(batch))
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(text(
            "UPDATE jobs SET celery_task_id = stage || '-' || id, published_at = "
            "clock_timestamp() WHERE id IN (SELECT id FROM jobs WHERE run_id = :run AND "
            "stage = :stage AND state = :state AND celery_task_id IS NULL AND id > :after "
            "ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED) RETURNING id"),
            {"run": run_id, "stage": stage, "state": JobState.QUEUED, "after": after,
             "n": batch}).scalars().all()
        return sorted(rows)
    ids = session.scalars(pick).all()
    if ids:
        mark_published(session, {i: f"{stage}-{i}" for i in ids})
    return list(ids)


def mark_published(session: Session, task_ids: dict[int, str]) -> None:
    """Set ``celery_task_id`` and ``published_at`` (database clock) of these jobs (one
    statement per batch on PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("UPDATE jobs SET celery_task_id = v.tid, published_at = "
                             "clock_timestamp() FROM unnest("
                             "CAST(:ids AS bigint[]), CAST(:tids AS text[])) AS v(id, tid) "
                             "WHERE jobs.id = v.id"),
                        {"ids": list(task_ids), "tids": list(task_ids.values())})
    else:
        stamp = jobs_now()
        session.execute(update(Job), [{"id": job_id, "celery_task_id": task_id,
                                       "published_at": stamp}
                                      for job_id, task_id in task_ids.items()])


def enqueue(run_name: str, dataset: str, split: str | None, problems: Sequence[Problem],
            config: dict[str, Any], *, stage: str = "mcts", db_url: str | None = None,
            send: Callable[[int], str] | None = None) -> EnqueueReport:
    from rader_queue.queue.preflight import enqueue_preflight

    enqueue_preflight(db_url, broker=send is None)
    with session_scope(db_url) as session:
        run = ensure_run(session, run_name, dataset, split, config)
        new_problems, new_jobs = record_problems(session, run, problems, stage)
        run_id = run.id
    published = publish_pending(run_id, stage, send=send, db_url=db_url)
    return EnqueueReport(run_name, run_id, new_problems, new_jobs, published)
