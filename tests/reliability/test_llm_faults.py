"""Case 4: the generator endpoint misbehaves.

(a) A simulated server that fails (HTTP 500), hangs and answers garbage on a share of requests
    (drawn from a seeded RNG: the first 47 requests already hold all three kinds): every call is
    retried a bounded number of times (RADER_LLM_MAX_RETRIES=3, 3 s timeout), and the run
    finishes.
(b) A server that is not there (a dead port), then one that always fails (HTTP 500), then one
    that never answers: every job ends ``failed`` after bounded retries, with its reason in
    ``jobs.last_error`` and in ``rader-queue status``; problems enqueued once a healthy server is
    up finish beside the failed ones; ``rader-queue retry RUN --failed`` then finishes those too.

Everything runs through real worker processes and the CLI, on the real Redis and PostgreSQL."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import func, select

from rader_queue.store import session_scope
from rader_queue.store.models import Job, JobState, LLMCall, Run
from tests.reliability.conftest import (SMALL_MCTS, cli, figure, free_port, job_states,
                                        natural_key_duplicates, run_consistency, wait_states,
                                        worker, worker_env)


def _enqueue_args(run: str, limit: int, seed: int) -> list[str]:
    """SMALL_MCTS with a seed of the test's own: the response cache (keyed by the request,
    seed included) of the session's database must not answer for the server under test."""
    args = ["enqueue", "MATH", "--split", "test", "--limit", str(limit), "--run", run,
            "--seed", str(seed)]
    for key, value in SMALL_MCTS.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def _jobs(run: str) -> list[Job]:
    with session_scope() as s:
        return list(s.scalars(select(Job).join(Run, Run.id == Job.run_id)
                              .where(Run.name == run).order_by(Job.id)))


def _stats(url: str) -> dict:
    return httpx.get(url.removesuffix("/v1") + "/stats", timeout=5).json()


@pytest.mark.slow
def test_flaky_server_run_completes(rader_env, sim_llm, tmp_path):
    n = 6
    url = sim_llm(time_scale=0.05, fail_rate=0.10, hang_rate=0.03, garbage_rate=0.10)
    env = worker_env(rader_env, RADER_LLM_BASE_URL=url, RADER_LLM_TIMEOUT_S=3)
    out = cli(*_enqueue_args("flaky", n, seed=4401), env=env)
    assert out.returncode == 0, out.stderr
    log = tmp_path / "worker.log"
    started = time.monotonic()
    with worker(env, log, concurrency=4):
        wait_states("flaky", {JobState.DONE: n}, 170, log)
    seconds = time.monotonic() - started
    stats = _stats(url)
    jobs = _jobs("flaky")
    with session_scope() as s:
        calls, retried, max_attempts = s.execute(
            select(func.count(), func.count().filter(LLMCall.attempts > 1),
                   func.max(LLMCall.attempts)).join(Run, Run.id == LLMCall.run_id)
            .where(Run.name == "flaky")).one()
    dups = {k: v for k, v in natural_key_duplicates().items() if v}
    bad = {k: v for k, v in run_consistency("flaky").items() if v}
    figure("llm-faults-flaky",
           f"{job_states('flaky').get(JobState.DONE, 0)}/{n} done in {seconds:.0f}s; server saw "
           f"{stats['requests']} requests ({stats['failed']} HTTP 500, {stats['hung']} hung, "
           f"{stats['garbage']} garbage); {calls} ledger calls, {retried} retried, max "
           f"{max_attempts} attempts (bound 4); task attempts {sum(j.attempts for j in jobs)}")
    assert stats["failed"] and stats["hung"] and stats["garbage"], stats   # faults really happened
    assert max_attempts <= 4                       # RADER_LLM_MAX_RETRIES=3 → at most 4 tries
    assert not dups and not bad


def _failed_reasons(run: str) -> dict[str, str]:
    return {j.idempotency_key: j.last_error or "" for j in _jobs(run) if j.state == JobState.FAILED}


def _status(run: str, env: dict[str, str]) -> str:
    out = cli("status", run, env={**env, "COLUMNS": "300"}, timeout=120)
    assert out.returncode == 0, out.stderr
    return " ".join(out.stdout.split())      # the table may wrap long reasons


@pytest.mark.slow
def test_failing_server_jobs_fail_with_reason_then_retry(rader_env, tmp_path):
    from rader_queue.testing.simulated_llm import simulated_server

    port = free_port()                        # nothing listens here yet: a dead endpoint
    url = f"http://127.0.0.1:{port}/v1"
    env = worker_env(rader_env, RADER_LLM_BASE_URL=url, RADER_LLM_TIMEOUT_S=3)
    log, llm_log = tmp_path / "worker.log", tmp_path / "llm.log"
    run, phases = "outage", []

    def phase(name: str, limit: int, want: dict[str, int], needle: str) -> None:
        """Enqueue up to ``limit`` problems (the new ones get this phase's server) and wait."""
        before = set(_failed_reasons(run))
        started = time.monotonic()
        out = cli(*_enqueue_args(run, limit, seed=4402), env=env)
        assert out.returncode == 0, out.stderr
        wait_states(run, want, 150, log)
        phases.append(f"{name} {time.monotonic() - started:.0f}s")
        new = {k: v for k, v in _failed_reasons(run).items() if k not in before}
        for key, reason in new.items():
            assert needle in reason and f"127.0.0.1:{port}" in reason, (key, reason)
            assert "after 4 attempt(s)" in reason, reason      # RADER_LLM_MAX_RETRIES=3

    def server(**faults):      # a loaded 2-core machine can take a while to start one
        return simulated_server(port, time_scale=0.05, log_path=llm_log, ready_timeout=120, **faults)

    with worker(env, log, concurrency=4):
        phase("dead port", 3, {JobState.FAILED: 3}, "APIConnectionError")
        status = _status(run, env)
        assert "failed" in status and "GenerationFailed" in status and "APIConnectionError" in status, status
        with server(fail_rate=1.0):
            phase("HTTP 500", 5, {JobState.FAILED: 5}, "HTTP 500")
        with server(hang_rate=1.0):
            phase("hanging", 7, {JobState.FAILED: 7}, "TimeoutError: no reply within 3s")
        with server():
            # The run goes on: problems enqueued now finish beside the failed ones.
            phase("healthy", 10, {JobState.DONE: 3, JobState.FAILED: 7}, "")
            status = _status(run, env)
            for needle in ("GenerationFailed", "APIConnectionError", "HTTP 500", "no reply within 3s"):
                assert needle in status, (needle, status)
            attempts_failed = sum(j.attempts for j in _jobs(run) if j.state == JobState.FAILED)
            started = time.monotonic()
            out = cli("retry", run, "--failed", env=env)
            assert out.returncode == 0, out.stderr
            assert "re-enqueued 7 failed job(s); published 7 message(s)" in " ".join(out.stdout.split())
            wait_states(run, {JobState.DONE: 10}, 150, log)
            retry_s = time.monotonic() - started
    status = _status(run, env)
    jobs = _jobs(run)
    dups = {k: v for k, v in natural_key_duplicates().items() if v}
    bad = {k: v for k, v in run_consistency(run).items() if v}
    figure("llm-faults-failing",
           f"dead port 3/3, HTTP 500 2/2, hanging 2/2 jobs failed with their reason in "
           f"jobs.last_error and status ({', '.join(phases)}; {attempts_failed} task attempts, "
           f"max 3 each); 3 problems enqueued later done meanwhile; retry --failed: 7/7 done in "
           f"{retry_s:.0f}s; {sum(j.state == JobState.DONE for j in jobs)}/10 done, "
           f"{sum(dups.values())} duplicates")
    assert all(j.state == JobState.DONE and not j.last_error for j in jobs)
    assert "failures" not in status
    assert attempts_failed == 7 * 3            # RADER_TASK_MAX_RETRIES=2 → 3 task attempts each
    assert max(j.attempts for j in jobs) == 1  # retry gave the failed jobs a fresh count
    assert not dups and not bad
