"""Settings of one MCTS search (spec §S1 defaults), with validation.

``MCTSConfig.from_dict`` is how job payloads become a config: unknown keys, wrong types and
out-of-range values raise :class:`rader_queue.errors.ConfigError` naming the field.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from rader_queue.errors import ConfigError

SCHEDULERS = ("const", "lin", "exp")
REWARD_MODES = ("gold",)
# The exploration weight of "lin" and "exp" decays to this fraction of c by the last rollout.
FINAL_WEIGHT_FRACTION = 0.1


@dataclass(frozen=True)
class MCTSConfig:
    """All knobs of one search. Defaults follow the RaDeR runs (spec §S1, Table 8)."""

    rollouts: int = 16
    max_depth: int = 6
    ost_samples: int = 2
    crs_samples: int = 4
    qg_budget: int | None = None          # QG nodes allowed on one path; None -> max_depth // 2
    top_k: int = 5
    exploration_weight: float = 2.0
    weight_scheduler: str = "const"       # "const" | "lin" | "exp"
    enable_subquestion: bool = False      # rStar A3
    enable_reanswer: bool = False         # rStar A4
    enable_rephrase: bool = False         # rStar A5
    subquestion_samples: int = 3
    enable_qg: bool = True
    self_reflection: bool = True
    llm_candidate_theorems: bool = True
    max_candidate_theorems: int = 8
    reward_mode: str = "gold"
    llm_judge_fallback: bool = False
    format_reward: bool = False
    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens_ost: int = 256
    max_tokens_crs: int = 1024
    max_tokens_qg: int = 1024
    max_tokens_summary: int = 512
    max_tokens_reflection: int = 200
    max_tokens_equiv: int = 20
    max_theorem_chars: int = 1500
    seed: int = 42
    # issue 18: self-reflection samples at the original's temperature (0.8); its verdict is still
    # constrained by the structured-outputs format, so a sampled reply is always a readable label.
    reflection_temperature: float = 0.8

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ derived values
    @property
    def effective_qg_budget(self) -> int:
        """QG nodes allowed on one root-to-leaf path."""
        return self.max_depth // 2 if self.qg_budget is None else self.qg_budget

    def exploration_weight_at(self, rollout_id: int) -> float:
        """The UCT constant c for rollout ``rollout_id`` (0-based).

        ``const`` keeps c; ``lin`` and ``exp`` decay from c at the first rollout to
        0.1·c at the last one (linearly / geometrically).
        """
        c = self.exploration_weight
        if self.weight_scheduler == "const" or self.rollouts <= 1:
            return c
        frac = min(max(rollout_id, 0), self.rollouts - 1) / (self.rollouts - 1)
        if self.weight_scheduler == "lin":
            return c * (1.0 - (1.0 - FINAL_WEIGHT_FRACTION) * frac)
        return c * FINAL_WEIGHT_FRACTION ** frac

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise ConfigError naming the first bad field."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            default = f.default
            if f.name == "qg_budget":
                if value is not None and (not _is_int(value) or value < 0):
                    raise ConfigError(f"mcts config field 'qg_budget' must be None or an integer >= 0, got {value!r}")
                continue
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ConfigError(f"mcts config field {f.name!r} must be true or false, got {value!r}")
            elif isinstance(default, int):
                if not _is_int(value):
                    raise ConfigError(f"mcts config field {f.name!r} must be an integer, got {value!r}")
            elif isinstance(default, float):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ConfigError(f"mcts config field {f.name!r} must be a number, got {value!r}")
            elif isinstance(default, str) and not isinstance(value, str):
                raise ConfigError(f"mcts config field {f.name!r} must be a string, got {value!r}")
        minimums = {"rollouts": 1, "max_depth": 1, "ost_samples": 1, "crs_samples": 1, "top_k": 1,
                    "subquestion_samples": 1, "max_candidate_theorems": 1, "max_tokens_ost": 1,
                    "max_tokens_crs": 1, "max_tokens_qg": 1, "max_tokens_summary": 1,
                    "max_tokens_reflection": 1, "max_tokens_equiv": 1, "max_theorem_chars": 1}
        for name, low in minimums.items():
            if getattr(self, name) < low:
                raise ConfigError(f"mcts config field {name!r} must be >= {low}, got {getattr(self, name)!r}")
        if self.exploration_weight < 0:
            raise ConfigError(f"mcts config field 'exploration_weight' must be >= 0, got {self.exploration_weight!r}")
        if self.weight_scheduler not in SCHEDULERS:
            raise ConfigError(f"mcts config field 'weight_scheduler' must be one of {SCHEDULERS}, "
                              f"got {self.weight_scheduler!r}")
        if self.reward_mode not in REWARD_MODES:
            raise ConfigError(f"mcts config field 'reward_mode' must be one of {REWARD_MODES}, "
                              f"got {self.reward_mode!r}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ConfigError(f"mcts config field 'temperature' must be in [0, 2], got {self.temperature!r}")
        if not 0.0 <= self.reflection_temperature <= 2.0:
            raise ConfigError("mcts config field 'reflection_temperature' must be in [0, 2], "
                              f"got {self.reflection_temperature!r}")
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"mcts config field 'top_p' must be in (0, 1], got {self.top_p!r}")
        if self.enable_reanswer and not self.enable_subquestion:
            raise ConfigError("mcts config field 'enable_reanswer' needs 'enable_subquestion' "
                              "(A4 re-answers sub-questions)")

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "MCTSConfig":
        """Build a config from a (partial) dict; missing keys take the defaults."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ConfigError(f"mcts config must be a mapping, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown mcts config field(s): {', '.join(map(repr, unknown))}")
        values = dict(data)
        for name in ("temperature", "top_p", "exploration_weight", "reflection_temperature"):
            if name in values and _is_int(values[name]):
                values[name] = float(values[name])
        return cls(**values)

    def replace(self, **changes: Any) -> "MCTSConfig":
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
