import json
import math

import pytest
from pydantic import ValidationError

from rader_queue.errors import ConfigError
from rader_queue.mcts import MCTSConfig


def test_defaults_follow_the_runs():
    cfg = MCTSConfig()
    assert (cfg.rollouts, cfg.max_depth, cfg.ost_samples, cfg.crs_samples, cfg.top_k) == (16, 6, 2, 4, 5)
    assert cfg.exploration_weight == 2.0 and cfg.weight_scheduler == "const"
    assert cfg.effective_qg_budget == 3
    assert not (cfg.enable_subquestion or cfg.enable_reanswer or cfg.enable_rephrase)
    assert cfg.enable_qg and cfg.self_reflection and cfg.llm_candidate_theorems
    assert not cfg.llm_judge_fallback and not cfg.format_reward
    assert (cfg.max_tokens_ost, cfg.max_tokens_crs, cfg.max_tokens_qg) == (256, 1024, 1024)
    assert (cfg.max_tokens_summary, cfg.max_tokens_reflection, cfg.max_tokens_equiv) == (512, 200, 20)
    assert (cfg.temperature, cfg.top_p, cfg.seed) == (0.8, 0.95, 42)


def test_qg_budget_explicit_and_derived():
    assert MCTSConfig(max_depth=7).effective_qg_budget == 3
    assert MCTSConfig(qg_budget=1).effective_qg_budget == 1


def test_round_trip():
    cfg = MCTSConfig(rollouts=3, weight_scheduler="exp", format_reward=True, qg_budget=2)
    assert MCTSConfig.model_validate(cfg.model_dump()) == cfg
    assert MCTSConfig.model_validate({"exploration_weight": 1}).exploration_weight == 1.0


@pytest.mark.parametrize("data, field", [
    ({"max_depth": 0}, "max_depth"),
    ({"ost_samples": 0}, "ost_samples"),
    ({"crs_samples": -1}, "crs_samples"),
    ({"weight_scheduler": "cosine"}, "weight_scheduler"),
    ({"rollouts": True}, "rollouts"),
    ({"rollouts": "16"}, "rollouts"),
    ({"top_p": 0}, "top_p"),
    ({"qg_budget": -1}, "qg_budget"),
    ({"reward_mode": "vote"}, "reward_mode"),
    ({"exploraton_weight": 2.0}, "exploraton_weight"),
    ({"enable_reanswer": True}, "enable_reanswer"),
])
def test_validation_names_the_field(data, field):
    with pytest.raises(ConfigError, match=field):
        MCTSConfig.model_validate(data)


def test_schedulers():
    const = MCTSConfig(rollouts=16)
    assert [const.exploration_weight_at(i) for i in (0, 7, 15)] == [2.0, 2.0, 2.0]
    lin = MCTSConfig(rollouts=11, weight_scheduler="lin")
    assert lin.exploration_weight_at(0) == pytest.approx(2.0)
    assert lin.exploration_weight_at(5) == pytest.approx(2.0 * (1 - 0.9 * 0.5))
    assert lin.exploration_weight_at(10) == pytest.approx(0.2)
    exp = MCTSConfig(rollouts=11, weight_scheduler="exp")
    assert exp.exploration_weight_at(0) == pytest.approx(2.0)
    assert exp.exploration_weight_at(5) == pytest.approx(2.0 * math.sqrt(0.1))
    assert exp.exploration_weight_at(10) == pytest.approx(0.2)
    assert MCTSConfig(rollouts=1, weight_scheduler="lin").exploration_weight_at(0) == 2.0


# A ``runs.config["mcts"]`` value as stored before the configuration became a pydantic model.
STORED = {"rollouts": 4, "max_depth": 6, "ost_samples": 2, "crs_samples": 4, "qg_budget": None, "top_k": 5,
          "exploration_weight": 2, "weight_scheduler": "lin", "enable_subquestion": False,
          "enable_reanswer": False, "enable_rephrase": False, "subquestion_samples": 3, "enable_qg": True,
          "self_reflection": True, "llm_candidate_theorems": True, "max_candidate_theorems": 8,
          "reward_mode": "gold", "llm_judge_fallback": False, "format_reward": False, "temperature": 0.8,
          "top_p": 0.95, "max_tokens_ost": 256, "max_tokens_crs": 1024, "max_tokens_qg": 1024,
          "max_tokens_summary": 512, "max_tokens_reflection": 200, "max_tokens_equiv": 20,
          "max_theorem_chars": 1500, "seed": 7, "reflection_temperature": 0.8}


def test_a_stored_config_still_loads():
    cfg = MCTSConfig.model_validate(STORED)
    assert (cfg.rollouts, cfg.weight_scheduler, cfg.seed) == (4, "lin", 7)
    assert isinstance(cfg.exploration_weight, float) and cfg.model_dump() == STORED
    assert MCTSConfig.model_validate_json(json.dumps(STORED)) == cfg
    older = {k: v for k, v in STORED.items() if k != "reflection_temperature"}   # before that field
    assert MCTSConfig.model_validate(older).reflection_temperature == 0.8


def test_frozen_and_errors_are_config_errors():
    cfg = MCTSConfig()
    with pytest.raises(ValidationError):
        cfg.rollouts = 3
    with pytest.raises(ConfigError, match="'temperature'.*less than or equal to 2"):
        MCTSConfig(temperature=2.5)
    with pytest.raises(ConfigError, match="'temperature'"):
        MCTSConfig.model_validate({"temperature": float("nan")})
    with pytest.raises(ConfigError, match="valid dictionary"):
        MCTSConfig.model_validate("rollouts=3")
    with pytest.raises(ConfigError, match="'rollouts'.*'top_k'"):
        MCTSConfig.model_validate({"rollouts": 0, "top_k": 0})            # every bad field is named
