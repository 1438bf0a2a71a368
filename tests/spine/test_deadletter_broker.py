"""The dead-letter store is a Redis list: with another broker (RabbitMQ) the commands say so in
one line, a dead message is logged (not lost silently) and never stops the worker, and
``status`` says where dead messages go."""

from __future__ import annotations

import logging

from typer.testing import CliRunner

from rader_queue.cli.main import app
from rader_queue.pipeline import build_run_config, enqueue_dataset
from rader_queue.queue import deadletter
from rader_queue.queue.reconcile import delivery_summary, reconcile_once
from rader_queue.settings import get_settings

AMQP = "amqp://guest:guest@127.0.0.1:5672//"


def test_deadletter_commands_name_the_missing_store(rader_env, monkeypatch):
    monkeypatch.setenv("RADER_BROKER_URL", AMQP)
    get_settings.cache_clear()
    for args in (["deadletter", "list"], ["deadletter", "show", "abc"], ["deadletter", "drop", "--all"]):
        out = CliRunner().invoke(app, args)
        assert out.exit_code == 3, (args, out.output)
        assert "the dead-letter store is a Redis list" in out.output and "amqp://" in out.output
        assert "Traceback" not in out.output


def test_a_dead_message_on_another_broker_is_logged_not_stored(rader_env, monkeypatch, caplog):
    monkeypatch.setenv("RADER_BROKER_URL", AMQP)
    get_settings.cache_clear()
    with caplog.at_level(logging.ERROR, logger="rader_queue.deadletter"):
        assert deadletter.put(b'{"not": "a celery body"}', "body is not [args, kwargs, embed]",
                              queue="mcts") is None
    text = caplog.text
    assert "body is not [args, kwargs, embed]" in text and '{"not": "a celery body"}' in text
    summary = delivery_summary()
    assert "dead-letter: logged only (not a Redis broker)" in summary
    assert "reconciler: off (it needs a Redis broker)" in summary


def test_retry_on_another_broker_publishes_without_scanning_redis(rader_env, monkeypatch):
    """`retry` looks for orphaned jobs in Redis's queue lists; on another broker it skips that
    scan instead of failing (a queued job there keeps its durable message)."""
    monkeypatch.setenv("RADER_BROKER_URL", AMQP)
    get_settings.cache_clear()
    published = []
    enqueued = enqueue_dataset(
        "MATH", split="test", limit=2, run_name="amqp-queued", echo=lambda m: None,
        config=build_run_config(rollouts=1),
        send=lambda job_id: published.append(job_id) or f"mcts-{job_id}")
    assert len(published) == 2
    sent = []
    report = reconcile_once(force=True, grace_s=0, run_id=enqueued.run_id,
                            send_for=lambda stage: sent.append)
    assert report.ran and report.checked == 2 and report.republished == 0 and not sent
