"""The Celery tasks: one per stage of the registry (:mod:`rader_queue.queue.stages`), each
``task(job_id)`` → :func:`rader_queue.queue.job_runner.execute` with its stage (claim, check the
payload, run the stage's body, finish in one transaction). A stage that adds jobs of other
stages (``Stage.adds``: extract and querygen add judge_queries jobs) publishes them once its
own transaction has committed.

The same tasks run everywhere: on ``rader-queue worker``, on the embedded mode's in-process
worker, and in process through :func:`run_in_process` (``dataset build --local``, the
``--through`` stages of ``rader-queue run``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Celery, Task

from rader_queue.queue import stages
from rader_queue.queue.app import app as default_app


def publish_added(stage: stages.Stage, result: dict[str, Any]) -> None:
    """After a job of ``stage`` finished: publish the jobs of ``stage.adds`` it added."""
    run_id = result.get("run_id")
    if not stage.adds or run_id is None or "failed" in result or "skipped" in result:
        return
    from rader_queue.queue.enqueue import publish_pending

    for added in stage.adds:
        publish_pending(run_id, added)


def _task_function(stage: stages.Stage) -> Callable[..., dict[str, Any]]:
    def run(self: Task, job_id: int) -> dict[str, Any]:
        from rader_queue.queue.job_runner import execute

        result = execute(self, job_id, stage)
        if not self.request.is_eager:       # in process, run_in_process' caller runs them
            publish_added(stage, result)
        return result

    run.__name__ = run.__qualname__ = stage.name
    run.__doc__ = f"The {stage.name} stage's job (task {stage.task}, queue {stage.queue})."
    return run


def register_stage_tasks(app: Celery) -> None:
    """Define the task of every registry stage on ``app`` (once)."""
    for stage in stages.STAGES:
        if stage.task not in app.tasks:
            app.task(name=stage.task, bind=True)(_task_function(stage))


def run_in_process(app: Celery, stage: str, job_ids: Iterable[int], *,
                   concurrency: int = 8) -> list[dict[str, Any]]:
    """Run jobs of ``stage`` here, through the same task (Celery's ``apply``: claim, body,
    finish, retries), ``concurrency`` at a time: their model calls share the process's event
    loop. Returns the tasks' results in ``job_ids`` order."""
    register_stage_tasks(app)
    task = app.tasks[stages.get(stage).task]
    ids = list(job_ids)
    if not ids:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(ids)))) as pool:
        return list(pool.map(lambda job_id: task.apply(args=[job_id]).get(), ids))


register_stage_tasks(default_app)      # the process's app: Celery imports this module as a worker starts
