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
import hashlib
import logging
import os
import secrets
import socket
import threading
import time

from sqlalchemy import update

from rader_queue.queue.clock import db_now
from rader_queue.settings import get_settings
from rader_queue.store import session_scope
from rader_queue.store.models import Job, JobState

log = logging.getLogger("rader_queue.lease")

_lock = threading.Lock()
_active: set[int] = set()                   # jobs this process is running now
_thread: threading.Thread | None = None


def _machine() -> str:
    """This kernel and PID namespace: two containers may share a hostname and even a pid (both
    ``vm:1``) but never a boot id and PID-namespace inode; two VMs named alike differ in boot id."""
    parts = []
    for path, read in (("/proc/sys/kernel/random/boot_id", lambda p: open(p).read().strip()),
                       ("/proc/self/ns/pid", os.readlink)):
        try:
            parts.append(read(path))
        except OSError:
            parts.append("?")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:8]


_identity: tuple[int, str] | None = None     # (pid, "machine.random") of this process
_identity_lock = threading.Lock()


def worker_name() -> str:
    """This process as a lease holder and job worker: ``host:pid:machine.random``. Unique per
    process (a forked child gets its own), whatever the hosts' names and pids."""
    global _identity
    with _identity_lock:   # two threads claiming at once must not mint two identities
        if _identity is None or _identity[0] != os.getpid():
            _identity = (os.getpid(), f"{_machine()}.{secrets.token_hex(4)}")
        token = _identity[1]
    return f"{socket.gethostname()}:{os.getpid()}:{token}"


def holder_is_dead(worker: str | None) -> bool:
    """True when ``worker`` (a :func:`worker_name`) is a process of this machine and PID
    namespace that no longer exists. (A two-part ``host:pid`` of older versions is judged by
    host and pid alone.)"""
    parts = (worker or "").rsplit(":", 2)
    if len(parts) == 3 and "." in parts[2]:
        host, pid, token = parts
        if token.split(".", 1)[0] != _machine():
            return False
    else:
        host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def held_here(job_id: int) -> bool:
    """Another thread of this process is running ``job_id`` right now."""
    with _lock:
        return job_id in _active


def register(job_id: int) -> None:
    with _lock:
        _active.add(job_id)
    _current.job_id = job_id
    _ensure_heartbeat()


def release(job_id: int) -> None:
    with _lock:
        _active.discard(job_id)
        _futures.pop(job_id, None)
    _current.job_id = None


def renew_once() -> int:
    """Push the leases of this process's running jobs forward (from the database's clock);
    returns how many were renewed. A job that is no longer this process's (cancelled, deleted,
    or released by the reconciler and taken over) has its search cancelled."""
    with _lock:
        ids = list(_active)
    if not ids:
        return 0
    with session_scope() as session:
        until = db_now(session) + dt.timedelta(seconds=get_settings().job_lease_s)
        renewed = set(session.scalars(update(Job).where(
            Job.id.in_(ids), Job.state == JobState.RUNNING, Job.worker == worker_name(),
        ).values(lease_until=until).returning(Job.id)).all())
    for job_id in set(ids) - renewed:
        cancel_local(job_id)
    return len(renewed)


_futures: dict[int, set] = {}               # job id -> futures of its coroutines (runtime.run)
_current = threading.local()                # the job the calling thread runs


def current_job() -> int | None:
    return getattr(_current, "job_id", None)


def track(job_id: int, future) -> None:
    with _lock:
        _futures.setdefault(job_id, set()).add(future)


def untrack(job_id: int, future) -> None:
    with _lock:
        _futures.get(job_id, set()).discard(future)


def cancel_local(job_id: int) -> None:
    """Cancel the coroutines this process runs for ``job_id`` (it is no longer ours)."""
    with _lock:
        futures = list(_futures.get(job_id, ()))
    if futures:
        log.warning("job %s is no longer held by this worker (cancelled, deleted or taken "
                    "over); cancelling its search", job_id)
    for future in futures:
        future.cancel()


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
