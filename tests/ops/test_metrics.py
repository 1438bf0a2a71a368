"""Prometheus metrics served by a real worker (RADER_METRICS_PORT): task counters by stage and
state, queue depth read from the broker (passive declare), and — with the embedded model — LLM
token counters that agree with the SQL cost ledger."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rader_queue.ops import live_llm, metrics
from rader_queue.queue import worker_hooks  # noqa: F401 - names the stage of each task
from tests.ops.conftest import (cli, enqueue_args, finished, free_port, http_get, job_states,
                                process, wait_for, wait_ready, worker_args)

TASK = "rader.mcts.solve"


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """``{(sample name, sorted labels): value}`` of a /metrics page."""
    response = http_get(f"http://127.0.0.1:{port}/metrics")
    response.raise_for_status()
    out = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def task_count(samples: dict, state: str) -> float:
    return samples.get(("rader_tasks_total", (("stage", "mcts"), ("state", state), ("task", TASK))), 0.0)


def depth(samples: dict, queue: str) -> float | None:
    return samples.get(("rader_queue_depth", (("queue", queue),)))


def test_outcomes_and_stage_names():
    assert metrics.outcome_of("SUCCESS", {"job_id": 1, "trees": 3}) == "succeeded"
    assert metrics.outcome_of("SUCCESS", {"job_id": 1, "failed": "why"}) == "failed"
    assert metrics.outcome_of("SUCCESS", {"job_id": 1, "skipped": "already done"}) == "skipped"
    assert metrics.outcome_of("FAILURE", None) == "error"
    assert metrics.outcome_of("RETRY", None) == "retried"
    assert metrics.stage_of("rader.mcts.solve") == "mcts"
    assert metrics.stage_of("rader.querygen.extract") == "extract"
    assert metrics.stage_of("celery.ping") == "other"


def test_llm_observations_are_counted_by_stage_and_model():
    from rader_queue.llm.ledger import CallRecord

    before = metrics.REGISTRY.get_sample_value(
        "rader_llm_prompt_tokens_total", {"stage": "ops-test", "model": "m"}) or 0
    metrics.observe_llm_call(CallRecord(stage="ops-test", model="m", n=1, prompt_tokens=7,
                                        completion_tokens=3, latency_s=0.2))
    metrics.observe_llm_call(CallRecord(stage="ops-test", model="m", n=1, cache_hit=True))
    metrics.observe_llm_call(CallRecord(stage="ops-test", model="m", n=1, error="boom"))
    metrics.observe_llm_call(object())                       # never raises
    live_llm.observe_call(CallRecord(stage="ops-test", model="m", n=1, prompt_tokens=5))
    get = metrics.REGISTRY.get_sample_value
    # the generator reports to live_llm, whose observer the metrics are
    assert get("rader_llm_prompt_tokens_total", {"stage": "ops-test", "model": "m"}) == before + 12
    assert get("rader_llm_completion_tokens_total", {"stage": "ops-test", "model": "m"}) >= 3
    assert get("rader_llm_cache_hits_total", {"stage": "ops-test", "model": "m"}) >= 1
    for outcome in ("ok", "cache_hit", "error"):
        assert get("rader_llm_calls_total", {"stage": "ops-test", "model": "m", "outcome": outcome}) >= 1
    assert get("rader_llm_call_latency_seconds_count", {"stage": "ops-test", "model": "m"}) >= 3


@pytest.mark.slow
def test_worker_serves_task_counters_and_queue_depth(ops_env, unique, tmp_path):
    from rader_queue.queue.app import create_app
    from rader_queue.settings import get_settings

    port = free_port()
    log = tmp_path / "worker.log"
    run = f"metrics-{unique}"
    # three messages on a queue nobody consumes in this test: the depth gauge must show them
    sender = create_app(get_settings())
    for job_id in range(3):
        sender.send_task("rader.eval.run", args=[job_id], queue="eval")

    with process(worker_args(f"ops-metrics-{unique}"), {**ops_env, "RADER_METRICS_PORT": str(port)},
                 log) as worker:
        wait_ready(log, worker)
        first = wait_for(lambda: scrape(port), 60, "the metrics endpoint", log=log, proc=worker)
        assert first[("rader_broker_up", ())] == 1
        assert depth(first, "eval") == 3
        assert depth(first, "mcts") == 0
        assert ("rader_problems_in_flight", ()) in first
        assert ("rader_llm_requests_in_flight", ()) in first

        out = cli(enqueue_args(run, limit=3), ops_env)
        assert out.returncode == 0, out.stderr
        wait_for(lambda: finished(run, 3), 180, "three finished jobs", log=log, proc=worker)
        samples = wait_for(lambda: (s := scrape(port)) and task_count(s, "failed") + task_count(s, "succeeded") == 3 and s,
                           60, "task counters to reach 3", log=log)
        states = job_states(run)
        assert task_count(samples, "started") == 3
        # the run has no generator endpoint: jobs fail for good, at once, with their reason
        assert task_count(samples, "failed") == states.get("failed", 0) == 3
        assert task_count(samples, "error") == 0
        assert samples[("rader_task_duration_seconds_count",
                        (("outcome", "failed"), ("stage", "mcts"), ("task", TASK)))] == 3
        assert depth(samples, "mcts") == 0
        assert depth(samples, "eval") == 3
        assert samples[("rader_queue_unacked", ())] == 0
        assert samples[("rader_problems_in_flight", ())] == 0


@pytest.mark.slow
@pytest.mark.model
def test_llm_token_metrics_match_the_sql_ledger(ops_env, unique, tmp_path):
    """One real problem against the embedded SmolLM2 server: the worker's token counters equal
    the sums the cost ledger wrote to SQL for the run."""
    from sqlalchemy import func, select

    from rader_queue.llm.embedded_server import embedded_server
    from rader_queue.store import session_scope
    from rader_queue.store.models import LLMCall, Run

    port = free_port()
    log = tmp_path / "worker.log"
    run = f"tokens-{unique}"
    with embedded_server(port=0) as server:
        env = {**ops_env, "RADER_LLM_BASE_URL": server.base_url, "RADER_LLM_MODEL": server.model,
               "RADER_METRICS_PORT": str(port)}
        with process(worker_args(f"ops-tokens-{unique}", concurrency=1), env, log) as worker:
            wait_ready(log, worker)
            out = cli(enqueue_args(run, limit=1), env)
            assert out.returncode == 0, out.stderr
            wait_for(lambda: finished(run, 1), 600, "the problem to be solved", interval=2,
                     log=log, proc=worker)
            assert job_states(run) == {"done": 1}
            labels = {"stage": "mcts", "model": server.model}
            samples = wait_for(lambda: (s := scrape(port)) and task_count(s, "succeeded") == 1 and s,
                               60, "the succeeded counter", log=log)
            # The gauge is a snapshot taken when the task's counter moved; a leaked count never
            # drains, while a request still ending does within seconds (bounded by its timeout).
            wait_for(lambda: (s := scrape(port)) and s[("rader_llm_requests_in_flight", ())] == 0,
                     60, "rader_llm_requests_in_flight back to 0", log=log)
    with session_scope() as s:
        prompt, completion, calls = s.execute(
            select(func.sum(LLMCall.prompt_tokens), func.sum(LLMCall.completion_tokens), func.count())
            .join(Run, Run.id == LLMCall.run_id).where(Run.name == run)).one()
    key = tuple(sorted(labels.items()))
    assert calls > 0 and prompt > 0
    assert samples[("rader_llm_prompt_tokens_total", key)] == prompt
    assert samples[("rader_llm_completion_tokens_total", key)] == completion
    assert samples[("rader_llm_call_latency_seconds_count", key)] == calls
