"""Issue 15, leases that mean what they say:

* a worker on **another host** (its own UTS namespace, so its hostname differs) is SIGKILLed
  mid-search: its jobs run again on this host within lease + reconcile interval (the reconciler
  releases expired leases; the visibility timeout is 10 minutes here and plays no part);
* two workers with the **same hostname and pid** (``vm:1``, each PID 1 of its own PID
  namespace) given duplicate messages do not both run a job;
* a process whose clock is 5 minutes behind writes leases from the database's clock: another
  worker still sees them live, and the reconciler does not release them.
"""

from __future__ import annotations

import datetime as dt
import signal
import socket
import time

import pytest
from sqlalchemy import func, select, text

from rader_queue.queue import jobs
from rader_queue.store import session_scope
from rader_queue.store.models import Job, JobState, Run
from tests.process_helpers import kill, start_process, wait_for
from tests.reliability.conftest import cli, figure, wait_states, worker_command, worker_env
from tests.reliability.publish import job_rows, sender
from tests.reliability.test_llm_faults import _enqueue_args

LEASE_S, INTERVAL_S = 6, 3
FAST = dict(RADER_JOB_LEASE_S=LEASE_S, RADER_RECONCILE_INTERVAL_S=INTERVAL_S,
            RADER_RECONCILE_GRACE_S=2, RADER_VISIBILITY_TIMEOUT_S=600,
            RADER_TASK_HARD_TIME_LIMIT_S=300)


def _in_namespace(hostname: str, cmd: list[str], pid_ns: bool = False) -> list[str]:
    flags = ["--uts"] + (["--pid", "--fork", "--mount-proc"] if pid_ns else [])
    return ["unshare", *flags, "sh", "-c", f'hostname {hostname} && exec "$@"', "sh", *cmd]


@pytest.mark.slow
def test_sigkill_on_another_host_is_taken_over_within_lease_and_interval(rader_env, sim_llm,
                                                                         tmp_path):
    env = worker_env(rader_env, RADER_LLM_BASE_URL=sim_llm(time_scale=0.4), **FAST)
    n = 4
    assert cli(*_enqueue_args("otherhost", n, seed=1531), env=env).returncode == 0
    log_a, log_b = tmp_path / "worker-a.log", tmp_path / "worker-b.log"
    a = start_process(_in_namespace("otherhost", worker_command(concurrency=n)), env, log_a)
    try:
        wait_for(lambda: sum(1 for r in job_rows("otherhost") if r["state"] == JobState.RUNNING
                             and (r["worker"] or "").startswith("otherhost:")) >= 2,
                 120, what="jobs running on otherhost", log_path=log_a)
    finally:
        held = [r["id"] for r in job_rows("otherhost") if r["state"] == JobState.RUNNING]
        kill(a, signal.SIGKILL)
    killed_at = time.monotonic()
    here = socket.gethostname()
    b = start_process(worker_command(concurrency=n), env, log_b)
    try:
        def taken_over() -> bool:
            rows = {r["id"]: r for r in job_rows("otherhost")}
            return all(rows[i]["state"] == JobState.DONE or
                       (rows[i]["worker"] or "").startswith(here + ":") for i in held)
        wait_for(taken_over, 120, interval=0.25, what="jobs taken over", log_path=log_b)
        seconds = time.monotonic() - killed_at
        wait_states("otherhost", {JobState.DONE: n}, 180, log_b)
    finally:
        kill(b, signal.SIGTERM)
    figure("takeover-other-host", f"worker on another host SIGKILLed holding {len(held)} jobs: "
                                  f"running again here after {seconds:.1f}s (lease {LEASE_S}s + "
                                  f"interval {INTERVAL_S}s; visibility timeout 600s); {n}/{n} done")
    # worker start-up (a few seconds) + lease + one interval + a pass's own time
    assert seconds < LEASE_S + INTERVAL_S + 20


@pytest.mark.slow
def test_same_hostname_and_pid_in_two_pid_namespaces(rader_env, sim_llm, tmp_path):
    env = worker_env(rader_env, RADER_LLM_BASE_URL=sim_llm(time_scale=0.3), **FAST)
    n = 4
    assert cli(*_enqueue_args("twins", n, seed=1532), env=env).returncode == 0
    with sender() as send:              # a second message for every job
        for row in job_rows("twins"):
            send(row["id"])
    procs = [start_process(_in_namespace("vm", worker_command(concurrency=n), pid_ns=True), env,
                           tmp_path / f"twin{i}.log") for i in range(2)]
    try:
        wait_states("twins", {JobState.DONE: n}, 240, tmp_path / "twin0.log")
        time.sleep(LEASE_S + 3)         # deferred copies come back and find the jobs done
    finally:
        for p in procs:
            kill(p, signal.SIGTERM)
    rows = job_rows("twins")
    holders = {r["worker"].rsplit(".", 1)[0] for r in rows}
    logs = "".join((tmp_path / f"twin{i}.log").read_text() for i in range(2))
    figure("same-host-pid-namespaces", f"two workers both vm:1, every job published twice: "
                                       f"claims per job {[r['attempts'] for r in rows]}, "
                                       f"{logs.count('this copy defers')} copies deferred")
    assert all(r["worker"].startswith("vm:1:") for r in rows), holders
    assert all(r["attempts"] == 1 for r in rows)


def test_a_skewed_clock_does_not_break_leases(rader_env, monkeypatch):
    from rader_queue.datasets import Problem as P
    from rader_queue.queue.enqueue import enqueue
    from rader_queue.queue.reconcile import reconcile_once
    from rader_queue.settings import get_settings

    report = enqueue("skew", "synthetic", None, [P(source_id="s1", text="1+1?", gold_answer="2",
                                                   meta={})], {"rollouts": 1})
    with session_scope() as s:
        job_id = s.scalar(select(Job.id).where(Job.run_id == report.run_id))
    monkeypatch.setenv("RADER_CLOCK_OFFSET_S", "-300")     # this process: 5 minutes behind
    get_settings.cache_clear()
    assert (dt.datetime.now(dt.timezone.utc) - jobs.now()).total_seconds() > 299
    with session_scope() as s:
        jobs.claim(s, job_id, lease_s=60, worker="slow-clock:1:aaaaaaaa.1")
    with session_scope() as s:
        left = s.scalar(text("SELECT EXTRACT(EPOCH FROM lease_until - now()) FROM jobs "
                             "WHERE id = :i"), {"i": job_id})
    with pytest.raises(jobs.LeaseHeld):
        with session_scope() as s:
            jobs.claim(s, job_id, lease_s=60, worker="fast-clock:2:bbbbbbbb.2")
    released = reconcile_once(force=True, run_id=report.run_id).released
    figure("clock-skew", f"lease written by a process 300s behind: {float(left):.0f}s left on "
                         f"the database clock, another worker defers, reconciler released {released}")
    assert 55 < float(left) <= 60 and released == 0
