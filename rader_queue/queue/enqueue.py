"""Idempotent enqueueing: runs, problems and jobs are written to SQL first (one transaction,
UNIQUE keys), then one broker message per job that has not been published yet.

Running the same enqueue twice adds nothing. A crash between the SQL commit and the publishing
leaves jobs with no ``celery_task_id``; the next enqueue (or ``rader-queue retry``) publishes
exactly those."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rader_queue.datasets import Problem
from rader_queue.errors import ConfigError
from rader_queue.queue import keys
from rader_queue.store import insert_ignore, session_scope
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
        insert_ignore(session, Run, [{"name": name, "dataset": dataset, "split": split,
                                      "config": config, "config_hash": digest}], ["name"])
        run = session.scalars(select(Run).where(Run.name == name)).one()
    if run.config_hash != digest:
        changed = sorted(k for k in set(run.config) | set(config) if run.config.get(k) != config.get(k))
        raise ConfigError(f"run {name!r} already exists with a different config (differs in: "
                          f"{', '.join(changed)}); use another --run name")
    return run


def record_problems(session: Session, run: Run, problems: Sequence[Problem], stage: str = "mcts") -> tuple[int, int]:
    """Insert problems and their jobs; returns (new problems, new jobs)."""
    new_problems = insert_ignore(session, ProblemRow, [
        {"run_id": run.id, "source_id": p.source_id, "position": i, "text": p.text,
         "gold_answer": p.gold_answer, "meta": p.meta} for i, p in enumerate(problems)],
        ["run_id", "source_id"])
    ids = dict(session.execute(select(ProblemRow.source_id, ProblemRow.id)
                               .where(ProblemRow.run_id == run.id)).all())
    new_jobs = insert_ignore(session, Job, [
        {"run_id": run.id, "problem_id": ids[p.source_id], "stage": stage,
         "idempotency_key": keys.job_key(stage, run.id, p.source_id), "state": JobState.QUEUED,
         "payload": {}} for p in problems], ["idempotency_key"])
    return new_problems, new_jobs


def publish_pending(run_id: int, stage: str, send: Callable[[int], str] | None = None,
                    db_url: str | None = None, batch: int = 2000) -> int:
    """Publish a broker message for every queued job of ``stage`` in the run that has none yet."""
    if send is None:
        with celery_sender(stage) as celery_send:
            return publish_pending(run_id, stage, celery_send, db_url, batch)
    published = 0
    while True:
        with session_scope(db_url) as session:
            job_ids = session.scalars(
                select(Job.id).where(Job.run_id == run_id, Job.stage == stage,
                                     Job.state == JobState.QUEUED, Job.celery_task_id.is_(None))
                .order_by(Job.id).limit(batch)).all()
        if not job_ids:
            return published
        sent: dict[int, str] = {}
        try:
            for job_id in job_ids:
                sent[job_id] = send(job_id)
        finally:
            # Record what did reach the broker even when a send fails half-way, so the next
            # enqueue publishes only the rest. (A hard crash inside this loop can duplicate up
            # to ``batch`` messages; a duplicate is harmless, see the delivery guarantee.)
            if sent:
                with session_scope(db_url) as session:
                    session.execute(update(Job), [{"id": job_id, "celery_task_id": task_id}
                                                  for job_id, task_id in sent.items()])
            published += len(sent)


@contextmanager
def celery_sender(stage: str) -> Iterator[Callable[[int], str]]:
    """A function that publishes one job's message on one pooled broker connection."""
    from rader_queue.queue.app import app

    task_name, queue = STAGE_TASKS[stage], keys.STAGE_QUEUE[stage]
    with app.producer_pool.acquire(block=True) as producer:
        def send(job_id: int) -> str:
            task_id = f"{stage}-{job_id}"
            app.send_task(task_name, args=[job_id], task_id=task_id, queue=queue,
                          producer=producer)
            return task_id

        yield send


STAGE_TASKS = {
    "mcts": "rader.mcts.solve",
    "judge": "rader.judge.rejudge",
    "extract": "rader.querygen.extract",
    "querygen": "rader.querygen.generate",
    "judge_queries": "rader.judge.queries",
}


def enqueue(run_name: str, dataset: str, split: str | None, problems: Sequence[Problem],
            config: dict[str, Any], *, stage: str = "mcts", db_url: str | None = None,
            send: Callable[[int], str] | None = None) -> EnqueueReport:
    with session_scope(db_url) as session:
        run = ensure_run(session, run_name, dataset, split, config)
        new_problems, new_jobs = record_problems(session, run, problems, stage)
        run_id = run.id
    published = publish_pending(run_id, stage, send=send, db_url=db_url)
    return EnqueueReport(run_name, run_id, new_problems, new_jobs, published)
