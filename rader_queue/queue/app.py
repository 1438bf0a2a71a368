"""The Celery application: queues and routes (from the stage registry,
:mod:`rader_queue.queue.stages`) and the settings behind the delivery guarantee (see
:mod:`rader_queue.queue.keys`)."""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from rader_queue.errors import ConfigError
from rader_queue.queue import stages
from rader_queue.settings import Settings, get_settings

# What Celery imports as a worker starts (the app's ``include``): the tasks, one per registry
# stage, and the metrics, watchdog and reconciler of a worker process. The app itself does not
# import them: a producer publishes by task name (``send_task``).
STAGE_TASKS = "rader_queue.queue.stage_tasks"
WORKER_HOOKS = "rader_queue.queue.worker_hooks"


def configure(app: Celery, settings: Settings) -> None:
    broker = settings.broker
    transport_options = {
        "visibility_timeout": settings.visibility_timeout_s,
        "global_keyprefix": settings.queue_prefix,
        # A message unacknowledged past the visibility timeout goes back to its queue at the
        # next sweep: every 10 s (kombu's default sweeps scan only every 10th time: ~100 s).
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
    }
    app.conf.update(
        broker_url=broker,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        result_backend=None,
        task_ignore_result=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=settings.task_hard_time_limit_s,
        # Soft limit below the hard one, always (Celery refuses to re-publish a task, e.g. a
        # retry, whose soft limit exceeds its hard one).
        task_soft_time_limit=soft_time_limit(settings.task_hard_time_limit_s),
        task_queues=[Queue(name) for name in stages.QUEUES],
        task_default_queue=stages.QUEUES[0],
        task_routes={s.task: {"queue": s.queue} for s in stages.STAGES},
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        # poison-proof consumption (issue 15): bad messages go to the dead-letter store
        worker_consumer="rader_queue.queue.consumer:Consumer",
    )
    # kombu's Redis transport with envelope checks (rader_queue.queue.transport)
    app.conf.broker_transport = ("rader_queue.queue.transport:Transport"
                                 if broker.startswith(("redis://", "rediss://")) else None)
    if settings.task_hard_time_limit_s >= settings.visibility_timeout_s:
        raise ConfigError("RADER_TASK_HARD_TIME_LIMIT_S must be below RADER_VISIBILITY_TIMEOUT_S, "
                          "or Redis redelivers tasks that are still running")


def soft_time_limit(hard_s: int) -> int:
    """A minute before the hard limit (a fifth of it for limits under five minutes)."""
    return max(1, hard_s - min(60, hard_s // 5))


def use_settings(settings: Settings | None = None) -> Celery:
    """Point this process's app at ``settings`` (another broker URL or key prefix) and drop its
    pooled connections and producers, which keep the transport options they were made with.
    For processes whose settings change at run time: the embedded mode and tests."""
    configure(app, settings or get_settings())
    app._pool = None                                  # what Celery itself resets after a fork
    if "amqp" in app.__dict__:
        app.amqp._producer_pool = None
    return app


def create_app(settings: Settings | None = None) -> Celery:
    app = Celery("rader_queue", include=[STAGE_TASKS, WORKER_HOOKS])
    configure(app, settings or get_settings())
    return app


app = create_app()
