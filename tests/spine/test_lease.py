"""Job leases on the real PostgreSQL store: a live copy's lease makes a second copy defer; a dead
or expired holder's job is taken over; the heartbeat renews only this process's running jobs and
stops at the hard time limit."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from rader_queue.pipeline import build_run_config, enqueue_loaded, load_checked
from rader_queue.queue import jobs, lease
from rader_queue.store import session_scope
from rader_queue.store.models import Job, JobState


@pytest.fixture(scope="module")
def one_problem():
    """One CHAMP problem, read once per module (reading CHAMP takes ~1.5 s)."""
    return load_checked("CHAMP", split="test", limit=1, echo=lambda m: None)


@pytest.fixture
def job_id(rader_env, one_problem):
    report = enqueue_loaded(one_problem, run_name=f"lease-{id(rader_env)}",
                            config=build_run_config(rollouts=1), send=lambda job: f"t{job}")
    with session_scope() as s:
        return s.scalar(select(Job.id).where(Job.run_id == report.run_id))


def _claim(job_id: int, worker: str, lease_s: float = 60) -> int | None:
    """The job's attempts after the claim; None when it is done."""
    with session_scope() as s:
        job = jobs.claim(s, job_id, lease_s=lease_s, worker=worker)
        return None if job is None else job.attempts


def _row(job_id: int) -> Job:
    with session_scope() as s:
        job = s.get(Job, job_id)
        s.expunge(job)
        return job


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_live_lease_held_elsewhere_defers_the_second_copy(job_id):
    assert _claim(job_id, "node-a:1234") == 1
    with pytest.raises(jobs.LeaseHeld) as info:
        _claim(job_id, "node-b:99")
    assert 55 < info.value.remaining_s <= 60
    row = _row(job_id)
    assert (row.attempts, row.worker, row.state) == (1, "node-a:1234", JobState.RUNNING)


def test_an_expired_lease_is_taken_over(job_id):
    assert _claim(job_id, "node-a:1234", lease_s=0.01) == 1
    time.sleep(0.05)
    assert _claim(job_id, "node-b:99") == 2
    assert _row(job_id).worker == "node-b:99"


def test_a_dead_process_of_this_host_is_taken_over_at_once(job_id):
    dead = f"{socket.gethostname()}:{_dead_pid()}"
    assert lease.holder_is_dead(dead) and not lease.holder_is_dead("other-host:1")
    assert _claim(job_id, dead) == 1
    assert _claim(job_id, "node-b:99") == 2


def test_a_copy_running_in_this_process_defers_a_second_one(job_id):
    me = jobs.worker_name()
    assert _claim(job_id, me) == 1
    lease.register(job_id)
    try:
        with pytest.raises(jobs.LeaseHeld):
            _claim(job_id, me)
    finally:
        lease.release(job_id)
    # The same process with no copy running (a claim left behind by a failed finish): taken over.
    assert _claim(job_id, me) == 2


def test_heartbeat_renews_only_this_process_running_jobs(job_id):
    me = jobs.worker_name()
    _claim(job_id, me, lease_s=1)
    before = _row(job_id).lease_until
    assert lease.renew_once() == 0                              # not registered: not running here
    lease.register(job_id)
    try:
        assert lease.renew_once() == 1
        assert _row(job_id).lease_until - before > dt.timedelta(seconds=50)   # → RADER_JOB_LEASE_S
        # Another worker's claim is never renewed by this process.
        with session_scope() as s:
            s.get(Job, job_id).worker = "node-b:99"
        assert lease.renew_once() == 0
    finally:
        lease.release(job_id)


def test_heartbeat_thread_keeps_a_short_lease_alive(job_id, monkeypatch):
    from rader_queue.settings import get_settings

    monkeypatch.setenv("RADER_JOB_LEASE_S", "1.5")
    get_settings.cache_clear()
    me = jobs.worker_name()
    _claim(job_id, me, lease_s=1.5)
    lease.register(job_id)
    try:
        time.sleep(4)                       # > 2 leases: only the heartbeat keeps it live
        with pytest.raises(jobs.LeaseHeld):
            _claim(job_id, "node-b:99")
    finally:
        lease.release(job_id)
    time.sleep(2)
    assert _claim(job_id, "node-b:99") == 2   # released: the lease ran out, taken over


def test_threads_claiming_at_once_share_one_worker_identity(monkeypatch):
    """The first claims of a fresh process come from several pool threads at once; they must
    all hold their jobs under one name, or the lease heartbeat (which renews the jobs held under
    this process's name) lets the other jobs' leases lapse and cancels their searches."""
    import threading

    from rader_queue.queue import lease

    for _ in range(20):
        monkeypatch.setattr(lease, "_identity", None)
        barrier = threading.Barrier(8)
        names: list[str] = []

        def claim() -> None:
            barrier.wait()
            names.append(lease.worker_name())

        threads = [threading.Thread(target=claim) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(names)) == 1, names
