"""Options of the extraction / query-generation / query-judge stages, and the stable ids and
seeds they derive.

The options travel in each job's payload (``QuerygenOptions.model_dump(mode="json")``) and are recorded with
every dataset built from the rows, so a dataset says which trajectories it was cut from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import ConfigDict, Field, field_validator

from rader_queue.config_model import StrictConfig
from rader_queue.errors import InputError

# Every query type, in canonical order: the CLI, presets, datasets and the report read this.
QUERY_TYPES: tuple[str, ...] = ("qcot", "qquestion", "qllmq", "qlexical")
STATIC_TYPES: tuple[str, ...] = ("qcot", "qquestion")     # written by the extract job, no LLM
# one querygen job per problem each; querygen.tasks.LLM_QUERY_TYPES says how each is generated
LLM_TYPES: tuple[str, ...] = tuple(t for t in QUERY_TYPES if t not in STATIC_TYPES)
KEY_MAX = 300


def parse_types(types: str | Iterable[str] | None) -> tuple[str, ...]:
    """Query types from ``"qcot,qllmq"`` or a list, in canonical order; unknown → InputError."""
    if types is None:
        return QUERY_TYPES
    items = types.split(",") if isinstance(types, str) else list(types)
    wanted = [t.strip().lower() for t in items if t and t.strip()]
    unknown = sorted(set(wanted) - set(QUERY_TYPES))
    if unknown:
        raise InputError(f"unknown query type(s) {', '.join(unknown)}; known: {', '.join(QUERY_TYPES)}",
                         field="types")
    if not wanted:
        raise InputError("no query type given", field="types")
    return tuple(t for t in QUERY_TYPES if t in wanted)


class QuerygenOptions(StrictConfig):
    """How trajectories become query rows.

    ``min_reward``: only trajectories whose terminal reward is at least this (``None``: every
    trajectory with a retrieval node). ``unparsed_as_negative``: whether a theorem whose
    self-reflection verdict could not be parsed (label None) counts as a hard negative; by
    default it does not, because the model never said it was irrelevant and a false negative
    hurts contrastive training more than a missing one.
    """

    model_config = ConfigDict(frozen=True)
    config_label = "querygen option"

    # stored payloads hold JSON lists: the tuples accept them
    types: Annotated[tuple[str, ...], Field(strict=False)] = QUERY_TYPES
    min_reward: float | None = 1.0
    judge: bool = False
    seed: int | None = None                 # None: the run's MCTS seed
    unparsed_as_negative: bool = False
    max_overlap: Annotated[float, Field(gt=0.0, le=1.0)] | None = 0.6
                                            # qllmq: share of query words found in the theorem;
                                            # None: no overlap filter (the paper has none)
    lexical_top: Annotated[int, Field(ge=1)] = 20   # qlexical round trip: BM25 rank of the theorem
    lexical_bm25_ranks: Annotated[tuple[int, int], Field(strict=False)] = (31, 50)
    lexical_bm25_samples: Annotated[int, Field(ge=0)] = 10
    lexical_dense_top: Annotated[int, Field(ge=0)] = 10   # 0: no dense negatives for qlexical
    temperature: float = 0.8
    lexical_temperature: float = 1.0
    top_p: float = 0.95
    max_tokens: int = 512
    judge_max_tokens: int = 120
    max_theorem_chars: int = 1500

    @field_validator("types", mode="before")
    @classmethod
    def _canonical_types(cls, value: object) -> tuple[str, ...]:
        """``"qcot,qllmq"`` or a list → canonical order; unknown types raise InputError (field
        'types'), as the command line's ``--types`` does."""
        return parse_types(value)  # type: ignore[arg-type]

    @field_validator("lexical_bm25_ranks")
    @classmethod
    def _ordered_ranks(cls, value: tuple[int, int]) -> tuple[int, int]:
        lo, hi = value
        if not 1 <= lo <= hi:
            raise ValueError("must be 1 <= low <= high")
        return value

    @property
    def variant(self) -> str:
        """Suffix of job keys: a querygen with another reward filter is other work."""
        if self.min_reward is None:
            return ":all-rewards"
        return "" if self.min_reward == 1.0 else f":min-reward={self.min_reward:g}"


def run_seed(run_config: dict[str, Any], options: QuerygenOptions) -> int:
    """The seed everything derives from: the option, else the run's MCTS seed, else 42."""
    if options.seed is not None:
        return int(options.seed)
    return int((run_config.get("mcts") or {}).get("seed", 42))


def derive_seed(seed: int, *parts: object) -> int:
    """A request seed from the run seed and stable ids (same inputs → same seed, < 2**31)."""
    digest = hashlib.sha256(json.dumps([seed, *parts], default=str).encode()).hexdigest()
    return int(digest[:12], 16) % (2 ** 31)


def row_key(*parts: object) -> str:
    """``generated_queries.key``: ``type:part:part``; long keys keep a hash tail (UNIQUE, ≤300)."""
    key = ":".join(str(p) for p in parts)
    if len(key) <= KEY_MAX:
        return key
    tail = hashlib.sha256(key.encode()).hexdigest()[:16]
    return key[:KEY_MAX - 17] + "~" + tail
