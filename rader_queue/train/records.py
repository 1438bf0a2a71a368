"""SQL records of rader-queue training: one ``checkpoints`` row per named training run and its
loss curve in ``training_logs``. Writes are idempotent, so a redelivered train task rewrites the
same checkpoint row and never duplicates a logged step."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from rader_queue.errors import InputError
from rader_queue.store.db import insert_ignore, session_scope
from rader_queue.store.models import Checkpoint, Dataset, JobState, TrainingLog


def resolve_dataset(db_url: str | None, dataset: str) -> tuple[int | None, str | None]:
    """``name`` / ``name@version`` (latest version when omitted) → (dataset id, file path).
    A filesystem path is not a registered dataset: (None, None)."""
    name, _, version = dataset.partition("@")
    with session_scope(db_url) as s:
        stmt = select(Dataset).where(Dataset.name == name)
        if version:
            if not version.isdigit():
                raise InputError(f"dataset version must be an integer: {dataset!r}", field="dataset")
            stmt = stmt.where(Dataset.version == int(version))
        row = s.scalars(stmt.order_by(Dataset.version.desc())).first()
        return (row.id, row.path) if row else (None, None)


def start_checkpoint(db_url: str | None, name: str, *, base_model: str, config: dict[str, Any],
                     dataset_id: int | None = None) -> int:
    """Create (or reset to running) the checkpoint row called ``name``; returns its id."""
    with session_scope(db_url) as s:
        row = s.scalars(select(Checkpoint).where(Checkpoint.name == name)).first()
        if row is None:
            insert_ignore(s, Checkpoint, [{"name": name, "base_model": base_model, "config": config,
                                           "dataset_id": dataset_id, "state": JobState.RUNNING,
                                           "steps": 0}], ["name"])
            row = s.scalars(select(Checkpoint).where(Checkpoint.name == name)).one()
        else:
            row.base_model, row.config, row.dataset_id = base_model, config, dataset_id
            row.state, row.finished_at = JobState.RUNNING, None
        return row.id


def log_steps(db_url: str | None, checkpoint_id: int,
              entries: list[tuple[int, float, float | None]]) -> int:
    """Append (step, loss, lr) rows; steps already logged are left as they are."""
    rows = [{"checkpoint_id": checkpoint_id, "step": int(step), "loss": float(loss),
             "learning_rate": None if lr is None else float(lr)} for step, loss, lr in entries]
    with session_scope(db_url) as s:
        return insert_ignore(s, TrainingLog, rows, ["checkpoint_id", "step"])


def finish_checkpoint(db_url: str | None, checkpoint_id: int, *, state: str = JobState.DONE,
                      steps: int | None = None, adapter_path: str | None = None,
                      merged_path: str | None = None) -> None:
    with session_scope(db_url) as s:
        row = s.get(Checkpoint, checkpoint_id)
        row.state = state
        if steps is not None:
            row.steps = steps
        if adapter_path is not None:
            row.adapter_path = adapter_path
        if merged_path is not None:
            row.merged_path = merged_path
        row.finished_at = dt.datetime.now(dt.timezone.utc)


def checkpoint_by_name(db_url: str | None, name: str) -> dict[str, Any] | None:
    with session_scope(db_url) as s:
        row = s.scalars(select(Checkpoint).where(Checkpoint.name == name)).first()
        if row is None:
            return None
        return {c.name: getattr(row, c.name) for c in Checkpoint.__table__.columns}
