"""Case 5: a task that runs longer than the Redis visibility timeout.

Redis (kombu) puts a message that is delivered but not acknowledged back in its queue once the
visibility timeout has passed, whether or not a worker is still running it. ``app.configure``
refuses a hard time limit at or above the visibility timeout (first test), but the ``threads``
pool that MCTS workers use enforces no time limit at all (Celery's thread pool ignores soft and
hard limits), so a slow task body outlives the timeout anyway (second test: settings that pass
the guard, a slow LLM). The second test shows which protections hold:

* the message **is** delivered again while the first copy still runs;
* the second copy does not search: the first holds a lease on the job, renewed by its worker's
  heartbeat (``rader_queue.queue.lease``), so the second is published again with a countdown
  (Celery "retry") until the job is done, and then skipped at claim;
* exactly one copy writes results, no duplicate rows, no half-written tree, one ledger's worth
  of ``llm_calls``.
"""

from __future__ import annotations

import re
import socket
import time

import pytest
from celery import Celery
from sqlalchemy import func, select

from rader_queue.errors import ConfigError
from rader_queue.pipeline import build_run_config, enqueue_dataset
from rader_queue.settings import Settings
from rader_queue.store import session_scope
from rader_queue.store.models import JobState, LLMCall, Problem, Run, TreeNode
from tests.process_helpers import kill, start_process, wait_for
from tests.reliability.conftest import (SMALL_MCTS, figure, job_states, natural_key_duplicates,
                                        run_consistency, worker_command, worker_env)
from tests.reliability.publish import job_rows, sender

VISIBILITY_S, HARD_LIMIT_S, LEASE_S = 6, 5, 3


def test_hard_time_limit_must_stay_below_visibility_timeout():
    from rader_queue.queue.app import configure

    for hard, visibility in [(10, 10), (11, 10)]:
        with pytest.raises(ConfigError, match="VISIBILITY_TIMEOUT"):
            configure(Celery("guard"), Settings(task_hard_time_limit_s=hard,
                                                visibility_timeout_s=visibility))
    configure(Celery("guard"), Settings(task_hard_time_limit_s=HARD_LIMIT_S,
                                        visibility_timeout_s=VISIBILITY_S))



def _counts(db_url: str, run_name: str) -> tuple[int, int]:
    with session_scope(db_url) as s:
        problem = s.scalar(select(Problem.id).join(Run, Run.id == Problem.run_id)
                           .where(Run.name == run_name))
        nodes = s.scalar(select(func.count()).select_from(TreeNode)
                         .where(TreeNode.problem_id == problem))
        calls = s.scalar(select(func.count()).select_from(LLMCall)
                         .where(LLMCall.problem_id == problem))
    return nodes, calls


@pytest.mark.slow
def test_task_outliving_the_visibility_timeout(rader_env, sim_llm, own_pg_url, tmp_path, monkeypatch):
    """Worker A runs one slow search; once it is past the visibility timeout, worker B starts.
    B's start sweeps the unacknowledged messages (kombu does that when a consumer starts, then
    every ~100 s): A's message is past the timeout, so it goes back to the queue and B runs it
    while A still does."""
    monkeypatch.setenv("RADER_DATABASE_URL", own_pg_url)
    llm = sim_llm(time_scale=3.0, max_batch=64)          # one search takes ~20 s
    env = worker_env(rader_env, RADER_LLM_BASE_URL=llm, RADER_DATABASE_URL=own_pg_url,
                     RADER_VISIBILITY_TIMEOUT_S=VISIBILITY_S,
                     RADER_TASK_HARD_TIME_LIMIT_S=HARD_LIMIT_S, RADER_LLM_TIMEOUT_S=60,
                     RADER_JOB_LEASE_S=LEASE_S)
    monkeypatch.setenv("RADER_VISIBILITY_TIMEOUT_S", str(VISIBILITY_S))
    monkeypatch.setenv("RADER_TASK_HARD_TIME_LIMIT_S", str(HARD_LIMIT_S))
    with sender() as send:
        enqueue_dataset("MATH", split="test", limit=1, run_name="slow", echo=lambda m: None,
                        config=build_run_config(**SMALL_MCTS), send=send)
    (job,) = job_rows("slow", own_pg_url)
    task = f"rader.mcts.solve[mcts-{job['id']}]"
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    text = lambda: "".join(p.read_text(errors="replace") for p in logs if p.exists())
    received = lambda: text().count(f"Task {task} received")
    ended = lambda: text().count(f"Task {task} succeeded") + text().count(f"Task {task} retry:")
    procs = [start_process(worker_command(concurrency=1, name="a@%h"), env, logs[0])]
    try:
        wait_for(lambda: "search starts" in logs[0].read_text(errors="replace"), 120,
                 what="worker A's search to start", log_path=logs[0])
        t0 = time.monotonic()
        time.sleep(VISIBILITY_S + 2)
        assert job_states("slow", own_pg_url) == {JobState.RUNNING: 1}, "the search ended too soon"
        procs.append(start_process(worker_command(concurrency=2, name="b@%h"), env, logs[1]))
        wait_for(lambda: received() >= 2 or job_states("slow", own_pg_url).get(JobState.DONE), 120,
                 what="a redelivery or the job done", log_path=logs[1])
        redelivered_s = time.monotonic() - t0
        wait_for(lambda: job_states("slow", own_pg_url).get(JobState.DONE) == 1, 240,
                 what="the job done", log_path=logs[0])
        # Deferred copies come back after the job is done and are skipped at claim.
        wait_for(lambda: ended() == received(), 120, what="every copy to end", log_path=logs[1])
        assert all(p.poll() is None for p in procs)
    finally:
        for p in procs:
            kill(p)

    out = text()
    results = re.findall(rf"Task {re.escape(task)} succeeded in [\d.]+s: (\{{.*\}})", out)
    wrote = [r for r in results if "skipped" not in r]
    refused = [r for r in results if "finished by another delivery" in r]
    skipped = [r for r in results if "'skipped': 'already done'" in r]
    searches = out.count("search starts")
    (row,) = job_rows("slow", own_pg_url)
    dups = {k: v for k, v in natural_key_duplicates(own_pg_url).items() if v}
    bad = {k: v for k, v in run_consistency("slow", own_pg_url).items() if v}
    nodes, calls = _counts(own_pg_url, "slow")
    first_calls = int(re.search(r"'calls': (\d+)", wrote[0]).group(1)) if wrote else -1
    wrote_here = rf"Task {re.escape(task)} succeeded in [\d.]+s: \{{'job_id': \d+, 'run_id': \d+"
    writers = [f"{socket.gethostname()}:{proc.pid}" for proc, path in zip(procs, logs)
               if re.search(wrote_here, path.read_text(errors="replace"))]
    deferrals = out.count(f"Task {task} retry:")
    figure("visibility", f"visibility timeout {VISIBILITY_S}s, hard limit {HARD_LIMIT_S}s (not "
           f"enforced by the threads pool), lease {LEASE_S}s; message redelivered "
           f"{redelivered_s:.0f}s into a ~20s search: deliveries {received()}, searches "
           f"{searches}, deferred by the lease {deferrals}, claims {row['attempts']}, copies that "
           f"wrote results {len(wrote)}, refused at finish {len(refused)}, skipped at claim "
           f"{len(skipped)}; {sum(dups.values())} duplicate rows, {nodes} tree nodes, {calls} "
           f"llm_calls rows (= the writing copy's {first_calls} calls); job row names the "
           f"writer: {[row['worker'].rsplit(':', 1)[0]] == writers}")
    assert received() >= 2, "the message was not delivered again while the task ran"
    assert searches == 1, "a second copy searched although the first held the lease"
    assert deferrals >= 1 and len(skipped) >= 1
    assert row["attempts"] == 1
    assert len(wrote) == 1 and not refused
    assert not dups
    assert not bad
    assert calls == first_calls          # only the writing copy's ledger landed
    assert [row["worker"].rsplit(":", 1)[0]] == writers      # host:pid:machine.random
