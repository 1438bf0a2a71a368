"""Extraction, query generation and the query judge for a whole run in this process (no
broker): what ``rader-queue dataset build --local`` uses. The jobs are the queued path's (same
rows, keys and idempotency), run here through their stages' tasks
(:func:`rader_queue.queue.stage_tasks.run_in_process`) instead of on workers: the same bodies,
``concurrency`` jobs at a time sharing the process's event loop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import or_, select, update

from rader_queue.querygen.enqueue import enqueue_querygen
from rader_queue.querygen.options import QuerygenOptions
from rader_queue.querygen.tasks import EXTRACT, GENERATE, JUDGE
from rader_queue.store import session_scope
from rader_queue.store.models import Job, JobState

Progress = Callable[[str, int, int], None]      # (phase, done, total)
PHASES = {EXTRACT: "querygen", GENERATE: "querygen", JUDGE: "judge"}


@dataclass
class LocalReport:
    problems: int = 0
    jobs: dict[str, int] = field(default_factory=dict)        # jobs run here, per stage
    failed: dict[str, int] = field(default_factory=dict)      # of those, failed


def run_local(run_name: str, options: QuerygenOptions, *, progress: Progress | None = None,
              concurrency: int = 8) -> LocalReport:
    """Write the run's query rows (and verdicts with ``options.judge``) in-process."""
    from rader_queue.queue.app import app
    from rader_queue.queue.stage_tasks import run_in_process

    tick = progress or (lambda phase, done, total: None)
    queued = enqueue_querygen(run_name, options, publish_jobs=False)
    _again(queued.run_id, queued.keys, judge=options.judge)
    report = LocalReport(problems=queued.problems)
    for stage in (EXTRACT, GENERATE, JUDGE):     # judge jobs are added by the first two
        ids = _runnable(queued.run_id, stage)
        report.jobs[stage] = len(ids)
        tick(PHASES[stage], 0, len(ids))
        results = run_in_process(app, stage, ids, concurrency=concurrency)
        report.failed[stage] = sum(1 for r in results if "failed" in r)
        tick(PHASES[stage], len(ids), len(ids))
    return report


def _again(run_id: int, keys: list[str], *, judge: bool) -> None:
    """A local build brings the rows up to date: the jobs of these options that finished
    before run again (their bodies skip the rows already stored, so only missing ones are
    made), and with ``judge`` so do the run's finished judge jobs (only unjudged rows)."""
    again = (Job.idempotency_key.in_(keys),)
    if judge:
        again = (or_(again[0], Job.stage == JUDGE),)
    with session_scope() as session:
        session.execute(update(Job).where(
            Job.run_id == run_id, *again, Job.state.in_((JobState.DONE, JobState.FAILED)))
            .values(state=JobState.QUEUED, celery_task_id=None, published_at=None,
                    finished_at=None, attempts=0))


def _runnable(run_id: int, stage: str) -> list[int]:
    """The run's jobs of ``stage`` that are queued, or running with no live holder."""
    from rader_queue.queue.lease import holder_is_dead

    with session_scope() as session:
        rows = session.execute(select(Job.id, Job.state, Job.worker).where(
            Job.run_id == run_id, Job.stage == stage,
            Job.state.in_((JobState.QUEUED, JobState.RUNNING))).order_by(Job.id)).all()
    return [i for i, state, worker in rows if state == JobState.QUEUED or holder_is_dead(worker)]

