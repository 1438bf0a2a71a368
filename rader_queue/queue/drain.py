"""Graceful drain on SIGTERM: an allocation that ends (Slurm time limit, preemption, ``scancel``,
``docker stop``, a Kubernetes pod deletion) costs no more than the problems' elapsed time.

On the first SIGTERM a worker started by ``rader-queue worker``

1. stops taking messages (Celery's warm shutdown: the consumer is cancelled, no new message is
   received);
2. lets the problems in flight finish for up to ``RADER_DRAIN_GRACE_S`` seconds (default 30;
   keep it below the time the process has left: Slurm's ``KillWait`` after ``scancel``, the
   ``--signal`` lead before a time limit);
3. hands back what is still running when the grace ends: in SQL, every job this process holds
   goes back to ``queued`` with its lease released (and the interrupted claim not counted as an
   attempt), and its broker message is returned to the queue (rejected with requeue), so another
   worker takes it at once instead of after the visibility timeout;
4. exits 0.

Later SIGTERMs are ignored (a Slurm job's processes get SIGTERM from ``scancel`` and again from
the job script forwarding it). A SIGKILL still loses nothing: the messages are unacknowledged
(``acks_late``) and the leases expire (:mod:`rader_queue.queue.lease`); the drain only makes the
hand-back immediate.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import Any

from celery import platforms, signals
from celery.worker import state
from sqlalchemy import update

from rader_queue.queue import lease
from rader_queue.queue.lease import worker_name
from rader_queue.settings import get_settings
from rader_queue.store import session_scope
from rader_queue.store.models import Job, JobState

log = logging.getLogger("rader_queue.drain")

EXIT_DRAINED = 0

_started = threading.Event()


def hand_back(job_ids: list[int], reason: str = "handed back: worker shut down") -> int:
    """Return this process's running ``job_ids`` to ``queued`` with no lease (only rows this
    process still holds; a job another copy finished or took over is left alone). The claim
    that this interrupted is not counted as an attempt. Returns how many rows changed."""
    if not job_ids:
        return 0
    with session_scope() as session:
        result = session.execute(update(Job).where(
            Job.id.in_(job_ids), Job.state == JobState.RUNNING, Job.worker == worker_name(),
        ).values(state=JobState.QUEUED, lease_until=None, last_error=reason,
                 attempts=Job.attempts - 1))
    return result.rowcount


def _return_messages(app: Any) -> tuple[int, int]:
    """Requeue the messages of the requests still running, and of those received and waiting
    (a retry's countdown), by rejecting them with requeue; a message that cannot be rejected is
    published again instead. Returns (requeued, republished)."""
    requeued = republished = 0
    for request in {*state.active_requests, *state.reserved_requests}:
        if request.acknowledged:
            continue
        try:
            request.reject(requeue=True)
            requeued += 1
        except Exception as exc:  # noqa: BLE001 - the broker may be gone: publish a fresh copy
            log.warning("drain: could not requeue %s (%s); publishing it again",
                        request.id, type(exc).__name__)
            try:
                from rader_queue.queue.publish import send_job
                from rader_queue.queue.stages import for_task

                send_job(app, for_task(request.name).name, request.args[0])
                republished += 1
            except Exception as exc2:  # noqa: BLE001 - visibility timeout brings it back
                log.error("drain: %s not returned (%s); the broker redelivers it after the "
                          "visibility timeout", request.id, type(exc2).__name__)
    return requeued, republished


def _exit(code: int) -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _drain(app: Any, grace_s: float, started: float) -> None:
    deadline = started + grace_s
    while time.monotonic() < deadline:
        if not state.active_requests:
            log.warning("drain: every problem in flight finished after %.1fs",
                        time.monotonic() - started)
            return                       # Celery's warm shutdown ends the process with 0
        time.sleep(0.2)
    with lease._lock:                    # noqa: SLF001 - the jobs this process runs now
        job_ids = sorted(lease._active)  # noqa: SLF001
    try:
        released = hand_back(job_ids)
    except Exception as exc:  # noqa: BLE001 - the store may be down: leases expire on their own
        log.error("drain: could not release leases (%s)", type(exc).__name__)
        released = 0
    requeued, republished = _return_messages(app)
    log.warning("drain: grace of %.0fs over; handed back %d job(s) (%d lease(s) released, "
                "%d message(s) requeued, %d republished); exiting %d", grace_s, len(job_ids),
                released, requeued, republished, EXIT_DRAINED)
    _exit(EXIT_DRAINED)


def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    """Replace Celery's SIGTERM handler (installed at start-up) with one that also starts the
    drain timer; Celery's handler still begins the warm shutdown."""
    previous = signal.getsignal(signal.SIGTERM)
    grace_s = float(get_settings().drain_grace_s)
    app = sender.app if sender is not None else None

    def on_term(signum: int, frame: Any) -> None:
        if _started.is_set():
            return                            # scancel + the job script both send it
        _started.set()

        log.warning("drain: SIGTERM; no new messages, %d problem(s) in flight get %.0fs to "
                    "finish", len(state.active_requests), grace_s)
        threading.Thread(target=_drain, args=(app, grace_s, time.monotonic()),
                         name="rader-drain", daemon=True).start()
        if callable(previous):
            previous(signum, frame)
        # Later SIGTERMs are ignored by the kernel itself: Python restores the default action
        # of its handled signals while the interpreter shuts down, and a second SIGTERM then
        # (scancel reaches every process, the job script forwards one more) would end a
        # drained worker with 143 instead of 0.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    platforms.signals["SIGTERM"] = on_term


def _before_start(signum: int, frame: Any) -> None:
    # SIGTERM while the worker still starts (imports, broker connection): nothing has been
    # taken yet, so there is nothing to hand back. (Celery replaces this handler with its own
    # warm shutdown while it sets up, and _on_worker_ready that one with the drain.)
    log.warning("drain: SIGTERM before the worker started; exiting %d", EXIT_DRAINED)
    _exit(EXIT_DRAINED)


def install() -> None:
    """Connect the drain to this worker process (``rader-queue worker`` calls it first thing)."""
    signal.signal(signal.SIGTERM, _before_start)
    signals.worker_ready.connect(_on_worker_ready, weak=False, dispatch_uid="rader-drain")
