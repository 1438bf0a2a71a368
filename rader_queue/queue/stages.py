"""The stage registry: every pipeline stage, in one table.

A **stage** is a kind of job: its name is the ``jobs.stage`` column, its jobs wait on one Celery
**queue** and run one Celery **task** whose only argument is the job id. Everything that needs
to know a stage's task, queue, payload or body reads it here: the Celery app (queues, routes and
the tasks themselves, :mod:`rader_queue.queue.stage_tasks`), publishing
(:mod:`rader_queue.queue.publish`), the reconciler, ``retry``, ``cancel``, ``status``, the
metrics and the worker's generator check.

    stage          task                     queue     one job per          body
    mcts           rader.mcts.solve         mcts      problem              trees.solve
    judge          rader.judge.rejudge      judge     problem and model    trees.rejudge
    extract        rader.querygen.extract   querygen  problem              querygen.tasks
    querygen       rader.querygen.generate  querygen  problem and type     querygen.tasks
    judge_queries  rader.judge.queries      judge     problem and type     querygen.tasks
    embed          rader.embed.shard        embed     corpus shard         retrieval.embed_job
    train          rader.train.run          train     checkpoint           train.job
    eval           rader.eval.run           eval      evaluation           evaluation.job

**Adding a stage** is its body module (``body(ctx: JobContext) -> Outcome``) and one
:class:`Stage` line below; the task, its route and its queue follow from the line.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from rader_queue.errors import PayloadError

if TYPE_CHECKING:
    from rader_queue.job_context import JobContext, Outcome

# What one job of a stage covers (``Stage.kind``).
JOB_KINDS = ("problem", "problem-model", "problem-type", "corpus-shard", "checkpoint",
             "evaluation")


@dataclass(frozen=True)
class Stage:
    name: str                       # jobs.stage
    task: str                       # Celery task name; its one argument is the job id
    queue: str                      # Celery queue its messages wait on
    kind: str                       # what one job covers (JOB_KINDS)
    payload: str                    # "module:Class" of jobs.payload, validated before the body
    body: str                       # "module:function", (JobContext) -> Outcome
    needs_generator: bool = False   # calls the generator endpoint (worker refuses without one)
    needs_embedder: bool = False    # encodes text with the embedder
    needs_gpu: bool = False         # one job at a time per GPU (solo pool)
    adds: tuple[str, ...] = ()      # stages whose jobs this one adds; published after it

    def __post_init__(self) -> None:
        if self.kind not in JOB_KINDS:
            raise ValueError(f"stage {self.name}: kind {self.kind!r} not in {JOB_KINDS}")

    def body_function(self) -> Callable[[JobContext], Outcome]:
        return _resolve(self.body)

    def payload_model(self) -> type[BaseModel]:
        return _resolve(self.payload)

    def validate(self, payload: Any) -> BaseModel:
        """The payload as this stage's model; :class:`PayloadError` naming each bad field."""
        try:
            return self.payload_model().model_validate(payload if payload is not None else {})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'payload'}: {err['msg']}"
                for err in exc.errors())
            raise PayloadError(f"{self.name} job payload is malformed: {problems}") from None


def _resolve(reference: str):
    """``"module:name"`` → the object (stage packages are imported when a job of theirs runs)."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


Q, QG = "rader_queue.queue.payloads:", "rader_queue.querygen.payloads:"
STAGES: tuple[Stage, ...] = (
    Stage("mcts", "rader.mcts.solve", "mcts", "problem", Q + "ProblemPayload",
          "rader_queue.trees.solve:solve_problem", needs_generator=True, needs_embedder=True),
    Stage("judge", "rader.judge.rejudge", "judge", "problem-model", Q + "RejudgePayload",
          "rader_queue.trees.rejudge:rejudge_problem", needs_generator=True),
    Stage("extract", "rader.querygen.extract", "querygen", "problem", QG + "ExtractPayload",
          "rader_queue.querygen.tasks:extract", adds=("judge_queries",)),
    Stage("querygen", "rader.querygen.generate", "querygen", "problem-type",
          QG + "QuerygenPayload", "rader_queue.querygen.tasks:generate",
          needs_generator=True, needs_embedder=True, adds=("judge_queries",)),
    Stage("judge_queries", "rader.judge.queries", "judge", "problem-type",
          QG + "JudgeQueriesPayload", "rader_queue.querygen.tasks:judge", needs_generator=True),
    Stage("embed", "rader.embed.shard", "embed", "corpus-shard", Q + "EmbedShardPayload",
          "rader_queue.retrieval.embed_job:embed_shard_job", needs_embedder=True),
    Stage("train", "rader.train.run", "train", "checkpoint", "rader_queue.train.job:TrainPayload",
          "rader_queue.train.job:train_job", needs_gpu=True),
    Stage("eval", "rader.eval.run", "eval", "evaluation", "rader_queue.evaluation.job:EvalPayload",
          "rader_queue.evaluation.job:eval_job", needs_gpu=True),
)

BY_NAME: dict[str, Stage] = {s.name: s for s in STAGES}
BY_TASK: dict[str, Stage] = {s.task: s for s in STAGES}
STAGE_NAMES: tuple[str, ...] = tuple(BY_NAME)
# Queues in pipeline order, each once.
QUEUES: tuple[str, ...] = tuple(dict.fromkeys(s.queue for s in STAGES))


def get(name: str) -> Stage:
    """The stage called ``name``; :class:`PayloadError` (a permanent job failure) if none is."""
    stage = BY_NAME.get(name)
    if stage is None:
        raise PayloadError(f"unknown stage {name!r}; known: {', '.join(STAGE_NAMES)}")
    return stage


def for_task(task_name: str) -> Stage | None:
    return BY_TASK.get(task_name)


def generator_queues() -> tuple[str, ...]:
    """Queues with a stage that calls the generator (a worker on them needs an endpoint)."""
    return tuple(dict.fromkeys(s.queue for s in STAGES if s.needs_generator))


def gpu_queues() -> tuple[str, ...]:
    """Queues whose every stage needs a GPU: their workers run one job at a time."""
    return tuple(q for q in QUEUES if all(s.needs_gpu for s in STAGES if s.queue == q))


def order(stage_name: str) -> int:
    """Position of a stage in pipeline order (status lists stages this way); unknown last."""
    return STAGE_NAMES.index(stage_name) if stage_name in BY_NAME else len(STAGE_NAMES)


def check() -> None:
    """The table's invariants: unique names and tasks, ``adds`` naming stages."""
    if len(BY_NAME) != len(STAGES) or len(BY_TASK) != len(STAGES):
        raise ValueError("stage names and task names must be unique")
    for stage in STAGES:
        for added in stage.adds:
            if added not in BY_NAME:
                raise ValueError(f"stage {stage.name} adds unknown stage {added!r}")


check()
