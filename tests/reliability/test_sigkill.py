"""Case 1: MCTS workers SIGKILLed at random points; every problem still finishes exactly once
and every tree equals the tree of an uninterrupted run with the same seeds.

The reference run uses its own database: the response cache (``llm_cache``) is keyed by the
prompt, not by the run, so a reference run in the same database would replay the responses of
the interrupted run (or the other way round) and the comparison would prove nothing about
determinism under redelivery. Both runs ask the simulated server, whose replies depend only on
(messages, n, seed)."""

from __future__ import annotations

import random
import signal
import time

import pytest
from sqlalchemy import func, select

from rader_queue.pipeline import build_run_config, enqueue_dataset
from rader_queue.store import session_scope
from rader_queue.store.models import Job, JobState, LLMCall, Problem, Run
from tests.process_helpers import kill, start_process, wait_for
from tests.reliability.conftest import (SMALL_MCTS, figure, job_states, natural_key_duplicates,
                                        run_consistency, signatures, wait_states, worker_command,
                                        worker_env)

N = 20
KILLS = 3


def _calls_per_problem(run_name: str, db_url: str | None = None) -> dict[str, int]:
    with session_scope(db_url) as s:
        rows = s.execute(select(Problem.source_id, func.count(LLMCall.id))
                         .join(Run, Run.id == Problem.run_id)
                         .outerjoin(LLMCall, LLMCall.problem_id == Problem.id)
                         .where(Run.name == run_name).group_by(Problem.source_id)).all()
    return dict(rows)


@pytest.mark.slow
def test_sigkill_mid_mcts(rader_env, sim_llm, own_pg_url, tmp_path, monkeypatch):
    rng = random.Random(int(time.time()))
    seed = rng.randrange(10**6)
    rng = random.Random(seed)
    url = sim_llm(time_scale=0.05, max_batch=64)
    cache = tmp_path / "cache"
    base = worker_env(rader_env, RADER_LLM_BASE_URL=url, RADER_CACHE_DIR=cache)
    config = build_run_config(**SMALL_MCTS)

    # Reference: same problems and config, its own database and queue prefix, never killed.
    ref_env = {**base, "RADER_DATABASE_URL": own_pg_url,
               "RADER_QUEUE_PREFIX": rader_env["RADER_QUEUE_PREFIX"] + "ref:"}
    for key in ("RADER_DATABASE_URL", "RADER_QUEUE_PREFIX"):
        monkeypatch.setenv(key, ref_env[key])
    from rader_queue.queue.app import use_settings
    from rader_queue.settings import get_settings
    get_settings.cache_clear()
    use_settings()          # publish the reference run's messages under its own prefix
    enqueue_dataset("MATH", split="test", limit=N, run_name="kill", config=config, echo=lambda m: None)
    for key in ("RADER_DATABASE_URL", "RADER_QUEUE_PREFIX"):
        monkeypatch.setenv(key, rader_env[key])
    get_settings.cache_clear()
    use_settings()
    enqueue_dataset("MATH", split="test", limit=N, run_name="kill", config=config, echo=lambda m: None)

    ref_log, log = tmp_path / "ref-worker.log", tmp_path / "worker.log"
    ref = start_process(worker_command(concurrency=4, name="ref@%h"), ref_env, ref_log)
    proc = start_process(worker_command(concurrency=4, name="victim@%h"), base, log)
    kills = 0
    try:
        while kills < KILLS:
            # A random point while problems are mid-search (some running, not all done).
            wait_for(lambda: job_states("kill").get(JobState.RUNNING, 0) > 0
                     or job_states("kill").get(JobState.DONE, 0) == N, 240, what="a running job",
                     log_path=log)
            if job_states("kill").get(JobState.DONE, 0) == N:
                break
            time.sleep(rng.uniform(0.5, 4.0))
            kill(proc, signal.SIGKILL)
            kills += 1
            proc = start_process(worker_command(concurrency=4, name="victim@%h"), base, log)
        wait_states("kill", {JobState.DONE: N}, 420, log)
        wait_states("kill", {JobState.DONE: N}, 240, ref_log, db_url=own_pg_url)
    finally:
        kill(proc, signal.SIGTERM)
        kill(ref, signal.SIGTERM)

    with session_scope() as s:
        attempts = s.scalar(select(func.sum(Job.attempts)).join(Run, Run.id == Job.run_id)
                            .where(Run.name == "kill"))
    dups = {k: v for k, v in natural_key_duplicates().items() if v}
    trees, ref_trees = signatures("kill"), signatures("kill", own_pg_url)
    equal = sum(1 for k in ref_trees if trees.get(k) == ref_trees[k] and ref_trees[k])
    calls, ref_calls = _calls_per_problem("kill"), _calls_per_problem("kill", own_pg_url)
    ledger_equal = sum(1 for k in ref_calls if calls.get(k) == ref_calls[k])
    bad = {k: v for k, v in run_consistency("kill").items() if v}
    figure("sigkill", f"{job_states('kill').get(JobState.DONE, 0)}/{N} finished, "
           f"{sum(dups.values())} duplicates, {equal}/{N} trees equal, {kills} kills "
           f"(seed {seed}), {attempts} attempts, ledger rows equal for {ledger_equal}/{N}")
    assert kills == KILLS
    assert not dups
    assert not bad
    assert equal == N
    assert ledger_equal == N      # llm_calls land with the tree: killed attempts leave none
    assert attempts > N           # some attempts were really interrupted
