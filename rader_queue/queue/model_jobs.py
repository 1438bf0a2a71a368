"""Jobs that are not one per problem: corpus embedding shards, trainings and evaluations.

They are job rows like every other stage's: written to SQL first (idempotency key from the
stage, a name and the payload's hash: asking twice for the same work adds nothing), claimed,
leased and finished by the job runner, visible to ``status``, ``retry`` and ``cancel``. Each
belongs to a run: the run that produced its data when there is one (``rader-queue run
--through train|eval`` attaches them to the MCTS run), else a run of its own named
``<stage>:<name>`` (``rader-queue status train:my-checkpoint``)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from rader_queue.errors import InputError, PayloadError
from rader_queue.queue import keys, stages
from rader_queue.queue.enqueue import ensure_run, publish_pending
from rader_queue.queue.jobs import now as jobs_now
from rader_queue.store import insert_ignore, session_scope
from rader_queue.store.models import Job, JobState, Run

_UNSAFE = re.compile(r"[^A-Za-z0-9._+=@:-]+")


@dataclass
class ModelJobsReport:
    run: str
    run_id: int
    job_ids: list[int]
    jobs_new: int
    published: int


def own_run_name(stage: str, name: str) -> str:
    """The run of a job that belongs to no pipeline run: ``<stage>:<name>`` (made valid)."""
    return f"{stage}:{_UNSAFE.sub('_', name).strip('._+=@:-') or 'job'}"[:200]


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def job_rows(run_id: int, stage: str, items: Sequence[tuple[str, dict[str, Any]]]) -> list[dict]:
    """Rows of ``(name, payload)`` jobs of ``stage``; payloads checked against its model."""
    entry = stages.get(stage)
    rows, stamp = [], jobs_now()
    for name, payload in items:
        try:
            checked = entry.validate(payload).model_dump(mode="json")
        except PayloadError as exc:
            raise InputError(str(exc)) from None
        rows.append({"run_id": run_id, "problem_id": None, "stage": entry.name,
                     "idempotency_key": keys.job_key(entry.name, run_id, name,
                                                     payload_hash(checked))[:300],
                     "state": JobState.QUEUED, "attempts": 0, "payload": checked,
                     "enqueued_at": stamp})
    return rows


def enqueue_model_jobs(stage: str, items: Sequence[tuple[str, dict[str, Any]]], *,
                       run: str | None = None, label: str | None = None,
                       publish: bool = True) -> ModelJobsReport:
    """Record (and with ``publish``, publish) one job of ``stage`` per ``(name, payload)``.

    ``run``: the existing run they belong to; default: a run of their own named after the
    stage and ``label`` (default: the first job's name). Returns the jobs' ids in ``items`` order (new or existing)."""
    if not items:
        raise InputError(f"no {stage} job to enqueue")
    with session_scope() as session:
        if run is None:
            run_name = own_run_name(stage, label or items[0][0])
            run_row = ensure_run(session, run_name, stage, None, {"stage": stage})
        else:
            run_name = run
            run_row = session.scalars(select(Run).where(Run.name == run)).one_or_none()
            if run_row is None:
                raise InputError(f"no run named {run!r}")
        run_id = run_row.id
        rows = job_rows(run_id, stage, items)
        new = insert_ignore(session, Job, rows, ["idempotency_key"])
        ids = dict(session.execute(select(Job.idempotency_key, Job.id).where(
            Job.idempotency_key.in_([r["idempotency_key"] for r in rows]))).all())
    published = publish_pending(run_id, stage) if publish else 0
    return ModelJobsReport(run_name, run_id, [ids[r["idempotency_key"]] for r in rows], new,
                           published)


def job_outcome(job_id: int) -> tuple[str, dict[str, Any] | None, str | None]:
    """(state, result, last error) of a job."""
    with session_scope() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise InputError(f"no job {job_id}")
        return job.state, job.result, job.last_error
