"""Case 7 (CI scale): enqueue 20,000 problems through the CLI, drain 1,000 real MCTS tasks with
2 worker processes, and check correctness — counts, idempotency, no duplicates, no message lost,
Redis memory bounded — never speed (``bench/bench_queue_load.py`` measures that at 100,000,
with the same :mod:`rader_queue.testing.queue_load`).

The drain is the real task path with only the model stubbed: Celery → job runner → MCTS
(1 rollout, depth 1) → generator client, cache and ledger → a simulated server answering at once
→ tree and job in one transaction (see the benchmark's docstring). It runs in a private
database and key prefix, both removed afterwards."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from rader_queue.store import session_scope
from rader_queue.store.models import Job, JobState, Problem, Run
from rader_queue.testing.queue_load import (MemorySampler, delete_prefix, drain, generate_jsonl,
                                            timed_enqueue)
from tests.reliability.conftest import (figure, natural_key_duplicates, run_consistency,
                                        worker_env)

N, DRAIN, WORKERS, THREADS = 20_000, 1_000, 2, 8


@pytest.mark.slow
def test_enqueue_20k_and_drain_1k(rader_env, own_pg_url, sim_llm, tmp_path):
    db, prefix = own_pg_url, rader_env["RADER_QUEUE_PREFIX"]
    redis_url = rader_env["RADER_BROKER_URL"]
    env = worker_env(rader_env, RADER_DATABASE_URL=db, RADER_LLM_BASE_URL=sim_llm(time_scale=0.0))
    path = generate_jsonl(tmp_path / "problems.jsonl", N)
    try:
        seconds, report = timed_enqueue(env, path, "load")
        assert f"{N} new problems, {N} new jobs, {N} messages published" in report, report
        enqueued = MemorySampler(redis_url, prefix, "mcts").sample()
        assert enqueued["queued"] == N
        with session_scope(db) as s:
            unpublished = s.scalar(select(func.count()).select_from(Job)
                                   .where(Job.celery_task_id.is_(None)))
            assert s.scalar(select(func.count()).select_from(Problem)) == N
        assert unpublished == 0
        again_s, again = timed_enqueue(env, path, "load")        # idempotent: adds nothing
        assert "0 new problems, 0 new jobs, 0 messages published" in again, again
        assert MemorySampler(redis_url, prefix, "mcts").sample()["queued"] == N

        drained = drain(env, "load", db, DRAIN, WORKERS, THREADS, tmp_path, timeout=400)
        mem, states, left = drained["memory"], drained["states"], drained["after_stop"]
        with session_scope(db) as s:
            attempts = s.scalar(select(func.max(Job.attempts)).where(Job.state == JobState.DONE))
        dups = {k: v for k, v in natural_key_duplicates(db).items() if v}
        bad = {k: v for k, v in run_consistency("load", db).items() if v}
        done, queued = states.get(JobState.DONE, 0), states.get(JobState.QUEUED, 0)
        figure("load", f"enqueued {N:,} problems in {seconds:.1f}s via the CLI ({N / seconds:,.0f}/s;"
               f" again: 0 new in {again_s:.1f}s); drained {done:,} real MCTS tasks at "
               f"{drained['rate']:.1f} tasks/s ({WORKERS} workers × {THREADS} threads); run's Redis "
               f"keys {mem['keys_start'] / 1e6:.1f} → peak {mem['keys_peak'] / 1e6:.1f} → "
               f"{mem['keys_end'] / 1e6:.1f} MB, unacked peak {mem['unacked_peak']} "
               f"(≤ {WORKERS * THREADS}); after stop: {done:,} done + {queued:,} queued = "
               f"{done + queued:,}, {left['queued'] + left['unacked']:,} messages left; "
               f"{sum(dups.values())} duplicates")
        assert done >= DRAIN
        assert done + queued == N and set(states) <= {JobState.DONE, JobState.QUEUED}, states
        assert left["queued"] + left["unacked"] == queued   # no message lost or duplicated
        assert attempts == 1
        assert not dups and not bad
        assert mem["unacked_peak"] <= WORKERS * THREADS     # prefetch 1 bounds reservations
        assert mem["keys_peak"] <= mem["keys_start"] + 64 * 1024   # draining never grows them
        assert mem["keys_end"] < mem["keys_start"]
    finally:
        delete_prefix(redis_url, prefix)
        with session_scope(db) as s:
            s.execute(Run.__table__.delete())          # cascades to problems, jobs, trees
