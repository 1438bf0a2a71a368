"""What a stage's body receives and returns: :class:`JobContext` (the claimed job, its run and
problem, the worker process's context, the validated payload) and :class:`Outcome` (the result
and the rows to write in the job's final transaction). A neutral module: the stage packages'
bodies depend on it, not on the queue that runs them (:mod:`rader_queue.queue.job_runner`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session


@dataclass
class JobContext:
    job_id: int
    stage: str
    attempts: int
    payload: dict[str, Any]
    run_id: int | None = None
    run_name: str | None = None
    run_config: dict[str, Any] = field(default_factory=dict)
    problem_id: int | None = None
    problem_source_id: str | None = None
    problem_text: str | None = None
    gold_answer: str | None = None
    # the worker process's shared clients and settings (rader_queue.context.WorkerContext)
    worker: Any = None
    params: Any = None          # the payload validated as the stage's model (set by _run)


@dataclass
class Outcome:
    result: dict[str, Any]
    persist: Callable[[Session], None] = lambda session: None
