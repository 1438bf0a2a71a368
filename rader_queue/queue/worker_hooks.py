"""What a worker process loads besides its task modules, and how the parts are wired together.

The Celery app lists this module in its ``include`` (so ``celery worker`` imports it as it
starts) and ``rader-queue worker`` imports it before starting one. Importing it connects:

* the Prometheus metrics (:mod:`rader_queue.ops.metrics`): task counters by stage, problems
  in flight on the shared event loop, and the queue depths (:mod:`.depth`);
* the watchdog's heartbeat and stalled-consumer exit (:mod:`.watchdog`);
* the SQL-driven reconciliation of lost messages and expired leases (:mod:`.reconcile`);
* the worker context (:mod:`rader_queue.context`): forgotten after a fork, closed at shutdown.

The metrics know nothing of the queue: the queue reports to them from here.
"""

from __future__ import annotations

from rader_queue import context
from rader_queue.ops import metrics
from rader_queue.queue import depth, reconcile, runtime, stages, watchdog


def wire() -> None:
    """Connect everything (idempotent: signal handlers are deduplicated by ``dispatch_uid``)."""
    metrics.register_task_stages({stage.name: stage.task for stage in stages.STAGES})
    metrics.PROBLEMS_IN_FLIGHT.set_function(runtime.in_flight)
    metrics.connect_signals()
    depth.connect_signals()
    watchdog.connect_signals()
    reconcile.connect_signals()
    context.connect_signals()


wire()
