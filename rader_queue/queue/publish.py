"""The one way a job's broker message is published: :func:`send_job`.

Every publisher — enqueue, ``retry``, the reconciler, querygen's judge jobs, the embedded mode,
a draining worker handing a job back — goes through :func:`send_job`, which calls Celery's own
``app.send_task`` with the stage's task and queue from the registry
(:mod:`rader_queue.queue.stages`). The message is therefore Celery's protocol-2 message: the
task id ``<stage>-<job id>`` in its headers (what the reconciler and ``delete`` look for in the
queue lists and kombu's unacked hash), the job id as its only argument (what the consumer checks
against the task's signature), JSON, and a ``task-sent`` event carrying the queue (Flower).

:class:`JobSender` publishes many messages on one pooled producer; inside ``batch()`` (kombu's
producer batching, where available) the messages of a batch reach Redis in one pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from rader_queue.queue import stages


def task_id(stage: str, job_id: int) -> str:
    """The Celery task id of a job's message: ``<stage>-<job id>`` (stable across re-publishes)."""
    return f"{stage}-{job_id}"


def send_job(app: Any, stage: str, job_id: int, *, producer: Any = None,
             retry: bool | None = None, declared: bool = False) -> str:
    """Publish the message of job ``job_id`` of ``stage``; returns its task id. ``declared``:
    the producer has declared the stage's queue already (Celery would check it per message)."""
    entry = stages.get(stage)
    tid = task_id(entry.name, job_id)
    options: dict[str, Any] = {"declare": []} if declared else {}
    if retry is not None:
        options["retry"] = retry
    app.send_task(entry.task, args=[job_id], task_id=tid, queue=entry.queue, producer=producer,
                  add_to_parent=False, **options)
    return tid


class JobSender:
    """``send(job_id) -> task id`` for one stage, on one producer (see the module docstring)."""

    def __init__(self, app: Any, producer: Any, stage: str) -> None:
        self.app, self.producer, self.stage = app, producer, stages.get(stage).name
        self._batching = False
        producer.maybe_declare(app.amqp.queues[stages.get(stage).queue])

    def __call__(self, job_id: int) -> str:
        # In a batch nothing is written until the batch's flush: no retry wrapper per message.
        return send_job(self.app, self.stage, job_id, producer=self.producer,
                        retry=False if self._batching else None, declared=True)

    @contextmanager
    def batch(self) -> Iterator[None]:
        batch = getattr(self.producer, "batch", None)     # kombu >= 5.7
        with batch(max_size=1_000_000) if batch else nullcontext():
            self._batching = bool(batch and getattr(self.producer, "supports_batch_publish",
                                                    False))
            try:
                yield
            finally:
                self._batching = False


@contextmanager
def job_sender(stage: str, app: Any = None) -> Iterator[JobSender]:
    """A :class:`JobSender` for ``stage`` on one pooled broker connection of ``app`` (default:
    the process's Celery app)."""
    if app is None:
        from rader_queue.queue.app import app

    with app.producer_pool.acquire(block=True) as producer:
        yield JobSender(app, producer, stage)
