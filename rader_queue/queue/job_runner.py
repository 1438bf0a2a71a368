"""The one path every task body runs through: claim the job in SQL, do the work, then write the
results and mark the job done in ONE transaction.

    claim (txn 1) ──> work (no SQL writes) ──> finish + persist (txn 2)

A worker killed anywhere before txn 2 commits leaves nothing half-written: the job is still
``running`` with no result rows, and the redelivered message starts it again cleanly. While a
copy runs it holds a lease on the job (:mod:`rader_queue.queue.lease`): a second delivery of the
same message defers instead of doing the work twice. Errors:

* :class:`TaskFailed`, :class:`InputError`, :class:`ConfigError` (e.g. no generator endpoint):
  cannot succeed → job ``failed`` with the reason, at once.
* the store unreachable (connectivity only, :mod:`rader_queue.queue.failures`): the task is
  retried with exponential backoff. Any other SQL error (a missing column, a constraint, bad
  data) fails the job at once with the database's reason.
* an argument that is not a job id: the message goes to the dead-letter store.
* a payload that does not fit the stage's payload model (:mod:`rader_queue.queue.stages`), or a
  job of another stage than the task's: :class:`PayloadError`, job ``failed`` at once with the
  fields that were wrong; the body never runs.
* anything else (model errors included): retried with backoff until the job has been claimed
  1 + ``RADER_TASK_MAX_RETRIES`` times (counted in SQL; ``rader-queue retry`` starts the count
  again), then ``failed`` with the last reason.
"""

from __future__ import annotations

import logging
import random
import traceback
from collections.abc import Callable
from concurrent.futures import CancelledError
from typing import Any

from celery import Task
from celery.exceptions import Retry, SoftTimeLimitExceeded
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rader_queue.errors import ConfigError, InputError, PayloadError, TaskFailed
from rader_queue.job_context import JobContext, Outcome
from rader_queue.queue import deadletter, failures, jobs, lease
from rader_queue.settings import get_settings
from rader_queue.store import session_scope
from rader_queue.store.models import Job, JobState, Problem, Run

log = logging.getLogger("rader_queue.jobs")

# Celery reads ``task.retry(max_retries=None)`` as "the task's default" (3), not "no limit"; the
# job runner bounds retries itself (RADER_TASK_MAX_RETRIES; unbounded while the store is down).
NO_CELERY_LIMIT = 1_000_000


def _load_context(session: Session, job: Job) -> JobContext:
    # the payload as stored (a copy): checked against the stage's model before the body runs
    payload = job.payload if job.payload is not None else {}
    payload = dict(payload) if isinstance(payload, dict) else payload
    ctx = JobContext(job.id, job.stage, job.attempts, payload, run_id=job.run_id)
    if job.run_id is not None:
        run = session.get(Run, job.run_id)
        ctx.run_name, ctx.run_config = run.name, dict(run.config or {})
    if job.problem_id is not None:
        problem = session.get(Problem, job.problem_id)
        ctx.problem_id, ctx.problem_source_id = problem.id, problem.source_id
        ctx.problem_text, ctx.gold_answer = problem.text, problem.gold_answer
    return ctx


def backoff_s(retries: int, base: float | None = None, cap: float | None = None) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**retries)). Base and
    cap default to ``RADER_TASK_BACKOFF_BASE_S`` (2) and ``RADER_TASK_BACKOFF_CAP_S`` (120); the
    cap also bounds how long a job may wait after the store comes back from an outage."""
    settings = get_settings()
    base = settings.task_backoff_base_s if base is None else base
    cap = settings.task_backoff_cap_s if cap is None else cap
    return random.uniform(0, min(cap, base * (2 ** retries)))


MAX_JOB_ID = 2**63 - 1


def valid_job_id(job_id: Any) -> int | None:
    """``job_id`` when it is a job id (a positive 64-bit integer, not a bool), else ``None``."""
    if isinstance(job_id, bool) or not isinstance(job_id, int) or not 0 < job_id <= MAX_JOB_ID:
        return None
    return job_id


def reject_message(task: Task, reason: str) -> dict[str, Any]:
    """Move this delivery to the dead-letter store (it can never run) and acknowledge it."""
    request = task.request
    raw = {"id": request.id, "task": task.name, "args": request.args, "kwargs": request.kwargs,
           "headers": getattr(request, "headers", None)}
    queue = (getattr(request, "delivery_info", None) or {}).get("routing_key")
    deadletter.put(raw, reason, queue=queue, task=task.name)
    return {"dead_letter": reason}


def execute(task: Task, job_id: Any, stage: Any) -> dict[str, Any]:
    """The body of every job task: validate the argument, claim, check the payload, work,
    finish (see above). ``stage`` is the registry's :class:`~rader_queue.queue.stages.Stage`
    whose task this is (or its name)."""
    from rader_queue.queue import stages

    stage = stages.get(stage) if isinstance(stage, str) else stage
    if valid_job_id(job_id) is None:
        return reject_message(task, f"{task.name}: job id must be a positive 64-bit integer, "
                                    f"not {type(job_id).__name__} {str(job_id)[:80]!r}")
    settings = get_settings()
    retries = task.request.retries or 0
    try:
        with session_scope() as session:
            job = jobs.claim(session, job_id, lease_s=settings.job_lease_s)
            if job is None:
                exists = session.get(Job, job_id) is not None
                return {"job_id": job_id, "skipped": "already done" if exists else "no such job"}
            ctx = _load_context(session, job)
    except jobs.Skip as exc:
        return {"job_id": job_id, "skipped": str(exc)}
    except jobs.LeaseHeld as exc:
        # Another live copy runs this job (a redelivery past the visibility timeout): come back
        # when its lease would end; by then it has finished (→ skipped) or died (→ taken over).
        log.info("%s; this copy defers", exc)
        raise task.retry(countdown=exc.remaining_s + random.uniform(1, 5),
                         max_retries=NO_CELERY_LIMIT)
    except Exception as exc:  # noqa: BLE001 - classified: outage → retry, else → failed
        if failures.is_outage(exc):
            log.warning("job %s: store unavailable (%s); retrying", job_id, type(exc).__name__)
            raise task.retry(exc=exc, countdown=backoff_s(retries), max_retries=NO_CELERY_LIMIT)
        if not failures.is_store_error(exc):
            raise
        reason = f"StoreError: the SQL store refused the claim: {failures.describe(exc)}"
        _record_failure(job_id, reason, final=True, any_holder=True)
        return {"job_id": job_id, "failed": reason}
    from rader_queue import context

    ctx.worker = context.current()
    lease.register(job_id)
    try:
        return _run(task, ctx, stage, retries)
    finally:
        lease.release(job_id)


def _checked(ctx: JobContext, stage: Any) -> Callable[[JobContext], Outcome]:
    """The stage's body, after the job's stage and payload were checked (PayloadError)."""
    if ctx.stage != stage.name:
        raise PayloadError(f"job {ctx.job_id} is a {ctx.stage!r} job, not a {stage.name!r} job "
                           f"({stage.task} runs only {stage.name} jobs)")
    ctx.params = stage.validate(ctx.payload)
    return stage.body_function()


def _run(task: Task, ctx: JobContext, stage: Any, retries: int) -> dict[str, Any]:
    settings = get_settings()
    job_id = ctx.job_id
    try:
        work = _checked(ctx, stage)
        outcome = work(ctx)
        with session_scope() as session:
            job = jobs.finish(session, job_id)        # locks the row; refuses a finished job
            outcome.persist(session)
            job.result = dict(outcome.result)
        return {"job_id": job_id, "run_id": ctx.run_id, **outcome.result}
    except jobs.AlreadyDone as exc:
        log.info("job %s: %s; this copy's work is discarded", job_id, exc)
        return {"job_id": job_id, "skipped": "finished by another delivery"}
    except Retry:
        raise
    except (TaskFailed, InputError, ConfigError, SoftTimeLimitExceeded) as exc:
        reason = "time limit exceeded" if isinstance(exc, SoftTimeLimitExceeded) else str(exc)
        _record_failure(job_id, f"{type(exc).__name__}: {reason}", final=True)
        return {"job_id": job_id, "failed": reason}
    except CancelledError:
        return {"job_id": job_id, "skipped": "no longer held by this worker"}
    except Exception as exc:  # noqa: BLE001 - classified below
        if failures.is_outage(exc):
            # The store went away: nothing was committed; try again later, the job stays
            # running (its lease runs out) until then.
            log.warning("job %s: store unavailable (%s); retrying", job_id, type(exc).__name__)
            raise task.retry(exc=exc, countdown=backoff_s(retries), max_retries=NO_CELERY_LIMIT)
        if failures.is_store_error(exc):
            # The database answered with an error (a missing column, a constraint, bad data):
            # the same statement fails again; permanent.
            reason = f"StoreError: the SQL store refused the results: {failures.describe(exc)}"
            _record_failure(job_id, reason, final=True)
            return {"job_id": job_id, "failed": reason}
        reason = f"{type(exc).__name__}: {exc}"
        final = ctx.attempts > settings.task_max_retries   # claims, counted in SQL
        log.warning("job %s attempt %s failed: %s%s", job_id, retries + 1, reason,
                    "" if not final else " (giving up)")
        log.debug("%s", traceback.format_exc())
        if not _record_failure(job_id, reason, final=final):
            return {"job_id": job_id, "skipped": "no longer held by this worker"}
        if final:
            return {"job_id": job_id, "failed": reason}
        raise task.retry(exc=exc, countdown=backoff_s(retries), max_retries=NO_CELERY_LIMIT)


def _record_failure(job_id: int, reason: str, *, final: bool, any_holder: bool = False) -> bool:
    """Write the failure; ``False`` when the job is no longer this worker's (or the store is
    down: logged)."""
    try:
        with session_scope() as session:
            if any_holder:
                holder = session.scalar(select(Job.worker).where(Job.id == job_id))
                return jobs.fail(session, job_id, reason, final=final, worker=holder) or \
                    _fail_queued(session, job_id, reason)
            return jobs.fail(session, job_id, reason, final=final)
    except Exception as exc:  # noqa: BLE001 - the store may be down or refuse this write too
        log.error("job %s: could not record failure (%s): %s", job_id, type(exc).__name__, reason)
        return True


def _fail_queued(session: Session, job_id: int, reason: str) -> bool:
    result = session.execute(update(Job).where(Job.id == job_id, Job.state == JobState.QUEUED)
                             .values(state=JobState.FAILED, last_error=reason[:4000]))
    return bool(result.rowcount)
