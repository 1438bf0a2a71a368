"""The payload of each stage's jobs (``jobs.payload``), as pydantic models.

A job's payload is validated against its stage's model at the task boundary
(:func:`rader_queue.queue.job_runner.execute`), before any work: a payload that does not fit
fails the job at once with a :class:`~rader_queue.errors.PayloadError` naming the field, instead
of an exception deep inside the stage's body. Models forbid unknown fields, so a misspelt key is
an error too. The payloads of stages with a config of their own live beside it, in the stage's
package (``querygen/payloads.py``, ``train/job.py``, ``evaluation/job.py``); the registry names
them as ``"module:Class"``, so the queue does not import the stages it runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rader_queue.errors import RaderError


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def valid_config(config_model: Any, what: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A field check: the dict must validate as ``config_model`` (a stage's pydantic config);
    its error becomes the field's (``not a valid <what>: …``). Use as
    ``_config = field_validator("config")(valid_config(TrainConfig, "training config"))``."""
    def check(value: dict[str, Any]) -> dict[str, Any]:
        try:
            config_model.model_validate(value)
        except (RaderError, TypeError, ValueError) as exc:
            raise ValueError(f"not a valid {what}: {exc}") from exc
        return value

    return check


class ProblemPayload(Payload):
    """mcts: everything a search needs is the problem and the run's config."""


class RejudgePayload(Payload):
    model: str = Field(min_length=1)
    base_url: str | None = None


class EmbedShardPayload(Payload):
    corpus: str = Field(min_length=1)
    shard: int = Field(ge=0)
    num_shards: int = Field(ge=1)
    model: str | None = None

    @model_validator(mode="after")
    def _shard_in_range(self) -> EmbedShardPayload:
        if self.shard >= self.num_shards:
            raise ValueError(f"shard {self.shard} is not below num_shards {self.num_shards}")
        return self
