"""The SQL schema of rader-queue (SQLAlchemy 2.0 typed ORM; PostgreSQL and SQLite).

The store is the source of truth. Every table that a task writes has a natural UNIQUE key, so a
redelivered task (Celery on Redis is at-least-once) finds its rows already there instead of
duplicating them. Tables are created only by Alembic migrations (``rader-queue db upgrade``).

    runs ─┬─ problems ─┬─ tree_nodes            one MCTS tree per problem
          │            ├─ solutions             final and per-rollout solution leaves
          │            ├─ retrievals            top-k results of each QG node
          │            ├─ judgements            relevance verdicts (MCTS self-reflection, post-hoc)
          │            └─ generated_queries     qCoT / qquestion / qllmq / qlexical
          ├─ jobs                               one row per task, idempotency key UNIQUE
          └─ llm_calls                          cost ledger (one row per generator call)
    llm_cache                                   response cache keyed by request hash
    datasets ── training_examples               versioned Tevatron-format datasets
    checkpoints ── training_logs                trained retrievers and their loss curves
    eval_results ── eval_query_results          metrics per model × benchmark (and per query)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer,
                        MetaData, String, Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger primary keys on PostgreSQL, INTEGER (rowid alias, autoincrement) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class JobState:
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"     # `rader-queue cancel` (issue 15): workers drop its messages
    ALL = (QUEUED, RUNNING, DONE, FAILED, CANCELLED)


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    dataset: Mapped[str] = mapped_column(String(200))
    split: Mapped[str | None] = mapped_column(String(50))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    config_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)

    problems: Mapped[list[Problem]] = relationship(back_populates="run")


class Problem(Base):
    __tablename__ = "problems"
    __table_args__ = (UniqueConstraint("run_id", "source_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    source_id: Mapped[str] = mapped_column(String(300))
    position: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text)
    gold_answer: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Set only in the same transaction that writes the finished tree.
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    run: Mapped[Run] = relationship(back_populates="problems")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_run_stage_state", "run_id", "stage", "state"),
                      Index("ix_jobs_state_lease", "state", "lease_until"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"),
                                                   index=True)
    stage: Mapped[str] = mapped_column(String(40))
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    state: Mapped[str] = mapped_column(String(20), default=JobState.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    worker: Mapped[str | None] = mapped_column(String(200))
    celery_task_id: Mapped[str | None] = mapped_column(String(64))
    enqueued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ReconcileRun(Base):
    """One pass of the reconciler (:mod:`rader_queue.queue.reconcile`): what it found and did."""
    __tablename__ = "reconcile_runs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    worker: Mapped[str | None] = mapped_column(String(200))
    queued_checked: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    republished: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    released: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)


class TreeNode(Base):
    __tablename__ = "tree_nodes"
    __table_args__ = (UniqueConstraint("problem_id", "node_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"))
    node_id: Mapped[int] = mapped_column(Integer)
    parent_node_id: Mapped[int | None] = mapped_column(Integer)
    node_type: Mapped[str] = mapped_column(String(40))
    depth: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")
    q: Mapped[float] = mapped_column(Float, default=0.0)
    n: Mapped[int] = mapped_column(Integer, default=0)
    reward: Mapped[float | None] = mapped_column(Float)
    terminal: Mapped[bool] = mapped_column(Boolean, default=False)
    rollout_id: Mapped[int | None] = mapped_column(Integer)
    doc_id: Mapped[str | None] = mapped_column(String(300))
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Solution(Base):
    __tablename__ = "solutions"
    __table_args__ = (UniqueConstraint("problem_id", "kind", "rollout_id", "node_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # "final" | "rollout"
    rollout_id: Mapped[int] = mapped_column(Integer, default=-1)
    node_id: Mapped[int] = mapped_column(Integer)
    reward: Mapped[float] = mapped_column(Float, default=0.0)
    has_retrieval: Mapped[bool] = mapped_column(Boolean, default=False)


class Retrieval(Base):
    __tablename__ = "retrievals"
    __table_args__ = (UniqueConstraint("problem_id", "qg_node_id", "rank"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"))
    qg_node_id: Mapped[int] = mapped_column(Integer)
    retriever: Mapped[str] = mapped_column(String(40))
    query: Mapped[str] = mapped_column(Text)
    rank: Mapped[int] = mapped_column(Integer)
    doc_id: Mapped[str] = mapped_column(String(300))
    score: Mapped[float] = mapped_column(Float)


class Judgement(Base):
    __tablename__ = "judgements"
    __table_args__ = (UniqueConstraint("problem_id", "qg_node_id", "doc_id", "source", "model"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"))
    qg_node_id: Mapped[int] = mapped_column(Integer)
    doc_id: Mapped[str] = mapped_column(String(300))
    rank: Mapped[int | None] = mapped_column(Integer)
    label: Mapped[bool | None] = mapped_column(Boolean)  # None: verdict could not be parsed
    reason: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[str] = mapped_column(Text, default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(20), default="mcts")  # "mcts" | "posthoc"
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class GeneratedQuery(Base):
    __tablename__ = "generated_queries"
    __table_args__ = (UniqueConstraint("run_id", "key"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(300))  # TYPE:problem:qg:rt (or TYPE:doc for qlexical)
    query_type: Mapped[str] = mapped_column(String(20))  # qcot | qquestion | qllmq | qlexical
    qg_node_id: Mapped[int | None] = mapped_column(Integer)
    rt_node_id: Mapped[int | None] = mapped_column(Integer)
    positive_doc_id: Mapped[str] = mapped_column(String(300))
    query: Mapped[str] = mapped_column(Text)
    negative_doc_ids: Mapped[list[Any]] = mapped_column(default=list)
    trajectory_reward: Mapped[float | None] = mapped_column(Float)
    kept: Mapped[bool] = mapped_column(Boolean, default=True)
    reject_reason: Mapped[str | None] = mapped_column(Text)
    judge_label: Mapped[bool | None] = mapped_column(Boolean)
    judge_reason: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class LLMCall(Base):
    __tablename__ = "llm_calls"
    __table_args__ = (Index("ix_llm_calls_run_stage", "run_id", "stage"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"),
                                                   index=True)
    stage: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(200))
    n: Mapped[int] = mapped_column(Integer, default=1)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_s: Mapped[float] = mapped_column(Float, default=0.0)
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    finish_reason: Mapped[str | None] = mapped_column(String(64))   # issue 13 (migration 0003)


class LLMCacheEntry(Base):
    __tablename__ = "llm_cache"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the request
    model: Mapped[str] = mapped_column(String(200))
    # issue 13 (migration 0003): base URL in the key; NULL on entries written before it
    endpoint: Mapped[str | None] = mapped_column(String(500), index=True)
    finish_reason: Mapped[str | None] = mapped_column(String(64))
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    response: Mapped[list[Any]] = mapped_column(default=list)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class TrainingExample(Base):
    __tablename__ = "training_examples"
    __table_args__ = (UniqueConstraint("dataset_id", "query_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    query_id: Mapped[str] = mapped_column(String(300))
    query_type: Mapped[str] = mapped_column(String(20))
    query: Mapped[str] = mapped_column(Text)
    positive_passages: Mapped[list[Any]] = mapped_column(default=list)
    negative_passages: Mapped[list[Any]] = mapped_column(default=list)
    generated_query_id: Mapped[int | None] = mapped_column(
        ForeignKey("generated_queries.id", ondelete="SET NULL"))


class Checkpoint(Base):
    __tablename__ = "checkpoints"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    base_model: Mapped[str] = mapped_column(String(300))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    adapter_path: Mapped[str | None] = mapped_column(Text)
    merged_path: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default=JobState.QUEUED)
    steps: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class TrainingLog(Base):
    __tablename__ = "training_logs"
    __table_args__ = (UniqueConstraint("checkpoint_id", "step"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("checkpoints.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    loss: Mapped[float] = mapped_column(Float)
    learning_rate: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class EvalResult(Base):
    __tablename__ = "eval_results"
    __table_args__ = (UniqueConstraint("model", "benchmark", "config_hash"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    model: Mapped[str] = mapped_column(String(300))
    benchmark: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    config_hash: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    score_path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class EvalQueryResult(Base):
    __tablename__ = "eval_query_results"
    __table_args__ = (UniqueConstraint("eval_id", "query_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    eval_id: Mapped[int] = mapped_column(ForeignKey("eval_results.id", ondelete="CASCADE"))
    query_id: Mapped[str] = mapped_column(String(300))
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
