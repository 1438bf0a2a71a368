"""Job leases: a running copy of a task keeps its job's ``lease_until`` in the future, so that a
second delivery of the same message (Redis puts an unacknowledged message back in its queue once
the visibility timeout has passed, whether or not a worker still runs it) waits instead of
searching the same problem again.

* ``jobs.claim`` takes a lease of ``RADER_JOB_LEASE_S`` (60 s) and registers the job here.
* One heartbeat thread per worker process renews the leases of the jobs this process runs every
  third of the lease, for as long as they run. The ``threads`` pool enforces no time limit, and
  a message is only delivered again while its first copy runs once that copy is past the
  visibility timeout (which is above the hard limit), so the lease must outlive both. A copy that
  hangs holds its job until its worker is restarted; every model call is bounded
  (``RADER_LLM_TIMEOUT_S`` × retries), so a search does not hang on the model.
* A copy that finds a live lease held by another running copy defers (the task is published
  again with a countdown until the lease ends) — unless the holder is a process on this host
  that no longer exists (a SIGKILLed worker), whose job is taken over at once.

The lease narrows duplicate work; it is not what keeps results single: ``jobs.finish`` locks the
job row and refuses a job another copy finished, in the same transaction as the results.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time

from sqlalchemy import update

from rader_queue.settings import get_settings
from rader_queue.store import session_scope
from rader_queue.store.models import Job, JobState

log = logging.getLogger("rader_queue.lease")

_lock = threading.Lock()
_active: set[int] = set()                   # jobs this process is running now
_thread: threading.Thread | None = None


def worker_name() -> str:
    """This process as a lease holder and job worker: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_is_dead(worker: str | None) -> bool:
    """True when ``worker`` (a :func:`worker_name`) is a process of this host that no longer
    exists."""
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def held_here(job_id: int) -> bool:
    """Another thread of this process is running ``job_id`` right now."""
    with _lock:
        return job_id in _active


def register(job_id: int) -> None:
    with _lock:
        _active.add(job_id)
    _ensure_heartbeat()


def release(job_id: int) -> None:
    with _lock:
        _active.discard(job_id)


def renew_once() -> int:
    """Push the leases of this process's running jobs forward; returns how many were renewed."""
    from rader_queue.queue.jobs import now     # jobs imports this module

    with _lock:
        ids = list(_active)
    if not ids:
        return 0
    until = now() + dt.timedelta(seconds=get_settings().job_lease_s)
    with session_scope() as session:
        result = session.execute(update(Job).where(
            Job.id.in_(ids), Job.state == JobState.RUNNING, Job.worker == worker_name(),
        ).values(lease_until=until))
    return result.rowcount


def _heartbeat() -> None:
    last = time.monotonic()
    while True:
        time.sleep(0.5)          # the interval is re-read each time: settings may change
        if time.monotonic() - last < get_settings().job_lease_s / 3:
            continue
        last = time.monotonic()
        try:
            renew_once()
        except Exception as exc:  # noqa: BLE001 - the store may be down; the next beat retries
            log.warning("lease heartbeat failed: %s", type(exc).__name__)


def _ensure_heartbeat() -> None:
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_heartbeat, name="rader-lease", daemon=True)
            _thread.start()
