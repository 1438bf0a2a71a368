"""Issue 15, SQL decides what must run: the broker loses messages and the reconciler (inside
the workers, default code path, short interval for the test) publishes them again.

* ``FLUSHDB`` right after enqueue: every job finishes, none lost.
* Redis restarted without persistence (its files deleted) while messages are unacknowledged:
  every job finishes; duplicate deliveries counted.
* A deep healthy backlog (20,000 queued jobs, messages all in Redis): a reconciler pass
  publishes nothing, twice (no duplicate per cycle).
* A Redis that evicts keys (``allkeys-lru``) is refused by the worker and by enqueue.
"""

from __future__ import annotations

import shutil
import signal
import time

import pytest
from sqlalchemy import func, select

from rader_queue.store import session_scope
from rader_queue.store.models import Job, Problem, ReconcileRun, Run
from rader_queue.store.models import JobState
from tests.process_helpers import kill, start_process
from tests.reliability.conftest import (cli, figure, natural_key_duplicates, wait_states,
                                        worker_command, worker_env)
from tests.reliability.test_llm_faults import _enqueue_args

FAST_RECONCILE = dict(RADER_RECONCILE_INTERVAL_S=3, RADER_RECONCILE_GRACE_S=2,
                      RADER_JOB_LEASE_S=6, RADER_VISIBILITY_TIMEOUT_S=600,
                      RADER_TASK_HARD_TIME_LIMIT_S=300)


def _republished() -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.coalesce(func.sum(ReconcileRun.republished), 0))))


def _searches_per_problem(run: str) -> dict[str, int]:
    """Jobs claimed more than once = duplicate deliveries that did work."""
    with session_scope() as s:
        return dict(s.execute(select(Problem.source_id, Job.attempts).join(Job, Job.problem_id == Problem.id)
                              .join(Run, Run.id == Problem.run_id).where(Run.name == run)).all())


def _env(rader_env, broker, url):
    return worker_env(rader_env, RADER_LLM_BASE_URL=url, RADER_BROKER_URL=broker.url,
                      **FAST_RECONCILE)


@pytest.mark.slow
def test_flushdb_after_enqueue_loses_nothing(rader_env, sim_llm, private_redis, tmp_path):
    broker = private_redis()
    env = _env(rader_env, broker, sim_llm(time_scale=0.05))
    n = 8
    out = cli(*_enqueue_args("flush", n, seed=1511), env=env)
    assert out.returncode == 0, out.stderr
    broker.client().flushdb()
    log = tmp_path / "worker.log"
    started = time.monotonic()
    proc = start_process(worker_command(concurrency=4), env, log)
    try:
        wait_states("flush", {JobState.DONE: n}, 120, log)
    finally:
        kill(proc, signal.SIGTERM)
    seconds = time.monotonic() - started
    attempts = _searches_per_problem("flush")
    figure("lost-flushdb", f"{n} jobs enqueued then FLUSHDB: {n}/{n} done in {seconds:.0f}s, "
                           f"{_republished()} republished by the reconciler, 0 lost, "
                           f"{sum(a - 1 for a in attempts.values())} duplicate claims")
    assert _republished() >= n
    assert not any(natural_key_duplicates().values())


@pytest.mark.slow
def test_redis_restart_without_persistence_while_unacked(rader_env, sim_llm, private_redis,
                                                         tmp_path):
    broker = private_redis()
    env = _env(rader_env, broker, sim_llm(time_scale=0.3))
    n = 12
    out = cli(*_enqueue_args("amnesia", n, seed=1512), env=env)
    assert out.returncode == 0, out.stderr
    log = tmp_path / "worker.log"
    proc = start_process(worker_command(concurrency=4), env, log)
    try:
        client = broker.client()
        deadline = time.monotonic() + 120
        while client.hlen(env["RADER_QUEUE_PREFIX"] + "unacked") == 0:
            assert time.monotonic() < deadline, "no message was ever unacknowledged"
            time.sleep(0.2)
        unacked = client.hlen(env["RADER_QUEUE_PREFIX"] + "unacked")
        broker.proc.send_signal(signal.SIGKILL)      # no chance to save anything
        broker.proc.wait(10)
        for path in broker.dir.iterdir():
            if path.name != "redis.log":
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        broker.start()
        assert broker.client().dbsize() == 0
        wait_states("amnesia", {JobState.DONE: n}, 240, log)
    finally:
        kill(proc, signal.SIGTERM)
    attempts = _searches_per_problem("amnesia")
    dup = sum(a - 1 for a in attempts.values())
    figure("lost-redis-amnesia", f"{n} jobs, Redis killed with {unacked} unacked and restarted "
                                 f"empty: {n}/{n} done, 0 lost, {_republished()} republished, "
                                 f"{dup} duplicate claims")
    assert not any(natural_key_duplicates().values())


@pytest.mark.slow
def test_a_deep_healthy_queue_is_not_republished(rader_env, tmp_path, request):
    from rader_queue.datasets import Problem as P
    from rader_queue.queue.enqueue import enqueue
    from rader_queue.queue.reconcile import reconcile_once
    from rader_queue.queue.run_ops import delete_run

    n = 20_000
    problems = [P(source_id=f"p{i}", text=f"What is {i} + 1?", gold_answer=str(i + 1), meta={})
                for i in range(n)]
    report = enqueue("deep", "synthetic", None, problems, {"rollouts": 1})
    # 20,000 queued jobs left in the session's database would be published again, into its own
    # broker, by the reconciler of any later test's worker once their grace period ran out
    request.addfinalizer(lambda: delete_run("deep"))
    assert report.published == n
    import redis

    client = redis.Redis.from_url(rader_env["RADER_BROKER_URL"])
    queue = rader_env["RADER_QUEUE_PREFIX"] + "mcts"
    assert client.llen(queue) == n
    passes = [reconcile_once(force=True, grace_s=0) for _ in range(2)]
    figure("reconcile-deep-queue", f"{n} queued jobs with their messages: 2 passes republished "
                                   f"{passes[0].republished} + {passes[1].republished}, "
                                   f"{passes[0].seconds:.2f}s / {passes[1].seconds:.2f}s per pass")
    assert [p.republished for p in passes] == [0, 0]
    assert [p.checked for p in passes] == [n, n]
    # one message lost from the middle of the backlog: exactly that one is published again
    victim = client.lindex(queue, n // 2)
    client.lrem(queue, 1, victim)
    again = reconcile_once(force=True, grace_s=0)
    assert again.republished == 1 and client.llen(queue) == n
    client.delete(queue)


@pytest.mark.slow
def test_an_evicting_redis_is_refused(rader_env, private_redis, tmp_path):
    broker = private_redis()
    client = broker.client()
    client.config_set("maxmemory", "10mb")
    client.config_set("maxmemory-policy", "allkeys-lru")
    env = worker_env(rader_env, RADER_BROKER_URL=broker.url)
    out_worker = cli(*worker_command()[3:], env=env, timeout=60)
    out_enqueue = cli(*_enqueue_args("evict", 2, seed=1513), env=env, timeout=60)
    figure("evicting-redis", f"allkeys-lru broker: worker exit {out_worker.returncode}, enqueue "
                             f"exit {out_enqueue.returncode}: {out_worker.stderr.strip()[:120]}")
    for out in (out_worker, out_enqueue):
        assert out.returncode == 3, out.stderr
        assert "maxmemory-policy allkeys-lru" in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Run).where(Run.name == "evict")) == 0
