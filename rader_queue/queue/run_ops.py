"""Operator actions on a run's jobs (issue 15): cancel, delete, retry what did not finish.

* :func:`cancel_run` — the run's (or one stage's) ``queued`` and ``running`` jobs become
  ``cancelled``. Workers drop their messages without work (``jobs.claim``); a search already
  running is cancelled by its worker's next lease heartbeat and its results are discarded.
* :func:`delete_run` — the run's rows (problems, jobs, trees, … by ``ON DELETE CASCADE``) and its
  messages still waiting in the broker; a message already taken by a worker finds no job.
* :func:`retry_run` — failed and cancelled jobs back to ``queued`` with a fresh count of
  attempts, never-published ones published, and orphaned ones (``queued`` with no message,
  ``running`` with an expired lease) published again by a forced reconciler pass."""

from __future__ import annotations

import re

import redis
from sqlalchemy import delete, select, update

from rader_queue.queue import keys, stages
from rader_queue.queue.enqueue import publish_pending
from rader_queue.queue.jobs import db_now
from rader_queue.queue.reconcile import reconcile_once
from rader_queue.queue.status import find_run
from rader_queue.settings import get_settings
from rader_queue.store import session_scope
from rader_queue.store.models import Job, JobState, Run

_TASK_ID = re.compile(rb'"id": ?"([a-z_]+-\d+)"')


def cancel_run(run_name: str, stage: str | None = None) -> int:
    if stage is not None:
        stages.get(stage)           # an unknown stage is an error, not "0 cancelled"
    with session_scope() as session:
        run = find_run(session, run_name)
        where = [Job.run_id == run.id, Job.state.in_((JobState.QUEUED, JobState.RUNNING))]
        if stage:
            where.append(Job.stage == stage)
        return session.execute(update(Job).where(*where).values(
            state=JobState.CANCELLED, lease_until=None, finished_at=db_now(session),
            last_error="cancelled by `rader-queue cancel`")).rowcount


def delete_run(run_name: str) -> dict[str, int]:
    with session_scope() as session:
        run = find_run(session, run_name)
        task_ids = {f"{stage}-{job_id}".encode() for job_id, stage in session.execute(
            select(Job.id, Job.stage).where(Job.run_id == run.id)).all()}
        jobs = len(task_ids)
        session.execute(delete(Run).where(Run.id == run.id))
    return {"jobs": jobs, "messages": remove_messages(task_ids)}


def remove_messages(task_ids: set[bytes]) -> int:
    """Remove waiting messages with these task ids from every queue's lists."""
    if not task_ids or not get_settings().broker.startswith(("redis://", "rediss://")):
        return 0

    settings = get_settings()
    client = redis.Redis.from_url(settings.broker, socket_timeout=30)
    removed = 0
    for queue in stages.QUEUES:
        for name in keys.queue_lists(settings.queue_prefix, queue):
            for item in client.lrange(name, 0, -1):
                match = _TASK_ID.search(item)
                if match and match[1] in task_ids:
                    removed += int(client.lrem(name, 1, item))
    return removed


def retry_run(run_name: str, *, failed: bool = True, cancelled: bool = True,
              stage: str | None = None) -> dict[str, int]:
    if stage is not None:
        stages.get(stage)
    states = [s for s, on in ((JobState.FAILED, failed), (JobState.CANCELLED, cancelled)) if on]
    with session_scope() as session:
        run = find_run(session, run_name)
        run_id, count = run.id, 0
        where = [Job.run_id == run_id, Job.state.in_(states)] + ([Job.stage == stage] if stage else [])
        if states:
            count = session.execute(update(Job).where(*where).values(
                state=JobState.QUEUED, celery_task_id=None, published_at=None,
                finished_at=None, attempts=0)).rowcount
    published = sum(publish_pending(run_id, s) for s in stages.STAGE_NAMES if stage in (None, s))
    orphans = reconcile_once(force=True, run_id=run_id, grace_s=0)
    return {"reset": count, "published": published, "orphaned": orphans.republished}
