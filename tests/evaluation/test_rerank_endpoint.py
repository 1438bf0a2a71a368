"""Evaluation reranking talks to the ``rerank`` stage's endpoint (RADER_STAGE_ENDPOINTS)."""

import json

from rader_queue.evaluation.runner import EvalConfig, run_eval
from tests.llm.fake_server import FakeServer


def test_rerank_uses_the_rerank_stage_endpoint(bright_dir, tmp_path, eval_env, monkeypatch):
    from rader_queue.settings import get_settings

    with FakeServer("ok") as judge:
        # the default endpoint is a closed port: a request there would fail the evaluation
        monkeypatch.setenv("RADER_LLM_BASE_URL", "http://127.0.0.1:9/v1")
        monkeypatch.setenv("RADER_LLM_MAX_RETRIES", "0")
        monkeypatch.setenv("RADER_LLM_CACHE", "false")
        monkeypatch.setenv("RADER_ENDPOINTS", json.dumps(
            {"judge32b": {"base_url": judge.base_url, "model": "judge-32b"}}))
        monkeypatch.setenv("RADER_STAGE_ENDPOINTS", json.dumps({"rerank": "judge32b"}))
        get_settings.cache_clear()
        outcome = run_eval(EvalConfig(model="bm25", benchmark=str(bright_dir), depth=5, rerank_k=2),
                           out_dir=tmp_path, record=False)
    assert judge.requests and {r["model"] for r in judge.requests} == {"judge-32b"}
    results = json.loads((tmp_path / outcome.score_path).parent.joinpath("results.json")
                         .read_text())
    assert results["config"]["generator"] == "judge-32b"
