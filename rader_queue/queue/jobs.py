"""Job bookkeeping in SQL: claim → (work) → finish or fail.

A job row is the source of truth for a task; the broker message only carries the job id.
``claim`` refuses a job that is already done (a redelivered message is then acknowledged and
dropped) and takes a lease so a second copy running concurrently can be told apart; ``finish``
runs inside the caller's transaction, locks the row and fails with :class:`AlreadyDone` when
another copy finished first, so that copy's writes roll back with it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rader_queue.errors import AlreadyDone, LeaseHeld, Skip  # noqa: F401 - jobs.LeaseHeld etc.
from rader_queue.queue import lease
from rader_queue.queue.clock import db_now, now  # noqa: F401 - now: enqueue imports it from here
from rader_queue.queue.lease import worker_name
from rader_queue.secrets import scrub
from rader_queue.store.db import as_utc
from rader_queue.store.models import Job, JobState


def _locked(session: Session, job_id: int) -> Job | None:
    stmt = select(Job).where(Job.id == job_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def claim(session: Session, job_id: int, lease_s: float, worker: str | None = None) -> Job | None:
    """Mark the job running and count the attempt. ``None`` when it is done (or gone);
    :class:`Skip` when it is cancelled; :class:`LeaseHeld` when another live copy is running it
    (see :mod:`rader_queue.queue.lease`). Lease times come from the database's clock."""
    job = _locked(session, job_id)
    if job is None or job.state == JobState.DONE:
        return None
    if job.state == JobState.CANCELLED:
        raise Skip(f"job {job_id} was cancelled")
    clock = db_now(session)
    if job.state == JobState.RUNNING and job.lease_until is not None:
        remaining = (as_utc(job.lease_until) - clock).total_seconds()
        me = worker or worker_name()
        live_elsewhere = job.worker != me and not lease.holder_is_dead(job.worker)
        if remaining > 0 and (live_elsewhere or lease.held_here(job_id)):
            raise LeaseHeld(job_id, job.worker, remaining)
    job.state = JobState.RUNNING
    job.attempts += 1
    job.started_at = clock
    job.worker = worker or worker_name()
    job.lease_until = clock + dt.timedelta(seconds=lease_s)
    job.last_error = None
    session.flush()
    return job


def finish(session: Session, job_id: int, result: dict | None = None,
           worker: str | None = None) -> Job:
    """Mark done in the caller's transaction; raises :class:`AlreadyDone` if another copy won
    (or the job was cancelled or deleted meanwhile). ``worker`` becomes the finishing copy's
    name: a redelivered copy's claim may have replaced the name of the copy that finishes."""
    job = _locked(session, job_id)
    if job is None:
        raise AlreadyDone(f"job {job_id} no longer exists")
    if job.state == JobState.DONE:
        raise AlreadyDone(f"job {job_id} was already finished by {job.worker}")
    if job.state == JobState.CANCELLED:
        raise AlreadyDone(f"job {job_id} was cancelled")
    job.worker = worker or worker_name()
    job.state = JobState.DONE
    job.finished_at = db_now(session)
    job.lease_until = None
    job.result = result
    session.flush()
    return job


def fail(session: Session, job_id: int, error: str, *, final: bool,
         worker: str | None = None) -> bool:
    """Record an error of the copy ``worker`` (default: this process). ``final``: the job is
    failed (until ``rader-queue retry``); otherwise it goes back to queued for the next
    delivery. Only a job this copy still holds is touched (not one cancelled, finished, or
    released and taken over meanwhile); returns whether it was."""
    values = {"last_error": scrub(error)[:4000], "lease_until": None,
              "state": JobState.FAILED if final else JobState.QUEUED}
    if final:
        values["finished_at"] = db_now(session)
    held = (Job.state == JobState.RUNNING) & (Job.worker == (worker or worker_name()))
    result = session.execute(update(Job).where(Job.id == job_id, held).values(**values))
    return bool(result.rowcount)
