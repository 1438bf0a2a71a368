"""Preset values against the spec (rader-paper) and against rader-queue's defaults (laptop), and
how ``--preset`` combines with explicit options."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from rader_queue.errors import ConfigError
from rader_queue.mcts import MCTSConfig
from rader_queue.presets import LAPTOP, PRESETS, RADER_PAPER, environment, get_preset, train_values
from rader_queue.querygen import QuerygenOptions
from rader_queue.train.config import TrainConfig
from rader_queue.training_data import BuildOptions


def test_paper_search_values_follow_spec_s1_and_table_8():
    s = RADER_PAPER.search
    # run_MCTS.sh: --num_rollouts 16 --max_depth_allowed 6 --num_a1_steps 2, mcts_num_last_votes 4,
    # topk_rt 5, C 2.0, temperature 0.8, top-p 0.95, seed 42, --LLM_candidate_theorems,
    # --retrieval_selfreasoning, gold reward with the LLM equivalence judge behind the rules
    assert (s.rollouts, s.max_depth, s.ost_samples, s.crs_samples, s.top_k) == (16, 6, 2, 4, 5)
    assert (s.exploration_weight, s.temperature, s.top_p, s.seed) == (2.0, 0.8, 0.95, 42)
    assert s.candidate_theorems and s.self_reflection and s.llm_judge_fallback
    assert s.reflection_temperature == 0.8                     # the generator's temperature
    assert not s.format_reward                                  # paper: R = 1 if correct else 0
    assert s.corpus == "bright:theoremqa_theorems" and s.retriever == "dense"   # S0, S1.6 threshold 1.0
    assert RADER_PAPER.serving.llm_model == "Qwen/Qwen2.5-7B-Instruct"
    assert RADER_PAPER.serving.embedder_pooling == "eos" and RADER_PAPER.serving.embedder_remote
    assert (RADER_PAPER.serving.query_prefix, RADER_PAPER.serving.passage_prefix) == ("query: ", "passage: ")


def test_paper_dataset_and_training_values_follow_spec_s3_to_s5():
    d, t = RADER_PAPER.dataset, RADER_PAPER.train
    assert d.types == ("qcot", "qquestion", "qllmq", "qlexical") and d.min_reward == 1.0
    assert d.max_overlap is None                                # neither paper nor code filters
    assert d.lexical_top == 20 and d.topup_ranks == (31, 50) and d.dense_top == 10
    assert d.min_negatives == t.train_group_size - 1 == 11      # "12 hard negatives per query"
    assert t.base_model == "Qwen/Qwen2.5-7B-Instruct" and t.lora
    assert (t.lora_r, t.lora_alpha, t.lora_dropout) == (16, 64, 0.1)      # Tevatron defaults
    assert (t.temperature, t.train_group_size, t.learning_rate, t.epochs) == (0.01, 12, 1e-4, 1.0)
    assert t.pooling == "eos" and (t.query_prefix, t.passage_prefix) == ("Query: ", "Passage: ")
    assert t.passage_max_len == 3900 and t.query_max_len >= 512   # 32 is a [BUG] of the original
    assert t.queries_per_step == 64 and t.warmup_steps == 28      # 2 GPUs × 2 × accum 16; Table 10
    assert RADER_PAPER.eval.rerank_model == "Qwen/Qwen2.5-32B-Instruct" and RADER_PAPER.eval.rerank_k == 100


def test_laptop_names_todays_defaults():
    cfg, train, qg, build = MCTSConfig(), TrainConfig(), QuerygenOptions(), BuildOptions()
    s = LAPTOP.search
    assert (s.rollouts, s.max_depth, s.ost_samples, s.crs_samples, s.top_k) == \
        (cfg.rollouts, cfg.max_depth, cfg.ost_samples, cfg.crs_samples, cfg.top_k)
    assert (s.temperature, s.reflection_temperature, s.top_p) == \
        (cfg.temperature, cfg.reflection_temperature, cfg.top_p)
    t = LAPTOP.train
    for name in ("base_model", "lora_r", "lora_alpha", "temperature", "train_group_size", "query_max_len",
                 "passage_max_len", "per_device_batch_size", "gradient_accumulation_steps", "learning_rate"):
        assert getattr(t, name) == getattr(train, name), name
    assert LAPTOP.dataset.max_overlap == qg.max_overlap and LAPTOP.dataset.min_negatives == build.min_negatives
    assert environment(LAPTOP)["RADER_EMBEDDER_MODEL"] == "all-MiniLM-L6-v2"


def test_every_preset_builds_valid_configs():
    for preset in PRESETS.values():
        s = preset.search
        MCTSConfig(rollouts=s.rollouts, max_depth=s.max_depth, temperature=s.temperature,
                   reflection_temperature=s.reflection_temperature, top_p=s.top_p)
        TrainConfig.model_validate(train_values(preset.name, {}, {}, base_given=False))
        QuerygenOptions(max_overlap=preset.dataset.max_overlap, lexical_top=preset.dataset.lexical_top)
    with pytest.raises(ConfigError, match="unknown preset"):
        get_preset("paper")


def test_explicit_options_win_over_the_preset():
    merged = train_values("rader-paper", {"base_model": "all-MiniLM-L6-v2", "lr": None,
                                          "learning_rate": 5e-5}, {}, base_given=False)
    assert merged["base_model"] == "Qwen/Qwen2.5-7B-Instruct"      # --base left at its default
    assert merged["learning_rate"] == 5e-5 and merged["preset"] == "rader-paper"
    kept = train_values("rader-paper", {"base_model": "my-model"}, {}, base_given=True)
    assert kept["base_model"] == "my-model"


def test_preset_show_cli():
    from rader_queue.cli.main import app

    runner = CliRunner()
    out = runner.invoke(app, ["preset", "show", "rader-paper"], terminal_width=200)
    assert out.exit_code == 0 and "3900" in out.output and "theoremqa_theorems" in out.output
    env = runner.invoke(app, ["preset", "show", "rader-paper", "--env"])
    assert "RADER_EMBEDDER_POOLING=eos" in env.output
    bad = runner.invoke(app, ["preset", "show", "nope"])
    assert bad.exit_code != 0 and "unknown preset" in bad.output
