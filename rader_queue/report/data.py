"""What a run report reads from the SQL store, as plain records.

Everything is read in a few grouped queries per run, and the per-problem tables (tree nodes,
solutions, retrievals, judgements) in chunks of problems, so a report of thousands of problems
issues tens of queries rather than thousands."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict, namedtuple
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, func, select
from sqlalchemy.orm import Session

from rader_queue.querygen.options import QUERY_TYPES
from rader_queue.queue.status import RunStatus, find_run, run_status
from rader_queue.store.models import (Checkpoint, Dataset, EvalResult, Job, JobState, Judgement,
                                      LLMCall, Problem, Retrieval, Run, Solution, TrainingExample,
                                      TrainingLog, TreeNode)



@dataclass
class Cost:
    """LLM cost ledger totals (one stage, one problem, or the whole run)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cache_hits: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Cost) -> None:
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.seconds += other.seconds
        self.cache_hits += other.cache_hits

    @classmethod
    def total(cls, costs: Iterable[Cost]) -> Cost:
        total = cls()
        for cost in costs:
            total.add(cost)
        return total


@dataclass
class JobInfo:
    stage: str
    state: str
    attempts: int
    last_error: str | None


@dataclass
class Failure:
    stage: str
    problem_id: int | None
    source_id: str | None
    attempts: int
    last_error: str
    finished_at: dt.datetime | None


@dataclass
class ProblemInfo:
    id: int
    source_id: str
    position: int
    text: str
    gold_answer: str | None
    finished: bool
    jobs: list[JobInfo] = field(default_factory=list)
    cost_by_stage: dict[str, Cost] = field(default_factory=dict)

    @property
    def cost(self) -> Cost:
        return Cost.total(self.cost_by_stage.values())

    @property
    def failed_jobs(self) -> list[JobInfo]:
        return [j for j in self.jobs if j.state == JobState.FAILED]


@dataclass
class TreeRows:
    """The stored tree of one problem, as rows of the four tree tables."""

    nodes: list[Any] = field(default_factory=list)
    solutions: list[Any] = field(default_factory=list)
    retrievals: list[Any] = field(default_factory=list)
    judgements: list[Any] = field(default_factory=list)


@dataclass
class Overview:
    run: Run
    status: RunStatus
    cost_by_stage: dict[str, Cost]
    failures: list[Failure]
    failures_total: int
    # issue 17: mean wall seconds of a finished job (finished_at - started_at) per stage; the
    # ledger's ``seconds`` sum the latency of concurrent calls, which is not time per problem.
    wall_by_stage: dict[str, float] = field(default_factory=dict)

    @property
    def cost(self) -> Cost:
        return Cost.total(self.cost_by_stage.values())

    @property
    def wall_per_problem(self) -> float | None:
        """Wall seconds one problem spends in its jobs (sum of the stages' means)."""
        return sum(self.wall_by_stage.values()) if self.wall_by_stage else None


@dataclass
class DatasetView:
    id: int
    name: str
    version: int
    path: str | None
    config: dict[str, Any]
    counts: dict[str, int]
    samples: dict[str, list[Any]]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class TrainingView:
    checkpoints: list[Checkpoint]
    losses: dict[str, list[tuple[int, float]]]
    evals: list[EvalResult]
    run_models: set[str]


def _cost(calls: int, prompt: Any, completion: Any, seconds: Any, hits: Any) -> Cost:
    return Cost(int(calls or 0), int(prompt or 0), int(completion or 0), float(seconds or 0.0),
                int(hits or 0))


def _cost_columns() -> tuple[Any, ...]:
    return (func.count(), func.sum(LLMCall.prompt_tokens), func.sum(LLMCall.completion_tokens),
            func.sum(LLMCall.latency_s),
            func.sum(func.cast(LLMCall.cache_hit, Integer)))


def load_overview(session: Session, run_name: str, max_failures: int = 200) -> Overview:
    run = find_run(session, run_name)
    status = run_status(session, run_name)
    cost_by_stage = {stage: _cost(*rest) for stage, *rest in session.execute(
        select(LLMCall.stage, *_cost_columns()).where(LLMCall.run_id == run.id)
        .group_by(LLMCall.stage).order_by(LLMCall.stage))}
    failed = [Job.run_id == run.id, Job.state == JobState.FAILED]
    total = session.scalar(select(func.count()).select_from(Job).where(*failed)) or 0
    rows = session.execute(
        select(Job.stage, Job.problem_id, Problem.source_id, Job.attempts, Job.last_error,
               Job.finished_at).outerjoin(Problem, Problem.id == Job.problem_id)
        .where(*failed).order_by(Job.stage, Job.id).limit(max_failures)).all()
    failures = [Failure(s, p, src, a or 0, e or "", f) for s, p, src, a, e, f in rows]
    return Overview(run, status, cost_by_stage, failures, int(total),
                    wall_by_stage=_wall_by_stage(session, run.id))


def _wall_by_stage(session: Session, run_id: int) -> dict[str, float]:
    """Mean ``finished_at - started_at`` of the run's finished jobs, per stage (clock values
    from the store: a negative or missing duration is skipped)."""
    sums: dict[str, list[float]] = {}
    for stage, started, finished in session.execute(
            select(Job.stage, Job.started_at, Job.finished_at).where(
                Job.run_id == run_id, Job.started_at.is_not(None),
                Job.finished_at.is_not(None))):
        if started.tzinfo is None:
            started = started.replace(tzinfo=dt.timezone.utc)
        if finished.tzinfo is None:
            finished = finished.replace(tzinfo=dt.timezone.utc)
        seconds = (finished - started).total_seconds()
        if seconds >= 0:
            acc = sums.setdefault(stage, [0.0, 0])
            acc[0] += seconds
            acc[1] += 1
    return {stage: total / n for stage, (total, n) in sums.items()}


def load_problems(session: Session, run_id: int) -> list[ProblemInfo]:
    """Every problem of the run in position order, with its jobs and cost per stage."""
    problems = [ProblemInfo(pid, src, pos, text, gold, fin is not None)
                for pid, src, pos, text, gold, fin in session.execute(
                    select(Problem.id, Problem.source_id, Problem.position, Problem.text,
                           Problem.gold_answer, Problem.finished_at)
                    .where(Problem.run_id == run_id).order_by(Problem.position, Problem.id))]
    by_id = {p.id: p for p in problems}
    for pid, stage, state, attempts, error in session.execute(
            select(Job.problem_id, Job.stage, Job.state, Job.attempts, Job.last_error)
            .where(Job.run_id == run_id, Job.problem_id.is_not(None)).order_by(Job.id)):
        if pid in by_id:
            by_id[pid].jobs.append(JobInfo(stage, state, attempts or 0, error))
    for pid, stage, *rest in session.execute(
            select(LLMCall.problem_id, LLMCall.stage, *_cost_columns())
            .where(LLMCall.run_id == run_id, LLMCall.problem_id.is_not(None))
            .group_by(LLMCall.problem_id, LLMCall.stage)):
        if pid in by_id:
            by_id[pid].cost_by_stage[stage] = _cost(*rest)
    return problems


NodeRow = namedtuple("NodeRow", "problem_id node_id parent_node_id node_type depth text q n reward "
                                 "terminal rollout_id doc_id extra")
SolutionRow = namedtuple("SolutionRow", "problem_id kind rollout_id node_id reward has_retrieval")
RetrievalRow = namedtuple("RetrievalRow", "problem_id qg_node_id rank doc_id score query retriever")
JudgementRow = namedtuple("JudgementRow", "problem_id qg_node_id doc_id rank label reason model source")

# (TreeRows attribute, row type, table, ORDER BY within a problem)
_TREE_TABLES = (
    ("nodes", NodeRow, TreeNode, ("node_id",)),
    ("solutions", SolutionRow, Solution, ("kind", "node_id", "rollout_id")),
    ("retrievals", RetrievalRow, Retrieval, ("qg_node_id", "rank")),
    ("judgements", JudgementRow, Judgement, ("qg_node_id", "id")),
)


def iter_trees(session: Session, problem_ids: Sequence[int],
               chunk: int = 200) -> Iterator[tuple[int, TreeRows]]:
    """(problem id, its tree rows) for each id, in the given order, reading ``chunk`` problems
    per round of queries. Rows are plain named tuples (cheap to pickle to page renderers)."""
    for start in range(0, len(problem_ids), chunk):
        ids = list(problem_ids[start:start + chunk])
        trees: dict[int, TreeRows] = defaultdict(TreeRows)
        for attr, row_type, model, order in _TREE_TABLES:
            cols = [getattr(model, name) for name in row_type._fields]
            stmt = (select(*cols).where(model.problem_id.in_(ids))
                    .order_by(model.problem_id, *(getattr(model, name) for name in order)))
            for row in session.execute(stmt):
                getattr(trees[row[0]], attr).append(row_type._make(row))
        for pid in ids:
            yield pid, trees.get(pid) or TreeRows()


def load_datasets(session: Session, run_id: int, sample_rows: int) -> list[DatasetView]:
    views = []
    for ds in session.scalars(select(Dataset).where(Dataset.run_id == run_id)
                              .order_by(Dataset.name, Dataset.version)):
        counts = {qt: int(c) for qt, c in session.execute(
            select(TrainingExample.query_type, func.count()).where(TrainingExample.dataset_id == ds.id)
            .group_by(TrainingExample.query_type).order_by(TrainingExample.query_type))}
        samples = {qt: list(session.scalars(
            select(TrainingExample).where(TrainingExample.dataset_id == ds.id,
                                          TrainingExample.query_type == qt)
            .order_by(TrainingExample.id).limit(sample_rows))) for qt in counts}
        views.append(DatasetView(ds.id, ds.name, ds.version, ds.path, ds.config or {}, counts,
                                 samples))
    return views


def load_training(session: Session, dataset_ids: Sequence[int]) -> TrainingView:
    """Checkpoints trained on the run's datasets, their loss curves, and the evaluations of
    those checkpoints together with every other model evaluated on the same benchmarks (the
    baselines they are compared with)."""
    checkpoints = list(session.scalars(select(Checkpoint).where(Checkpoint.dataset_id.in_(
        list(dataset_ids))).order_by(Checkpoint.id))) if dataset_ids else []
    losses: dict[str, list[tuple[int, float]]] = {}
    names = {c.id: c.name for c in checkpoints}
    if checkpoints:
        for cid, step, loss in session.execute(
                select(TrainingLog.checkpoint_id, TrainingLog.step, TrainingLog.loss)
                .where(TrainingLog.checkpoint_id.in_(list(names))).order_by(TrainingLog.step)):
            losses.setdefault(names[cid], []).append((step, loss))
    run_models = {v for c in checkpoints for v in (c.name, c.adapter_path, c.merged_path) if v}
    evals: list[EvalResult] = []
    if run_models:
        own = list(session.scalars(select(EvalResult).where(EvalResult.model.in_(run_models))))
        benchmarks = {e.benchmark for e in own}
        evals = list(session.scalars(select(EvalResult).where(
            EvalResult.benchmark.in_(benchmarks)).order_by(EvalResult.benchmark,
                                                           EvalResult.model))) if benchmarks else []
    return TrainingView(checkpoints, losses, evals, run_models)
