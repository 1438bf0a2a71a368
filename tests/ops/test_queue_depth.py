"""Queue depth as the broker counts it (a passive declare through the Celery app's connection),
on the real Redis, under the session's key prefix: messages of every priority count, a queue
the broker does not know holds none, and an unreachable broker is reported, not raised."""

from __future__ import annotations

from rader_queue.queue import depth
from rader_queue.queue.app import create_app
from rader_queue.settings import get_settings


def test_depths_count_every_priority_and_unknown_queues_are_empty(rader_env, redis_client,
                                                                  queue_prefix):
    app = create_app(get_settings())
    for priority in (0, 0, 5, 9):
        app.send_task("rader.eval.run", args=[1], queue="eval", priority=priority)
    try:
        with depth.broker_connection(app) as connection:
            assert depth.queue_depths(connection, ["eval", "train", "never-declared"]) == {
                "eval": 4, "train": 0, "never-declared": 0}
            assert depth.unacked_count(connection) == 0
        # the messages are where the prefix says: nothing outside it was counted
        assert any(k.startswith(queue_prefix.encode())
                   for k in redis_client.scan_iter(match=queue_prefix + "eval*"))
    finally:
        for key in redis_client.scan_iter(match=queue_prefix + "*"):
            redis_client.delete(key)


def test_the_collector_reports_an_unreachable_broker(rader_env, monkeypatch):
    monkeypatch.setenv("RADER_BROKER_URL", "redis://127.0.0.1:9/0")
    get_settings.cache_clear()
    try:
        collector = depth.QueueDepthCollector(create_app(get_settings()), ["mcts"])
        families = {f.name: f for f in collector.collect()}
    finally:
        get_settings.cache_clear()
    assert set(families) == {"rader_broker_up"}
    assert families["rader_broker_up"].samples[0].value == 0
