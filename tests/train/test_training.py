"""Real training of the bundled MiniLM on CPU (a few steps on a tiny CHAMP-derived file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rader_queue.train.config import TrainConfig
from rader_queue.train.model import load_encoder
from rader_queue.train.trainer import deepspeed_config, train

pytestmark = [pytest.mark.model, pytest.mark.slow]    # trains MiniLM on CPU
ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["Let x_n be the number of strings of length n ending with 1.",
         "rule of sum: if there are n actions with p_i ways each, there are p_1+...+p_n ways."]


def small_config(**over) -> TrainConfig:
    base = dict(train_group_size=3, per_device_batch_size=4, query_max_len=64, passage_max_len=64,
                learning_rate=2e-3, warmup_steps=1, temperature=0.05, max_steps=8, seed=1,
                query_prefix="query: ", passage_prefix="passage: ", pooling="mean")
    base.update(over)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_jsonl):
    out = tmp_path_factory.mktemp("ckpt")
    result = train(small_config(), tiny_jsonl, out)
    return result, out


def test_loss_goes_down(trained):
    result, _ = trained
    losses = [loss for _, loss, _ in result.losses]
    assert result.steps == 8 and len(losses) == 8
    assert all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    lrs = [lr for _, _, lr in result.losses]
    assert lrs[0] == pytest.approx(2e-3) and lrs[-1] == pytest.approx(0.0)  # warmup 1, linear decay


def test_checkpoint_layout_records_encoding(trained):
    result, out = trained
    assert Path(result.adapter_path, "adapter_config.json").is_file()
    assert Path(result.merged_path, "config.json").is_file()
    meta = json.loads(Path(out, "rader_encoder.json").read_text())
    assert meta["query_prefix"] == "query: " and meta["pooling"] == "mean"
    assert meta["query_max_len"] == 64


def test_adapter_changes_embeddings_and_merged_matches(trained):
    result, _ = trained
    base = load_encoder("all-MiniLM-L6-v2", device="cpu", query_prefix="query: ",
                        passage_prefix="passage: ", query_max_len=64, passage_max_len=64)
    adapter = load_encoder(result.adapter_path, device="cpu", merge=False)
    merged = load_encoder(result.merged_path, device="cpu")
    assert adapter.spec.query_prefix == merged.spec.query_prefix == "query: "
    e_base, e_adapter, e_merged = (m.encode_passages(TEXTS) for m in (base, adapter, merged))
    assert np.abs(e_adapter - e_base).max() > 1e-3
    np.testing.assert_allclose(e_merged, e_adapter, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(e_merged, axis=1), 1.0, atol=1e-5)
    assert merged.fingerprint != base.fingerprint


def test_reranker_trains(tmp_path, tiny_jsonl):
    cfg = small_config(kind="reranker", max_steps=2, per_device_batch_size=2)
    result = train(cfg, tiny_jsonl, tmp_path, save=False)
    assert result.steps == 2 and all(np.isfinite([l for _, l, _ in result.losses]))


def test_deepspeed_config_is_concrete():
    cfg = small_config(deepspeed="zero3", per_device_batch_size=2, gradient_accumulation_steps=16)
    ds = deepspeed_config(cfg, world_size=2, hidden_size=384)
    assert ds["train_batch_size"] == 64 and ds["zero_optimization"]["stage"] == 3
    assert ds["zero_optimization"]["reduce_bucket_size"] == 384 * 384
    assert "auto" not in json.dumps(ds)


@pytest.mark.slow
def test_deepspeed_zero2_on_cpu_via_launcher(tmp_path, tiny_jsonl):
    """Two DeepSpeed ZeRO-2 steps in one gloo process, through the multi-GPU entry point.
    (The first run on a machine JIT-builds DeepSpeed's CPU comm op, about a minute.)"""
    run = {"dataset": str(tiny_jsonl), "output_dir": str(tmp_path / "out"),
           "train": small_config(deepspeed="zero2", max_steps=2).model_dump()}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(run))
    env = {**os.environ, "DS_ACCELERATOR": "cpu", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "rader_queue.train.launch", "--config", str(path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 2 and np.isfinite(summary["final_loss"])
    assert Path(summary["merged_path"], "config.json").is_file()


@pytest.mark.slow
def test_two_ranks_train_like_one_with_the_same_global_batch(tmp_path, tiny_jsonl):
    """DDP over 2 gloo processes (in-batch negatives gathered; batches built by a DataLoader
    worker per rank) gives the loss of 1 process tokenising in its loop at every step when
    dropout is off: the gathered batch is the same batch. Also guards against parameters that
    get no gradient (a BERT pooler under LoRA made DDP fail)."""
    exact = dict(dropout=0.0, lora_dropout=0.0, bf16=False, max_steps=3, save_merged=False)
    one = train(small_config(**exact), tiny_jsonl, tmp_path / "one", save=False)
    run = {"dataset": str(tiny_jsonl), "output_dir": str(tmp_path / "two"),
           "train": small_config(**exact, per_device_batch_size=2, dataloader_workers=1).model_dump()}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(run))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
                           "rader_queue.train.launch", "--config", str(path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads(proc.stdout.strip().splitlines()[-1])
    assert two["world_size"] == 2 and two["steps"] == 3
    np.testing.assert_allclose([l for _, l in two["losses"]], [l for _, l, _ in one.losses],
                               rtol=1e-4)


def test_dataloader_workers_give_the_same_batches(tmp_path, tiny_jsonl):
    """Batches built ahead by 2 worker processes are the batches the loop builds itself: the
    same loss at every step (dropout off)."""
    exact = dict(dropout=0.0, lora_dropout=0.0, bf16=False, max_steps=4, save_merged=False,
                 logging_steps=1)
    inline = train(small_config(**exact), tiny_jsonl, tmp_path / "a", save=False)
    ahead = train(small_config(**exact, dataloader_workers=2), tiny_jsonl, tmp_path / "b",
                  save=False)
    assert [s for s, _, _ in ahead.losses] == [1, 2, 3, 4]
    np.testing.assert_allclose([l for _, l, _ in ahead.losses], [l for _, l, _ in inline.losses],
                               rtol=1e-6)


def test_logging_steps_thin_the_curve(tmp_path, tiny_jsonl):
    result = train(small_config(max_steps=5, logging_steps=2), tiny_jsonl, tmp_path, save=False)
    assert [s for s, _, _ in result.losses] == [2, 4, 5] and result.steps == 5
