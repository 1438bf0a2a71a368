"""The ``train`` stage's body: train one retriever and record its checkpoint
(:func:`rader_queue.train.service.run_training`: the ``checkpoints`` row and its loss curve).

A training is done once: its job's idempotency key carries the checkpoint name and the payload's
hash, and a finished job is never claimed again. A relative output dir is resolved against the
worker's working directory, so the paths recorded in SQL are the ones the worker wrote (eval
workers elsewhere need absolute, shared paths)."""

from __future__ import annotations

from pathlib import Path

from typing import Any

from pydantic import Field, field_validator

from rader_queue.job_context import JobContext, Outcome
from rader_queue.queue.payloads import Payload, valid_config
from rader_queue.train.config import TrainConfig, encoding_defaults


class TrainPayload(Payload):
    dataset: str = Field(min_length=1)
    output_dir: str = Field(min_length=1)
    name: str = Field(min_length=1)
    config: dict[str, Any]

    _config = field_validator("config")(valid_config(TrainConfig, "training config"))


def train_job(ctx: JobContext) -> Outcome:
    from rader_queue.train.service import run_training

    p, settings = ctx.params, ctx.worker.settings
    summary = run_training(TrainConfig.model_validate(
        {**encoding_defaults(settings), **p.config}), p.dataset,
                           str(Path(p.output_dir).resolve()), name=p.name, db_url=settings.db_url)
    return Outcome(summary)
