"""A bare Celery app with one no-op task: the baseline of ``bench_queue_load.py``.

Same broker, serializer and delivery settings as rader-queue's workers (acks_late, prefetch 1,
JSON, task events on), its own key prefix, no task body. Configured from the environment:
``NOOP_BROKER_URL``, ``NOOP_QUEUE_PREFIX``.

    PYTHONPATH=bench celery -A noop_celery worker -Q noop -P threads -c 8 -E
"""

from __future__ import annotations

import os

from celery import Celery

QUEUE = "noop"

app = Celery("noop", broker=os.environ.get("NOOP_BROKER_URL", "redis://127.0.0.1:6379/0"))
app.conf.update(
    broker_transport_options={"global_keyprefix": os.environ.get("NOOP_QUEUE_PREFIX", "noop:"),
                              "visibility_timeout": 3600},
    broker_connection_retry_on_startup=True,
    result_backend=None,
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_default_queue=QUEUE,
    worker_send_task_events=True,
    worker_hijack_root_logger=False,
)


@app.task(name="noop")
def noop(i: int) -> None:
    return None
