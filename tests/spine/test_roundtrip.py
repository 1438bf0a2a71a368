"""Enqueue → a real worker process → rows in PostgreSQL, and the CLI's own commands."""

import subprocess
import sys

import pytest
from sqlalchemy import func, select

from rader_queue.store import session_scope
from rader_queue.store.models import Job, JobState
from tests.process_helpers import ROOT, running, wait_for, worker_cmd


def _cli(*args, env):
    import os

    return subprocess.run([sys.executable, "-m", "rader_queue.cli.main", *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=300)


def _states(run_name: str) -> dict[str, int]:
    from rader_queue.store.models import Run

    with session_scope() as s:
        rows = s.execute(select(Job.state, func.count()).join(Run, Run.id == Job.run_id)
                         .where(Run.name == run_name).group_by(Job.state)).all()
    return dict(rows)


@pytest.mark.slow
def test_cli_enqueue_then_worker_finishes_every_job(rader_env, tmp_path):
    """The whole spine with the real MCTS task: its generator is the simulated OpenAI-compatible
    server (a real HTTP server on loopback), retrieval BM25 over the TheoremQA theorems."""
    from rader_queue.testing.simulated_llm import simulated_server
    from rader_queue.ports import free_port

    small = ["--rollouts", "4", "--max-depth", "4", "--retriever", "bm25"]
    out = _cli("enqueue", "MATH", "--split", "test", "--limit", "6", "--run", "rt", *small,
               env=rader_env)
    assert out.returncode == 0, out.stderr
    assert "6 new problems, 6 new jobs" in out.stdout
    again = _cli("enqueue", "MATH", "--split", "test", "--limit", "6", "--run", "rt", *small,
                 env=rader_env)
    assert "0 new problems, 0 new jobs, 0 messages" in again.stdout
    log = tmp_path / "worker.log"
    with simulated_server(free_port(), time_scale=0.02) as llm_url:
        env = {**rader_env, "RADER_LLM_BASE_URL": llm_url}
        with running(worker_cmd("mcts", concurrency=4), env, log):
            wait_for(lambda: _states("rt").get(JobState.DONE, 0) == 6, 240, what="6 done jobs",
                     log_path=log)
    with session_scope() as s:
        from rader_queue.store.models import Judgement, Problem, Run, TreeNode

        run_id = s.scalar(select(Run.id).where(Run.name == "rt"))
        jobs = s.scalars(select(Job).where(Job.run_id == run_id)).all()
        assert len(jobs) == 6
        assert all(j.attempts == 1 and j.worker and j.finished_at for j in jobs)
        types = dict(s.execute(select(TreeNode.node_type, func.count()).join(Problem)
                               .where(Problem.run_id == run_id).group_by(TreeNode.node_type)).all())
        terminal = s.scalar(select(func.count()).select_from(TreeNode).join(Problem)
                            .where(Problem.run_id == run_id, TreeNode.terminal))
        judged = s.scalar(select(func.count()).select_from(Judgement).join(Problem)
                          .where(Problem.run_id == run_id))
    assert types["user_question"] == 6 and types["ost"] and types["query_generation"]
    assert types["retrieval"] and terminal and judged
    status = _cli("status", "rt", env=rader_env)
    assert status.returncode == 0 and "mcts" in status.stdout and "6" in status.stdout


@pytest.mark.slow
def test_cli_errors_are_clear(rader_env):
    out = _cli("enqueue", "NOPE", env=rader_env)
    assert out.returncode == 2 and "unknown dataset 'NOPE'" in out.stderr
    out = _cli("worker", "-Q", "mcts,gpu", env=rader_env)
    assert out.returncode == 2 and "unknown queue(s) gpu" in out.stderr
    out = _cli("status", "no-such-run", env=rader_env)
    assert out.returncode == 2 and "no run named 'no-such-run'" in out.stderr
