"""The payload of each stage's jobs (``jobs.payload``), as pydantic models.

A job's payload is validated against its stage's model at the task boundary
(:func:`rader_queue.queue.job_runner.execute`), before any work: a payload that does not fit
fails the job at once with a :class:`~rader_queue.errors.PayloadError` naming the field, instead
of an exception deep inside the stage's body. Models forbid unknown fields, so a misspelt key is
an error too. Validators that need a stage's own config class import it lazily: this module is
imported by the stage registry, which every process loads."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator



class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProblemPayload(Payload):
    """mcts: everything a search needs is the problem and the run's config."""


class RejudgePayload(Payload):
    model: str = Field(min_length=1)
    base_url: str | None = None


def _check_querygen_options(value: dict[str, Any]) -> dict[str, Any]:
    from rader_queue.errors import RaderError
    from rader_queue.querygen.options import QuerygenOptions

    try:
        QuerygenOptions.from_dict(value)
    except (RaderError, TypeError, ValueError) as exc:
        raise ValueError(f"not valid querygen options: {exc}") from exc
    return value


def _query_type(value: str | None, *, llm_only: bool) -> str | None:
    from rader_queue.querygen.options import LLM_TYPES, QUERY_TYPES

    known = LLM_TYPES if llm_only else QUERY_TYPES
    if value not in known:
        raise ValueError(f"must be one of {', '.join(known)}, not {value!r}")
    return value


class ExtractPayload(Payload):
    options: dict[str, Any]

    _options = field_validator("options")(_check_querygen_options)


class QuerygenPayload(Payload):
    options: dict[str, Any]
    query_type: str

    _options = field_validator("options")(_check_querygen_options)

    @field_validator("query_type")
    @classmethod
    def _llm_type(cls, value: str) -> str:
        return _query_type(value, llm_only=True)


class JudgeQueriesPayload(Payload):
    options: dict[str, Any]
    query_type: str | None = None       # None: every type's rows of the problem

    _options = field_validator("options")(_check_querygen_options)

    @field_validator("query_type")
    @classmethod
    def _any_type(cls, value: str | None) -> str | None:
        return None if value is None else _query_type(value, llm_only=False)


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


class TrainPayload(Payload):
    dataset: str = Field(min_length=1)
    output_dir: str = Field(min_length=1)
    name: str = Field(min_length=1)
    config: dict[str, Any]

    @field_validator("config")
    @classmethod
    def _train_config(cls, value: dict[str, Any]) -> dict[str, Any]:
        from rader_queue.errors import RaderError
        from rader_queue.train.config import TrainConfig

        try:
            TrainConfig.from_dict(value)
        except (RaderError, TypeError, ValueError) as exc:
            raise ValueError(f"not a valid training config: {exc}") from exc
        return value


class EvalPayload(Payload):
    config: dict[str, Any]
    out_dir: str | None = None

    @field_validator("config")
    @classmethod
    def _eval_config(cls, value: dict[str, Any]) -> dict[str, Any]:
        from rader_queue.errors import RaderError
        from rader_queue.evaluation.runner import EvalConfig

        try:
            EvalConfig(**value)
        except (RaderError, TypeError, ValueError) as exc:
            raise ValueError(f"not a valid evaluation config: {exc}") from exc
        return value
