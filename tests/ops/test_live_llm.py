"""Live LLM counters (issue 17): a worker's heartbeat carries its LLM calls and tokens while a
job is still running, and ``status`` prints them beside the ledger of finished jobs."""

from __future__ import annotations

import json
import re

import pytest

from rader_queue.ops import live_llm
from rader_queue.queue import heartbeats
from tests.ops.conftest import cli, enqueue_args, free_port, job_states, process, wait_for, \
    wait_ready, worker_args


def test_snapshot_counts_calls_and_a_token_rate():
    before = live_llm.snapshot(now=1000.0)
    live_llm.record(prompt_tokens=100, completion_tokens=50)
    live_llm.record(prompt_tokens=-5, completion_tokens=10)     # hostile counts never subtract
    after = live_llm.snapshot(now=1002.0)
    assert after["calls"] == before["calls"] + 2
    assert after["prompt_tokens"] == before["prompt_tokens"] + 100
    assert after["completion_tokens"] == before["completion_tokens"] + 60
    assert after["tokens_per_s"] == 80.0                        # 160 tokens over 2 s
    assert after["in_flight"] >= 0


def test_live_line_sums_valid_heartbeats_and_skips_hostile_ones(rader_env, redis_client,
                                                                queue_prefix):
    from rader_queue.settings import get_settings

    good = {"calls": 3, "prompt_tokens": 100, "completion_tokens": 20, "in_flight": 2,
            "tokens_per_s": 12.5}
    beats = {"w1@h": {"llm": good}, "w2@h": {"llm": {**good, "calls": 7, "in_flight": 0}},
             "nan@h": {"llm": {**good, "calls": "nan"}}, "neg@h": {"llm": {**good, "calls": -1}},
             "list@h": {"llm": [1, 2]}, "old@h": {"loop_lag_s": 0.1}}
    key = f"{queue_prefix}worker-heartbeat:"
    try:
        for name, beat in beats.items():
            redis_client.set(key + name, json.dumps(beat), ex=60)
        redis_client.set(key + "garbage", b"\xff{", ex=60)
        assert set(heartbeats.worker_counters(get_settings().broker, queue_prefix)) == {"w1@h",
                                                                                      "w2@h"}
        assert heartbeats.live_line(get_settings()) == (
            "live (2 workers): 10 LLM calls, 240 tokens, 25.0 tokens/s, 2 in flight")
    finally:
        for k in redis_client.scan_iter(match=key + "*"):
            redis_client.delete(k)


def _heartbeat_llm(redis_client, queue_prefix) -> dict:
    for key in redis_client.scan_iter(match=f"{queue_prefix}worker-heartbeat:*"):
        raw = redis_client.get(key)
        if raw:
            return json.loads(raw).get("llm") or {}
    return {}


@pytest.mark.slow
def test_heartbeat_and_status_show_calls_while_the_job_runs(ops_env, redis_client, queue_prefix,
                                                           unique, tmp_path):
    from rader_queue.testing.simulated_llm import simulated_server

    run = f"live-{unique}"
    with simulated_server(free_port(), time_scale=4.0, log_path=tmp_path / "llm.log") as url:
        env = {**ops_env, "RADER_LLM_BASE_URL": url, "RADER_WATCHDOG_INTERVAL_S": "0.5",
               "RADER_LLM_TIMEOUT_S": "120", "RADER_TASK_MAX_RETRIES": "0"}
        args = enqueue_args(run, limit=1)
        args[args.index("--rollouts") + 1] = "8"
        args[args.index("--max-depth") + 1] = "4"
        out = cli(args, env)
        assert out.returncode == 0, out.stderr
        log = tmp_path / "worker.log"
        with process(worker_args(f"live-{unique}", concurrency=1), env, log) as worker:
            wait_ready(log, worker)
            wait_for(lambda: _heartbeat_llm(redis_client, queue_prefix).get("calls", 0) > 0,
                     180, "LLM calls in the heartbeat", log=log, proc=worker)
            beat = _heartbeat_llm(redis_client, queue_prefix)
            assert beat["prompt_tokens"] > 0 and beat["completion_tokens"] > 0
            assert job_states(run).get("running") == 1, job_states(run)   # not finished yet
            status = cli(["status", run], env)
            assert status.returncode == 0, status.stderr
            assert job_states(run).get("running") == 1, job_states(run)
            # the ledger has nothing yet; the live line has the running job's calls
            assert re.search(r"LLM \(finished jobs\): 0 calls", status.stdout), status.stdout
            live = re.search(r"live \(1 worker\): ([\d,]+) LLM calls, ([\d,]+) tokens",
                             status.stdout)
            assert live and int(live[1].replace(",", "")) > 0, status.stdout
