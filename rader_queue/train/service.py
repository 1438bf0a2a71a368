"""Train-and-record: what the ``rader.train.run`` task and ``rader-queue train --local`` do.

The dataset argument is a Tevatron JSONL path or a registered dataset (``name`` or
``name@version``); a registered dataset without a file is exported from ``training_examples``.
The checkpoint row goes to ``running`` at the start, ``done`` with its paths at the end and
``failed`` on an error; the loss curve is flushed to ``training_logs`` every few steps.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from rader_queue.errors import InputError
from rader_queue.settings import get_settings
from rader_queue.store.db import session_scope
from rader_queue.store.models import JobState, TrainingExample
from rader_queue.train import records
from rader_queue.train.config import TrainConfig
from rader_queue.train.data import write_jsonl
from rader_queue.train.trainer import TrainResult, train


def dataset_file(db_url: str | None, dataset: str) -> tuple[Path, int | None]:
    """(JSONL path, dataset id or None) for a path or a registered dataset name."""
    if Path(dataset).is_file():
        return Path(dataset), None
    dataset_id, path = records.resolve_dataset(db_url, dataset)
    if dataset_id is None:
        raise InputError("neither a file nor a registered dataset", source=dataset, field="dataset")
    if path and Path(path).is_file():
        return Path(path), dataset_id
    with session_scope(db_url) as s:
        rows = s.scalars(select(TrainingExample).where(TrainingExample.dataset_id == dataset_id)
                         .order_by(TrainingExample.id)).all()
        out = [{"query_id": r.query_id, "query": r.query, "positive_passages": r.positive_passages,
                "negative_passages": r.negative_passages} for r in rows]
    if not out:
        raise InputError("registered dataset has no training examples", source=dataset)
    target = get_settings().cache_dir / "train_data" / f"dataset-{dataset_id}.jsonl"
    return write_jsonl(target, out), dataset_id


def run_training(cfg: TrainConfig, dataset: str, output_dir: str | Path, *, name: str,
                 db_url: str | None = None,
                 callback: Callable[[int, float, float], None] | None = None,
                 on_start: Callable[[int], None] | None = None,
                 flush_every: int = 10) -> dict[str, Any]:
    """Train, save and record; returns a JSON-able summary (checkpoint id, paths, losses)."""
    path, dataset_id = dataset_file(db_url, dataset)
    config = cfg.model_dump() | {"dataset": str(dataset), "output_dir": str(output_dir)}
    ckpt_id = records.start_checkpoint(db_url, name, base_model=cfg.base_model, config=config,
                                       dataset_id=dataset_id)
    buffer: list[tuple[int, float, float]] = []

    def on_step(step: int, loss: float, lr: float) -> None:
        buffer.append((step, loss, lr))
        if len(buffer) >= flush_every:
            records.log_steps(db_url, ckpt_id, buffer)
            buffer.clear()
        if callback:
            callback(step, loss, lr)

    try:
        result: TrainResult = train(cfg, path, output_dir, callback=on_step, on_start=on_start)
    except BaseException:
        if buffer:
            records.log_steps(db_url, ckpt_id, buffer)
        records.finish_checkpoint(db_url, ckpt_id, state=JobState.FAILED)
        raise
    if buffer:
        records.log_steps(db_url, ckpt_id, buffer)
    records.finish_checkpoint(db_url, ckpt_id, steps=result.steps, adapter_path=result.adapter_path,
                              merged_path=result.merged_path)
    return {"checkpoint_id": ckpt_id, "name": name, "steps": result.steps,
            "adapter_path": result.adapter_path, "merged_path": result.merged_path,
            "output_dir": str(output_dir), "final_loss": result.final_loss,
            "first_loss": result.losses[0][1] if result.losses else None,
            "seconds": round(result.seconds, 2)}
