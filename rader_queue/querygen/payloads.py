"""The payloads of the query-generation stages' jobs (extract, querygen, judge_queries), checked
against the query-generation options before a job's body runs (see
:mod:`rader_queue.queue.payloads`)."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from rader_queue.querygen.options import LLM_TYPES, QUERY_TYPES, QuerygenOptions
from rader_queue.queue.payloads import Payload, valid_config


_check_querygen_options = valid_config(QuerygenOptions, "set of querygen options")


def _query_type(value: str | None, *, llm_only: bool) -> str | None:
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
