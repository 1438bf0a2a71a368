"""Issue 15, poison-proof consumption: messages no worker can run (not JSON, bad base64, a body
that is not Celery's triple, an unknown task, job ids that are not job ids, pickle and YAML
bodies, envelopes of the wrong shape) are pushed into the ``mcts`` queue ahead of a real run.
One real worker process consumes them all: it stays up (no restart), every poison message is in
the dead-letter store with its reason, and the legitimate jobs behind them finish."""

from __future__ import annotations

import pytest

import base64
import json
import pickle

import redis

from rader_queue.queue import deadletter, stages
from rader_queue.store.models import JobState
from tests.reliability.conftest import cli, figure, wait_states, worker, worker_env
from tests.reliability.test_llm_faults import _enqueue_args

MCTS_QUEUE = stages.BY_NAME["mcts"].queue


def _envelope(task: str = "rader.mcts.solve", args: object = (1,), *, body: object = None,
              content_type: str = "application/json", encoding: str = "base64") -> str:
    """A Redis queue item as kombu writes one (Celery protocol 2 headers)."""
    from rader_queue.queue.app import app

    msg = app.amqp.as_task_v2("poison-" + task[-8:], task, args=list(args) if isinstance(args, tuple) else args)
    if body is None:
        body = json.dumps(msg.body).encode()
    return json.dumps({
        "body": base64.b64encode(body).decode() if encoding == "base64" else body,
        "content-encoding": "utf-8", "content-type": content_type,
        "headers": msg.headers,
        "properties": {"correlation_id": "p", "delivery_mode": 2, "priority": 0,
                       "delivery_info": {"exchange": "", "routing_key": MCTS_QUEUE},
                       "body_encoding": encoding, "delivery_tag": "tag-" + task[-6:]}})


def _poison() -> dict[str, str | bytes]:
    good = _envelope()
    return {
        "non-JSON item": b"\xff\xfe not json {",
        "JSON array envelope": "[1, 2, 3]",
        "no properties": json.dumps({"body": "", "headers": {}}),
        "bad base64": good.replace(json.loads(good)["body"], "!!!not*base64*="),
        "JSON body not the triple": _envelope(body=b'{"job_id": 1}'),
        "non-JSON body": _envelope(body=b"\x80\x81 garbage"),
        "unknown task": _envelope(task="rader.nope.missing"),
        "job id 'abc'": _envelope(args=("abc",)),
        "job id {}": _envelope(args=({},)),
        "job id 2**70": _envelope(args=(2**70,)),
        "job id -5": _envelope(args=(-5,)),
        "job id true": _envelope(args=(True,)),
        "no args": _envelope(args=()),
        "pickle body": _envelope(body=pickle.dumps(([1], {}, {})),
                                 content_type="application/x-python-serialize"),
        "yaml body": _envelope(body=b"- [1]\n- {}\n- {}\n", content_type="application/x-yaml"),
    }


@pytest.mark.slow
def test_poison_messages_are_dead_lettered_and_the_worker_goes_on(rader_env, sim_llm, tmp_path):
    url = sim_llm(time_scale=0.05)
    env = worker_env(rader_env, RADER_LLM_BASE_URL=url)
    client = redis.Redis.from_url(rader_env["RADER_BROKER_URL"])
    queue = rader_env["RADER_QUEUE_PREFIX"] + MCTS_QUEUE
    poison = _poison()
    for item in poison.values():
        client.lpush(queue, item)            # ahead of the run's messages (FIFO)
    out = cli(*_enqueue_args("poison", 3, seed=1501), env=env)
    assert out.returncode == 0, out.stderr
    log = tmp_path / "worker.log"
    with worker(env, log, concurrency=2) as proc:
        wait_states("poison", {JobState.DONE: 3}, 150, log)
        alive = proc.poll() is None
    entries = deadletter.entries()
    reasons = [e["reason"] for e in entries]
    figure("poison", f"{len(poison)} poison messages ahead of 3 jobs: worker alive={alive}, "
                     f"3/3 jobs done, {len(entries)} dead-lettered")
    assert alive, log.read_text()[-3000:]
    assert len(entries) == len(poison), "\n".join(reasons)
    assert client.llen(queue) == 0
    assert all(e["raw"] for e in entries)
    for needle in ("not JSON", "unknown task", "job id must be", "triple", "refused", "decoded"):
        assert any(needle in r for r in reasons), (needle, reasons)
    # the operator's view: status counts them, `deadletter` lists, shows and drops them
    status = cli("status", env=env)
    assert f"dead-letter: {len(poison)}" in status.stdout, status.stdout
    listed = cli("deadletter", "list", env=env)
    assert listed.returncode == 0 and entries[0]["id"] in listed.stdout
    shown = cli("deadletter", "show", entries[0]["id"], env=env)
    assert shown.returncode == 0 and entries[0]["reason"][:40] in shown.stdout
    assert cli("deadletter", "drop", entries[0]["id"], env=env).returncode == 0
    assert deadletter.count() == len(poison) - 1
    assert cli("deadletter", "drop", "--all", env=env).returncode == 0
    assert deadletter.count() == 0
