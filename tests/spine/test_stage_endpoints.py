"""Stages on their own endpoints, end to end: a real worker process whose ``mcts`` stage talks
to one OpenAI-compatible server and whose ``judge`` stage (post-hoc re-judging) talks to
another, configured only by RADER_ENDPOINTS and RADER_STAGE_ENDPOINTS."""

import json
import os
import subprocess
import sys

import httpx
from sqlalchemy import func, select

from rader_queue.store import session_scope
from rader_queue.store.models import Job, JobState, Judgement, LLMCall, Problem, Run
from tests.process_helpers import ROOT, running, wait_for, worker_cmd


def _cli(*args, env):
    return subprocess.run([sys.executable, "-m", "rader_queue.cli.main", *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=300)


def _done(run_name: str, stage: str) -> int:
    with session_scope() as s:
        return s.scalar(select(func.count()).select_from(Job).join(Run, Run.id == Job.run_id)
                        .where(Run.name == run_name, Job.stage == stage,
                               Job.state == JobState.DONE))


def _requests(base_url: str) -> int:
    return httpx.get(base_url.removesuffix("/v1") + "/stats", timeout=5).json()["requests"]


def test_mcts_and_rejudging_each_call_their_own_endpoint(rader_env, tmp_path):
    from rader_queue.ports import free_port
    from rader_queue.testing.simulated_llm import simulated_server

    out = _cli("enqueue", "MATH", "--split", "test", "--limit", "3", "--run", "ep",
               "--rollouts", "4", "--max-depth", "4", "--retriever", "bm25", env=rader_env)
    assert out.returncode == 0, out.stderr
    log = tmp_path / "worker.log"
    with simulated_server(free_port(), time_scale=0.02) as gen_url, \
            simulated_server(free_port(), time_scale=0.02) as judge_url:
        env = {**rader_env,
               "RADER_ENDPOINTS": json.dumps({"gen": {"base_url": gen_url, "model": "gen-a"},
                                              "judge": {"base_url": judge_url,
                                                        "model": "judge-b"}}),
               "RADER_STAGE_ENDPOINTS": json.dumps({"mcts": "gen", "judge": "judge"}),
               # the worker checks both endpoints before it starts (no RADER_LLM_BASE_URL)
               "RADER_WORKER_REQUIRE_GENERATOR": "true"}
        with running(worker_cmd("mcts,judge", concurrency=4), env, log):
            wait_for(lambda: _done("ep", "mcts") == 3, 240, what="3 done mcts jobs", log_path=log)
            gen_after_mcts = _requests(gen_url)
            assert gen_after_mcts > 0 and _requests(judge_url) == 0
            out = _cli("judge", "ep", "--model", "judge-b", env=env)
            assert out.returncode == 0, out.stderr
            wait_for(lambda: _done("ep", "judge") == 3, 240, what="3 done judge jobs",
                     log_path=log)
            assert _requests(judge_url) > 0
            assert _requests(gen_url) == gen_after_mcts      # re-judging never asked the 7B
    with session_scope() as s:
        run_id = s.scalar(select(Run.id).where(Run.name == "ep"))
        models = dict(s.execute(select(LLMCall.stage, func.array_agg(func.distinct(LLMCall.model)))
                                .where(LLMCall.run_id == run_id).group_by(LLMCall.stage)).all())
        posthoc = s.scalars(select(Judgement.model).join(Problem).where(
            Problem.run_id == run_id, Judgement.source == "posthoc")).all()
    assert models == {"mcts": ["gen-a"], "judge": ["judge-b"]}
    assert posthoc and set(posthoc) == {"judge-b"}


def test_worker_refuses_a_stage_map_naming_an_unknown_endpoint(rader_env):
    env = {**rader_env, "RADER_ENDPOINTS": json.dumps({"gen": {"base_url": "http://x/v1"}}),
           "RADER_STAGE_ENDPOINTS": json.dumps({"mcts": "gen", "judge": "judge32b"})}
    out = _cli("worker", "-Q", "mcts", env=env)
    assert out.returncode != 0
    assert "unknown endpoint 'judge32b'" in out.stderr and "stage 'judge'" in out.stderr
