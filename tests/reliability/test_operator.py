"""Issue 15, operator commands and publishing that claims jobs:

* two ``enqueue`` processes of the same 2,000-problem run at once publish each job once;
* ``cancel`` on a run with queued and running jobs: all become ``cancelled``, running searches
  stop, workers drop the remaining messages without work; ``retry --cancelled`` runs them;
  ``delete`` removes the run's rows and its waiting messages.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
import redis
from sqlalchemy import func, select

from rader_queue.store import session_scope
from rader_queue.store.models import Job, JobState, Run
from tests.process_helpers import ROOT, wait_for
from tests.reliability.conftest import cli, figure, job_states, wait_states, worker, worker_env
from tests.reliability.test_llm_faults import _enqueue_args


@pytest.mark.slow
def test_two_concurrent_enqueues_publish_each_job_once(rader_env):
    import os

    args = [sys.executable, "-m", "rader_queue.cli.main",
            *_enqueue_args("concurrent", 2000, seed=1541)]
    procs = [subprocess.Popen(args, cwd=ROOT, env={**os.environ, **rader_env},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    published = [int(re.search(r"(\d+) messages published", o).group(1)) for o, _ in outs]
    client = redis.Redis.from_url(rader_env["RADER_BROKER_URL"])
    queue = rader_env["RADER_QUEUE_PREFIX"] + "mcts"
    depth = client.llen(queue)
    with session_scope() as s:
        jobs = s.scalar(select(func.count()).select_from(Job).join(Run, Run.id == Job.run_id)
                        .where(Run.name == "concurrent"))
    figure("concurrent-enqueue", f"two enqueues of 2,000 problems at once: published "
                                 f"{published[0]} + {published[1]}, {depth} messages in the queue "
                                 f"for {jobs} jobs")
    assert jobs == 2000 and sum(published) == 2000 and depth == 2000
    out = cli("delete", "concurrent", "--yes", env=rader_env)
    assert out.returncode == 0 and "2000 waiting message(s)" in out.stdout, out.stdout
    assert client.llen(queue) == 0


@pytest.mark.slow
def test_cancel_retry_and_delete_a_run(rader_env, sim_llm, tmp_path):
    # searches long enough (time scale 4, ~20 s) that the two running jobs still run when the
    # cancel command, started a few seconds later on a loaded machine, reaches them
    env = worker_env(rader_env, RADER_LLM_BASE_URL=sim_llm(time_scale=4.0), RADER_JOB_LEASE_S=3)
    n = 6
    assert cli(*_enqueue_args("cancelme", n, seed=1542), env=env).returncode == 0
    log = tmp_path / "worker.log"
    with worker(env, log, concurrency=2):
        wait_for(lambda: job_states("cancelme").get(JobState.RUNNING, 0) == 2, 120,
                 what="two running jobs", log_path=log)
        before = job_states("cancelme")
        out = cli("cancel", "cancelme", env=env)
        assert out.returncode == 0 and f"cancelled {n} job(s)" in out.stdout, \
            (out.stdout, before, job_states("cancelme"))
        client = redis.Redis.from_url(env["RADER_BROKER_URL"])
        queue = env["RADER_QUEUE_PREFIX"] + "mcts"
        # the workers drain the remaining messages without work
        wait_for(lambda: client.llen(queue) == 0, 60, what="messages drained", log_path=log)
        time.sleep(4)
        after = job_states("cancelme")
        assert after == {JobState.CANCELLED: n}, after
        out = cli("retry", "cancelme", "--cancelled", env=env)
        assert out.returncode == 0 and f"re-enqueued {n} cancelled job(s)" in out.stdout, out.stdout
        wait_states("cancelme", {JobState.DONE: n}, 300, log)
    out = cli("delete", "cancelme", "--yes", env=env)
    assert out.returncode == 0, out.stderr
    with session_scope() as s:
        left = s.scalar(select(func.count()).select_from(Run).where(Run.name == "cancelme"))
    figure("cancel-delete", f"cancel with {before} -> {after}; retry --cancelled -> {n} done; "
                            f"delete -> run rows left {left}")
    assert left == 0
