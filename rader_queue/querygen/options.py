"""Options of the extraction / query-generation / query-judge stages, and the stable ids and
seeds they derive.

The options travel in each job's payload (``QuerygenOptions.to_dict()``) and are recorded with
every dataset built from the rows, so a dataset says which trajectories it was cut from."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rader_queue.errors import ConfigError, InputError

QUERY_TYPES: tuple[str, ...] = ("qcot", "qquestion", "qllmq", "qlexical")
STATIC_TYPES: tuple[str, ...] = ("qcot", "qquestion")     # written by the extract job, no LLM
LLM_TYPES: tuple[str, ...] = ("qllmq", "qlexical")         # one querygen job per problem each
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


@dataclass(frozen=True)
class QuerygenOptions:
    """How trajectories become query rows.

    ``min_reward``: only trajectories whose terminal reward is at least this (``None``: every
    trajectory with a retrieval node). ``unparsed_as_negative``: whether a theorem whose
    self-reflection verdict could not be parsed (label None) counts as a hard negative; by
    default it does not, because the model never said it was irrelevant and a false negative
    hurts contrastive training more than a missing one.
    """

    types: tuple[str, ...] = QUERY_TYPES
    min_reward: float | None = 1.0
    judge: bool = False
    seed: int | None = None                 # None: the run's MCTS seed
    unparsed_as_negative: bool = False
    max_overlap: float | None = 0.6         # qllmq: share of query words found in the theorem;
                                            # None: no overlap filter (the paper has none)
    lexical_top: int = 20                   # qlexical round trip: BM25 rank of the theorem
    lexical_bm25_ranks: tuple[int, int] = (31, 50)
    lexical_bm25_samples: int = 10
    lexical_dense_top: int = 10             # 0: no dense negatives for qlexical
    temperature: float = 0.8
    lexical_temperature: float = 1.0
    top_p: float = 0.95
    max_tokens: int = 512
    judge_max_tokens: int = 120
    max_theorem_chars: int = 1500

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", parse_types(self.types))
        lo, hi = self.lexical_bm25_ranks
        if not 1 <= lo <= hi:
            raise ConfigError(f"lexical_bm25_ranks must be 1 <= low <= high, got {lo}-{hi}")
        if self.lexical_top < 1 or self.lexical_bm25_samples < 0 or self.lexical_dense_top < 0:
            raise ConfigError("lexical_top must be >= 1 and the negative counts >= 0")
        if self.max_overlap is not None and not 0.0 < self.max_overlap <= 1.0:
            raise ConfigError("max_overlap must be in (0, 1] or None (no overlap filter)")

    @property
    def variant(self) -> str:
        """Suffix of job keys: a querygen with another reward filter is other work."""
        if self.min_reward is None:
            return ":all-rewards"
        return "" if self.min_reward == 1.0 else f":min-reward={self.min_reward:g}"

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["types"], out["lexical_bm25_ranks"] = list(self.types), list(self.lexical_bm25_ranks)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> QuerygenOptions:
        data = dict(data or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(f"unknown querygen option(s): {', '.join(sorted(unknown))}")
        if "types" in data:
            data["types"] = tuple(data["types"])
        if "lexical_bm25_ranks" in data:
            data["lexical_bm25_ranks"] = tuple(data["lexical_bm25_ranks"])
        return cls(**data)


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
