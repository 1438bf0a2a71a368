"""Issue 15, capacity that cannot drop work: PostgreSQL stalls (an exclusive lock on ``jobs``
held for longer than the connection-pool timeout) while more tasks are in flight than the
worker's pool has connections. Waits for a connection time out (``sqlalchemy.exc.TimeoutError``)
and are retried as an outage, never acknowledged as done: every job finishes, 0 lost."""

from __future__ import annotations

import re
import signal
import threading
import time

import pytest
from sqlalchemy import create_engine, text

from rader_queue.store.db import normalize_url
from rader_queue.store.models import JobState
from tests.process_helpers import kill, start_process, wait_for
from tests.reliability.conftest import cli, figure, wait_states, worker_command, worker_env
from tests.reliability.publish import job_rows, sender
from tests.reliability.test_llm_faults import _enqueue_args

STALL_S, POOL_TIMEOUT_S, POOL, CONCURRENCY, N = 12.0, 2.0, 2, 12, 16


@pytest.mark.slow
def test_pg_stall_longer_than_the_pool_timeout_loses_nothing(rader_env, own_pg_url, sim_llm,
                                                             tmp_path):
    env = worker_env(rader_env, RADER_DATABASE_URL=own_pg_url,
                     RADER_LLM_BASE_URL=sim_llm(time_scale=0.05), RADER_DB_POOL_SIZE=POOL,
                     RADER_DB_POOL_TIMEOUT_S=POOL_TIMEOUT_S, RADER_TASK_BACKOFF_BASE_S=1,
                     RADER_TASK_BACKOFF_CAP_S=5, RADER_RECONCILE_INTERVAL_S=5,  # its passes wait on the lock too
                     RADER_RECONCILE_GRACE_S=3, RADER_JOB_LEASE_S=30)
    # rows now, messages once the worker is up (its start-up schema check would wait out the
    # lock otherwise): enqueue publishes under a prefix no worker reads
    void = {**env, "RADER_QUEUE_PREFIX": env["RADER_QUEUE_PREFIX"] + "void:"}
    assert cli(*_enqueue_args("stall", N, seed=1551), env=void).returncode == 0
    log = tmp_path / "worker.log"
    proc = start_process(worker_command(concurrency=CONCURRENCY), env, log)
    wait_for(lambda: "ready." in log.read_text(), 60, what="worker ready", log_path=log)
    engine = create_engine(normalize_url(own_pg_url))
    locked = threading.Event()

    def stall() -> None:
        with engine.begin() as conn:
            conn.execute(text("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE"))
            locked.set()
            time.sleep(STALL_S)

    holder = threading.Thread(target=stall)
    ids = [row["id"] for row in job_rows("stall", db_url=own_pg_url)]
    holder.start()
    locked.wait(10)
    with sender() as send:
        for job_id in ids:
            send(job_id)
    try:
        holder.join()
        wait_states("stall", {JobState.DONE: N}, 240, log, db_url=own_pg_url)
    finally:
        kill(proc, signal.SIGTERM)
        engine.dispose()
    text_ = log.read_text()
    timeouts = len(re.findall(r"store unavailable \(TimeoutError\)", text_))
    figure("pg-stall", f"jobs table locked {STALL_S:.0f}s (pool {POOL}+overflow, timeout "
                       f"{POOL_TIMEOUT_S:.0f}s, {CONCURRENCY} tasks in flight): {N}/{N} done, "
                       f"0 lost, {timeouts} pool timeouts retried")
