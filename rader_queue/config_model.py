"""The base of rader-queue's validated configurations (MCTS, query generation, training,
evaluation): pydantic models that reject unknown fields and wrong types, and the one place where
pydantic's ``ValidationError`` becomes the project's :class:`ConfigError` naming each bad field.

Pure: no I/O, no settings; the MCTS core builds on it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from rader_queue.errors import ConfigError


class StrictConfig(BaseModel):
    """A configuration model: unknown keys, wrong types (``"16"`` or ``true`` for an integer)
    and out-of-range values raise :class:`ConfigError` naming the field, however the model is
    built (``Model(...)``, ``Model.model_validate(dict)``, ``Model.model_validate_json``)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    # How messages name the model: "mcts config field 'top_p' ...".
    config_label: ClassVar[str] = "config"

    # The one boundary where pydantic's errors become ConfigError: every way of building a model.
    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError(describe_errors(self.config_label, exc)) from None

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as exc:
            raise ConfigError(describe_errors(cls.config_label, exc)) from None

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Self:
        try:
            return super().model_validate_json(json_data, **kwargs)
        except ValidationError as exc:
            raise ConfigError(describe_errors(cls.config_label, exc)) from None


def describe_errors(label: str, exc: ValidationError) -> str:
    """One line per bad field: ``<label> field 'name': why (got value)``."""
    lines = []
    for err in exc.errors(include_url=False):
        name = ".".join(str(part) for part in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"{label}: unknown field {name!r}")
            continue
        error = (err.get("ctx") or {}).get("error")
        why = str(error) if isinstance(error, ValueError | AssertionError) else err["msg"]
        if err["type"] == "missing":
            lines.append(f"{label} field {name!r} is required")
        elif name:
            lines.append(f"{label} field {name!r}: {why} (got {err['input']!r})")
        else:                                     # a check across fields names them itself
            lines.append(f"{label}: {why}")
    return "; ".join(lines)
