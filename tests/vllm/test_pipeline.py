"""The pipeline with vLLM serving both models: enqueue → a real worker process → MCTS whose
generator and dense retriever (RADER_EMBEDDER_BASE_URL) are vLLM servers → trees, judgements
and the LLM-call ledger in PostgreSQL → ``dataset querygen`` + ``dataset build --all-rewards``
→ rows; and the LLM rerank of ``eval run``. Small on purpose: 2 problems, 2 rollouts, short
replies."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from rader_queue.store import session_scope
from rader_queue.store.models import (Dataset, GeneratedQuery, Job, JobState, Judgement, LLMCall,
                                      Problem, Run, TreeNode)
from tests.process_helpers import ROOT, running, wait_for, worker_cmd

pytestmark = [pytest.mark.vllm, pytest.mark.slow]     # servers start once: ~1-2 min
RUN = "vllm-e2e"
TYPES = "qcot,qquestion,qllmq"


def _cli(*args, env):
    out = subprocess.run([sys.executable, "-m", "rader_queue.cli.main", *args], cwd=ROOT,
                         env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _states(stage: str) -> dict[str, int]:
    with session_scope() as s:
        return dict(s.execute(select(Job.state, func.count()).join(Run, Run.id == Job.run_id)
                              .where(Run.name == RUN, Job.stage == stage)
                              .group_by(Job.state)).all())


def _settled(stage: str, total: int) -> bool:
    states = _states(stage)
    return sum(states.values()) == total and set(states) <= {JobState.DONE, JobState.FAILED}


def test_mcts_querygen_and_build_with_vllm_serving_both_models(vllm_env, vllm_engines,
                                                              corpus_path, tmp_path):
    from rader_queue.cli.embedded import capped_tokens
    from rader_queue.pipeline import build_run_config, enqueue_dataset

    config = build_run_config(retriever="dense", corpus=str(corpus_path), rollouts=2,
                              max_depth=4, crs_samples=2, top_k=3, seed=5, **capped_tokens(48))
    report = enqueue_dataset("MATH", split="test", limit=2, run_name=RUN, config=config,
                             echo=lambda *a, **k: None)
    assert report.jobs_new == 2
    embedded_before = vllm_engines.requests_served(vllm_engines.embedder)
    log = tmp_path / "worker.log"
    with running(worker_cmd("mcts,querygen,judge", concurrency=2), vllm_env, log):
        wait_for(lambda: _settled("mcts", 2), timeout=600, what="2 MCTS jobs", log_path=log)
        assert _states("mcts") == {JobState.DONE: 2}, log.read_text()[-3000:]
        with session_scope() as s:
            run_id = s.scalar(select(Run.id).where(Run.name == RUN))
            types = dict(s.execute(select(TreeNode.node_type, func.count()).join(Problem)
                                   .where(Problem.run_id == run_id)
                                   .group_by(TreeNode.node_type)).all())
            judged = s.scalars(select(Judgement).join(Problem).where(Problem.run_id == run_id)).all()
            calls = s.execute(select(LLMCall.stage, LLMCall.model, LLMCall.error)
                              .where(LLMCall.run_id == run_id)).all()
        assert types["user_question"] == 2 and types["retrieval"], types
        # structured outputs: every self-reflection verdict the search stored is readable
        assert judged and all(j.label is not None for j in judged), [j.raw for j in judged]
        assert calls and {model for _, model, _ in calls} == {vllm_engines.generator.model}
        assert not [err for _, _, err in calls if err]
        # the dense retriever embedded corpus and queries on the vLLM embedder
        assert vllm_engines.requests_served(vllm_engines.embedder) > embedded_before

        out = _cli("dataset", "querygen", RUN, "--all-rewards", "--types", TYPES, env=vllm_env)
        assert "new jobs" in out
        wait_for(lambda: _settled("querygen", 2) and _settled("extract", 2), timeout=300,
                 what="the querygen jobs", log_path=log)
    built = _cli("dataset", "build", RUN, "--name", "vllm-e2e", "--all-rewards", "--types", TYPES,
                 "--out", str(tmp_path / "data"), env=vllm_env)
    with session_scope() as s:
        dataset = s.scalars(select(Dataset).where(Dataset.name == "vllm-e2e")).one()
        queries = s.scalar(select(func.count()).select_from(GeneratedQuery)
                           .where(GeneratedQuery.run_id == run_id))
    assert queries > 0 and dataset.counts["all"] > 0, built
    lines = (tmp_path / "data").rglob("*.jsonl")
    rows = [json.loads(line) for path in lines for line in path.read_text().splitlines()]
    assert len(rows) == dataset.counts["all"]
    assert all(r["query"] and r["positive_passages"] for r in rows)


def test_eval_llm_rerank_through_vllm(vllm_env, vllm_engines, tmp_path):
    from tests.evaluation.conftest import DOCUMENTS, EXAMPLES

    folder = tmp_path / "tinybright"
    folder.mkdir()
    (folder / "documents.jsonl").write_text(
        "".join(json.dumps({"id": d, "content": t}) + "\n" for d, t in DOCUMENTS.items()))
    (folder / "examples.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EXAMPLES))
    before = vllm_engines.requests_served(vllm_engines.generator)
    out = _cli("eval", "run", "bm25", "-b", str(folder), "--rerank-k", "3", "--local",
               "--out-dir", str(tmp_path / "eval"), env=vllm_env)
    assert "ndcg_cut_10" in out
    ratings = json.loads(next((tmp_path / "eval").rglob("llm_ratings.json")).read_text())
    assert set(ratings) == {e["id"] for e in EXAMPLES}
    assert all(len(docs) == 3 for docs in ratings.values())
    rated = [r for docs in ratings.values() for r in docs.values() if r is not None]
    assert rated and all(0 <= r <= 5 for r in rated), ratings
    assert vllm_engines.requests_served(vllm_engines.generator) - before >= 9
