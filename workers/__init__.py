"""The worker entry point for Celery's own command line: ``celery -A workers worker -Q mcts``
(``rader-queue worker`` does the same, with its start-up checks) or ``celery -A workers flower``.

The tasks — one per stage of the registry (:mod:`rader_queue.queue.stages`) — are defined by
:mod:`rader_queue.queue.stage_tasks` and run the stage bodies through the job runner; this package
holds no task code of its own, so a new stage never touches it."""

from rader_queue.queue import stage_tasks as _stage_tasks  # noqa: F401 - defines the tasks
from rader_queue.queue import worker_hooks as _worker_hooks  # noqa: F401 - metrics, watchdog, reconciler
from rader_queue.queue.app import app

__all__ = ["app"]
