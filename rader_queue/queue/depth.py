"""Messages waiting in the broker's queues, as the broker counts them.

A passive ``queue_declare`` answers with the queue's message count on every kombu transport
(Redis: the queue's lists over all priority steps; AMQP: the broker's count), so nothing here
knows how a transport lays a queue out. A queue the broker does not know (Redis removes an
empty list) holds no message. Messages delivered to a worker and not yet acknowledged are
counted on Redis only (kombu's unacked hash, :data:`rader_queue.queue.keys.UNACKED`).

:func:`register_queue_depth` adds the Prometheus collector (``rader_queue_depth{queue}``,
``rader_queue_unacked``, ``rader_broker_up``) that reads them at scrape time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from celery import Celery, signals
from kombu import Connection
from kombu.exceptions import ChannelError
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from rader_queue.ops.metrics import REGISTRY
from rader_queue.queue import keys, stages
from rader_queue.queue.app import app as default_app

log = logging.getLogger("rader_queue.depth")

TIMEOUT_S = 2.0


def broker_connection(app: Celery, timeout_s: float = TIMEOUT_S) -> Connection:
    """A connection to ``app``'s broker (its transport and key prefix) that gives up after
    ``timeout_s`` instead of retrying: a scrape or a watchdog check must answer."""
    return app.connection_for_read(
        transport_options={"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s},
        connect_timeout=timeout_s)


def queue_depths(connection: Connection, queues: Iterable[str]) -> dict[str, int]:
    """Messages waiting in each queue (a passive declare per queue)."""
    depths: dict[str, int] = {}
    channel = connection.channel()
    try:
        for queue in queues:
            try:
                depths[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
            except (ChannelError, *connection.channel_errors):
                depths[queue] = 0            # unknown to the broker: nothing waits there
                channel.close()              # AMQP closes a channel on this error
                channel = connection.channel()
    finally:
        channel.close()
    return depths


def unacked_count(connection: Connection) -> int | None:
    """Messages delivered to some worker and not yet acknowledged (Redis transport only;
    ``None`` on other brokers)."""
    if connection.transport.driver_type != "redis":
        return None
    channel = connection.default_channel
    return int(channel.client.hlen(keys.UNACKED))      # the client adds the key prefix


class QueueDepthCollector(Collector):
    """Reads queue depths from the broker at scrape time."""

    def __init__(self, app: Celery, queues: Iterable[str]) -> None:
        self.app, self.queues = app, tuple(queues)

    def describe(self):
        return []  # collected lazily: never touch the broker at registration time

    def collect(self):
        up = GaugeMetricFamily("rader_broker_up", "1 when the queue-depth scrape reached the broker")
        try:
            with broker_connection(self.app) as connection:
                depths = queue_depths(connection, self.queues)
                unacked = unacked_count(connection)
        except Exception as exc:  # noqa: BLE001 - a scrape must answer even when the broker is down
            log.warning("queue depth scrape failed: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        depth = GaugeMetricFamily("rader_queue_depth", "Messages waiting in a broker queue",
                                  labels=["queue"])
        for queue, count in depths.items():
            depth.add_metric([queue], count)
        yield depth
        if unacked is not None:
            yield GaugeMetricFamily("rader_queue_unacked",
                                    "Messages delivered to a worker and not yet acknowledged",
                                    value=unacked)
        up.add_metric([], 1)
        yield up


_registered = False
_lock = threading.Lock()


def register_queue_depth(app: Celery | None = None) -> None:
    """Add the queue-depth collector of ``app``'s broker (default: the rader-queue app) to the
    metrics registry, once per process."""
    global _registered
    app = app or default_app
    with _lock:
        if not _registered:
            REGISTRY.register(QueueDepthCollector(app, stages.QUEUES))
            _registered = True


def _on_worker_init(sender: Any = None, **_: Any) -> None:
    register_queue_depth(getattr(sender, "app", None))


def connect_signals() -> None:
    signals.worker_init.connect(_on_worker_init, weak=False, dispatch_uid="rader-queue-depth")
