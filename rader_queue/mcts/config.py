"""Settings of one MCTS search (spec §S1 defaults), with validation.

``MCTSConfig.model_validate(dict)`` is how job payloads become a config: unknown keys, wrong types
and out-of-range values raise :class:`rader_queue.errors.ConfigError` naming the field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from rader_queue.config_model import StrictConfig

# The exploration weight of "lin" and "exp" decays to this fraction of c by the last rollout.
FINAL_WEIGHT_FRACTION = 0.1

Positive = Annotated[int, Field(ge=1)]
Temperature = Annotated[float, Field(ge=0.0, le=2.0)]


class MCTSConfig(StrictConfig):
    """All knobs of one search. Defaults follow the RaDeR runs (spec §S1, Table 8)."""

    model_config = ConfigDict(frozen=True)
    config_label = "mcts config"

    rollouts: Positive = 16
    max_depth: Positive = 6
    ost_samples: Positive = 2
    crs_samples: Positive = 4
    qg_budget: Annotated[int, Field(ge=0)] | None = None   # QG nodes on one path; None -> max_depth // 2
    top_k: Positive = 5
    exploration_weight: Annotated[float, Field(ge=0.0)] = 2.0
    weight_scheduler: Literal["const", "lin", "exp"] = "const"
    enable_subquestion: bool = False      # rStar A3
    enable_reanswer: bool = False         # rStar A4
    enable_rephrase: bool = False         # rStar A5
    subquestion_samples: Positive = 3
    enable_qg: bool = True
    self_reflection: bool = True
    llm_candidate_theorems: bool = True
    max_candidate_theorems: Positive = 8
    reward_mode: Literal["gold"] = "gold"
    llm_judge_fallback: bool = False
    format_reward: bool = False
    temperature: Temperature = 0.8
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 0.95
    max_tokens_ost: Positive = 256
    max_tokens_crs: Positive = 1024
    max_tokens_qg: Positive = 1024
    max_tokens_summary: Positive = 512
    max_tokens_reflection: Positive = 200
    max_tokens_equiv: Positive = 20
    max_theorem_chars: Positive = 1500
    seed: int = 42
    # Self-reflection samples at the original's temperature (0.8); its verdict is still
    # constrained by the structured-outputs format, so a sampled reply is always a readable label.
    reflection_temperature: Temperature = 0.8

    @model_validator(mode="after")
    def _reanswer_needs_subquestions(self) -> MCTSConfig:
        if self.enable_reanswer and not self.enable_subquestion:
            raise ValueError("field 'enable_reanswer' needs 'enable_subquestion' "
                             "(A4 re-answers sub-questions)")
        return self

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
