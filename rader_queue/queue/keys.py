"""Every Redis key rader-queue uses, in one place (queue names: :mod:`rader_queue.queue.stages`).

Delivery guarantee (written down up front): **at least once**. Tasks are acknowledged after
they finish (``acks_late``) and re-queued when their worker dies (``task_reject_on_worker_lost``);
a task not acknowledged within the Redis visibility timeout is delivered again. A redelivered
task is harmless because every row it writes has a UNIQUE key in SQL and each job's final write
is one transaction that first checks the job is not already done.

All broker keys carry the ``RADER_QUEUE_PREFIX`` (kombu's ``global_keyprefix``), so two
deployments (or two test sessions) can share one Redis server without stealing each other's
tasks.
"""

from __future__ import annotations

# Queue and task names are the stage registry's (rader_queue.queue.stages): one table says which
# stage runs which task on which queue.

# Redis keys written by rader-queue itself (outside kombu's), all under the prefix.
HEARTBEAT = "worker-heartbeat:{hostname}"   # watchdog: last time a worker consumed/beat
DEADLETTER = "deadletter"                   # messages no worker can run: JSON entries, newest first
# kombu's own keys that the reconciler and `delete` read (the Redis transport's names)
UNACKED = "unacked"                         # hash: delivery tag -> [message, exchange, routing key]
PRIORITY_SEP = "\x06\x16"                    # queue{sep}{priority} lists for priorities 3, 6, 9
PRIORITY_STEPS = (0, 3, 6, 9)


def queue_lists(prefix: str, queue: str) -> list[str]:
    """The Redis lists that hold ``queue``'s waiting messages (one per priority step)."""
    return [prefix + queue + (f"{PRIORITY_SEP}{p}" if p else "") for p in PRIORITY_STEPS]


def heartbeat_key(prefix: str, hostname: str) -> str:
    return prefix + HEARTBEAT.format(hostname=hostname)


def job_key(stage: str, *parts: object) -> str:
    """The idempotency key of a job: ``stage:part:part``. Same inputs → same key → one job."""
    return ":".join([stage, *(str(p) for p in parts)])
