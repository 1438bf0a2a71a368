"""SQL decides what must be in flight; the reconciler makes the broker agree (issue 15).

The broker is a delivery mechanism that can lose messages (``FLUSHDB``, a restart without
persistence, a message acknowledged but never run, a worker killed on another host). Every
``RADER_RECONCILE_INTERVAL_S`` (60 s) one worker — one across all of them: a PostgreSQL advisory
lock; SQLite has one host — runs a pass (also ``rader-queue reconcile``):

1. **Expired leases.** A ``running`` job whose lease (renewed every third of
   ``RADER_JOB_LEASE_S`` by its holder's heartbeat) ended before the database's ``now()`` has
   lost its holder (killed on any host, or cut off from the store): it goes back to ``queued``
   and is published again — within lease + one interval of the crash, not the visibility
   timeout.
2. **Missing messages.** A ``queued`` job published more than ``RADER_RECONCILE_GRACE_S`` ago
   (database clock) whose task id is in none of its queue's Redis lists nor in kombu's unacked
   hash is published again. An unacked entry of a *queued* job older than the longest countdown
   a worker holds (backoff cap + lease + 60 s) belongs to a dead worker and does not count.
   A healthy backlog is read, not re-published: a 20,000-job queue costs one scan and no
   messages.

Each pass is a row of ``reconcile_runs`` (``rader-queue status`` shows the last), a log line,
and the ``rader_reconcile_*`` metrics. Jobs are re-published with the same task id; a duplicate
(a message that was only late) is harmless: the job row decides (:mod:`rader_queue.queue.jobs`).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis
from celery import signals
from prometheus_client import Counter
from sqlalchemy import String, and_, cast, func, literal, or_, select, text, update

from rader_queue.ops.metrics import REGISTRY
from rader_queue.queue import deadletter, keys, stages
from rader_queue.queue.jobs import db_now
from rader_queue.queue.lease import worker_name
from rader_queue.settings import get_settings
from rader_queue.store import session_scope
from rader_queue.store.db import engine_for
from rader_queue.store.models import Job, JobState, ReconcileRun

log = logging.getLogger("rader_queue.reconcile")

LOCK_KEY = 0x52414445_52000015      # pg advisory lock id of the reconciler ("RADER", issue 15)
_TASK_ID = re.compile(rb'"id": ?"([a-z_]+)-(\d+)"')


@dataclass
class PassReport:
    ran: bool
    checked: int = 0            # queued jobs past the grace period
    missing: int = 0            # ... of which no message was found
    released: int = 0           # running jobs with an expired lease
    republished: int = 0
    seconds: float = 0.0
    note: str = ""

    def line(self) -> str:
        if not self.ran:
            return f"reconcile: skipped ({self.note})"
        return (f"reconcile: {self.checked} queued job(s) checked, {self.missing} without a "
                f"message, {self.released} expired lease(s) released, {self.republished} "
                f"message(s) published in {self.seconds:.2f}s")


def stage_route(stage: str) -> tuple[str, str] | None:
    """(task name, queue) of a job stage (the registry's), or ``None`` for a stage it lacks."""
    entry = stages.BY_NAME.get(stage)
    return (entry.task, entry.queue) if entry else None


def live_task_ids(client: Any, prefix: str, queues: Iterable[str], stale_s: float) -> set[str]:
    """Task ids with a message in the queues' lists or in kombu's unacked hash (minus unacked
    entries older than ``stale_s``, held by no live worker). Lists are read before the unacked
    hash: a message moving from one to the other is seen in either."""
    ids: set[str] = set()
    for queue in queues:
        for name in keys.queue_lists(prefix, queue):
            length = client.llen(name)
            for start in range(0, length, 5000):
                for item in client.lrange(name, start, start + 4999):
                    match = _TASK_ID.search(item)
                    if match:
                        ids.add(f"{match[1].decode()}-{match[2].decode()}")
    cutoff = time.time() - stale_s
    fresh = {tag for tag, score in client.zscan_iter(prefix + keys.UNACKED + "_index")
             if score >= cutoff}
    for tag, value in client.hscan_iter(prefix + keys.UNACKED, count=1000):
        match = _TASK_ID.search(value)
        if match:
            task_id = f"{match[1].decode()}-{match[2].decode()}"
            ids.add(task_id if tag in fresh else "stale:" + task_id)
    return ids


def _redis():
    return redis.Redis.from_url(get_settings().broker, socket_timeout=30,
                                socket_connect_timeout=5)


def _publish(rows: list[tuple[int, str]], send_for: Callable[[str], Any] | None) -> int:
    """Publish one message per (job id, stage); returns how many were written."""
    from rader_queue.queue.publish import job_sender

    by_stage: dict[str, list[int]] = {}
    for job_id, stage in rows:
        by_stage.setdefault(stage, []).append(job_id)
    sent = 0
    for stage, ids in by_stage.items():
        if send_for is not None:
            for job_id in ids:
                send_for(stage)(job_id)
            sent += len(ids)
            continue
        with job_sender(stage) as send, send.batch():
            for job_id in ids:
                send(job_id)
        sent += len(ids)
    return sent


def reconcile_once(*, force: bool = False, run_id: int | None = None,
                   grace_s: float | None = None, db_url: str | None = None,
                   send_for: Callable[[str], Any] | None = None) -> PassReport:
    """One pass (see the module docstring). ``force``: run even if another pass ended less than
    an interval ago; ``run_id``: only that run's jobs."""
    settings = get_settings()
    engine = engine_for(db_url)
    started = time.monotonic()
    lock_conn = None
    if engine.dialect.name == "postgresql":
        lock_conn = engine.connect()
        if not lock_conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}):
            lock_conn.close()
            return PassReport(False, note="another worker is reconciling")
    try:
        return _pass(settings, force, run_id, grace_s, db_url, send_for, started)
    finally:
        if lock_conn is not None:
            try:
                lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                lock_conn.commit()
            finally:
                lock_conn.close()


def _pass(settings: Any, force: bool, run_id: int | None, grace_s: float | None,
          db_url: str | None, send_for: Any, started: float) -> PassReport:
    grace = settings.reconcile_grace_s if grace_s is None else grace_s
    stale_s = settings.task_backoff_cap_s + settings.job_lease_s + 60
    scope = [Job.run_id == run_id] if run_id is not None else []
    with session_scope(db_url) as session:
        now = db_now(session)
        if not force and settings.reconcile_interval_s > 0:
            last = session.scalar(select(func.max(ReconcileRun.finished_at)))
            if last is not None and (now - _aware(last)).total_seconds() < \
                    0.8 * settings.reconcile_interval_s:
                return PassReport(False, note="a pass ran less than an interval ago")
        # 1. expired leases: back to queued, to be published below
        released = session.execute(
            update(Job).where(*scope, Job.state == JobState.RUNNING, Job.lease_until < now)
            .values(state=JobState.QUEUED, lease_until=None, published_at=None,
                    last_error=literal("lease of ") + func.coalesce(Job.worker, "?")
                    + " expired; released by the reconciler")
            .returning(Job.id, Job.stage)).all()
        # 2. queued jobs past the grace period
        cutoff = now - dt.timedelta(seconds=grace)
        candidates = session.execute(
            select(Job.id, Job.stage).where(
                *scope, Job.state == JobState.QUEUED,
                or_(Job.published_at < cutoff,
                    and_(Job.published_at.is_(None), Job.enqueued_at < cutoff)))).all()
    routable = {stage for _, stage in candidates + released if stage_route(stage)}
    missing: list[tuple[int, str]] = []
    # Which messages exist is read from Redis's queue lists and unacked hash; another broker
    # (RabbitMQ) keeps its messages itself: only expired leases are released and republished.
    if candidates and settings.broker.startswith(("redis://", "rediss://")):
        queues = {stage_route(stage)[1] for stage in routable}
        live = live_task_ids(_redis(), settings.queue_prefix, queues, stale_s)
        missing = [(i, s) for i, s in candidates if s in routable and f"{s}-{i}" not in live]
    wanted = {i for i, _ in missing} | {i for i, s in released if s in routable}
    republished = 0
    if wanted:
        with session_scope(db_url) as session:
            now = db_now(session)
            # claim them (a concurrent enqueue or retry may have published some meanwhile)
            rows = session.execute(
                update(Job).where(Job.id.in_(wanted), Job.state == JobState.QUEUED,
                                  or_(Job.published_at.is_(None), Job.published_at < cutoff))
                .values(published_at=now,
                        celery_task_id=Job.stage + "-" + cast(Job.id, String))
                .returning(Job.id, Job.stage)).all()
            republished = _publish([tuple(r) for r in rows], send_for)
    report = PassReport(True, len(candidates), len(missing), len(released), republished,
                        time.monotonic() - started)
    _record(report, db_url)
    return report


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _record(report: PassReport, db_url: str | None) -> None:
    (log.warning if report.republished else log.info)("%s", report.line())
    _metrics(report)
    with session_scope(db_url) as session:
        now = db_now(session)
        session.add(ReconcileRun(started_at=now - dt.timedelta(seconds=report.seconds),
                                 finished_at=now, worker=worker_name(),
                                 queued_checked=report.checked, republished=report.republished,
                                 released=report.released))
        session.flush()
        # keep the last 1,000 passes
        old = select(ReconcileRun.id).order_by(ReconcileRun.id.desc()).offset(1000).limit(1)
        oldest_kept = session.scalar(old)
        if oldest_kept is not None:
            session.execute(ReconcileRun.__table__.delete().where(ReconcileRun.id <= oldest_kept))


_counters: dict[str, Any] = {}


def _metrics(report: PassReport) -> None:
    if not _counters:
        for name, doc in (("passes", "Reconciler passes"),
                          ("republished", "Messages re-published by the reconciler"),
                          ("released", "Expired job leases released by the reconciler"),
                          ("missing", "Queued jobs found without a broker message")):
            _counters[name] = Counter(f"rader_reconcile_{name}", doc, registry=REGISTRY)
    _counters["passes"].inc()
    _counters["republished"].inc(report.republished)
    _counters["released"].inc(report.released)
    _counters["missing"].inc(report.missing)


def delivery_summary(db_url: str | None = None) -> str:
    """One line for ``rader-queue status``: dead letters and the last reconciler pass."""
    parts = []
    try:
        parts.append(f"dead-letter: {deadletter.count()}" if deadletter.available()
                     else "dead-letter: logged only (not a Redis broker)")
    except Exception as exc:  # noqa: BLE001 - the broker may be down; status still shows SQL
        parts.append(f"dead-letter: ? ({type(exc).__name__})")
    with session_scope(db_url) as session:
        last = session.scalars(select(ReconcileRun).order_by(ReconcileRun.id.desc())
                               .limit(1)).one_or_none()
        hour = db_now(session) - dt.timedelta(hours=1)
        republished, released = session.execute(
            select(func.coalesce(func.sum(ReconcileRun.republished), 0),
                   func.coalesce(func.sum(ReconcileRun.released), 0))
            .where(ReconcileRun.finished_at >= hour)).one()
    if last is None and not deadletter.available():
        # it compares SQL with Redis's queue lists and unacked hash; another broker (RabbitMQ)
        # keeps its messages durable itself
        parts.append("reconciler: off (it needs a Redis broker)")
    elif last is None:
        parts.append("reconciler: no pass yet")
    else:
        parts.append(f"reconciler: last pass {last.finished_at:%Y-%m-%d %H:%M:%S} by "
                     f"{last.worker} ({last.queued_checked} checked, {last.republished} "
                     f"republished, {last.released} released); last hour: {republished} "
                     f"republished, {released} released")
    return " · ".join(parts)


# ----------------------------------------------------------------------------- in workers

class Reconciler(threading.Thread):
    def __init__(self, interval_s: float) -> None:
        super().__init__(name="rader-reconcile", daemon=True)
        self.interval_s = interval_s
        self.stopping = threading.Event()

    def run(self) -> None:
        # workers started together spread their passes over the interval
        if self.stopping.wait(random.uniform(1, max(1.0, self.interval_s / 4))):
            return
        while True:
            try:
                reconcile_once()
            except Exception as exc:  # noqa: BLE001 - the store or broker may be down
                log.warning("reconcile pass failed: %s: %s", type(exc).__name__, exc)
            if self.stopping.wait(self.interval_s):
                return


_thread: Reconciler | None = None


def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    global _thread
    settings = get_settings()
    if _thread is not None or settings.reconcile_interval_s <= 0:
        return
    if not settings.broker.startswith(("redis://", "rediss://")):
        return      # it reads Redis's queue lists and unacked hash; the embedded in-memory
        #             broker is one process, and RabbitMQ keeps its messages durable itself
    _thread = Reconciler(settings.reconcile_interval_s)
    _thread.start()


def _on_shutting_down(**_: Any) -> None:
    if _thread is not None:
        _thread.stopping.set()


def connect_signals() -> None:
    signals.worker_ready.connect(_on_worker_ready, weak=False, dispatch_uid="rader-reconcile")
    signals.worker_shutting_down.connect(_on_shutting_down, weak=False,
                                         dispatch_uid="rader-reconcile-stop")


connect_signals()
