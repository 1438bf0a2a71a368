"""One configuration through rader-queue's trainer or through Tevatron's training driver."""

from __future__ import annotations

import json
import shutil
import sys
import time
import traceback
from pathlib import Path

from .figures import _figures, _peak_last, _reset, _track_peak
from .synthetic import LORA_TARGETS, PAPER, QUERY_WORDS, random_weights


def run_rader(name: str, model_dir: Path, data: Path, out: Path, p_len: int, steps: int,
              warm: int, device: str, peak: float, overrides: dict) -> dict:
    """One configuration through rader-queue's own trainer (what the train worker calls)."""
    from rader_queue.errors import ConfigError
    from rader_queue.train.config import TrainConfig
    from rader_queue.train.fit import ModelShape, estimate_memory, step_tokens
    from rader_queue.train.trainer import train
    from transformers import AutoConfig

    cfg = TrainConfig(**{**PAPER, "base_model": str(model_dir), "passage_max_len": p_len,
                         "max_steps": steps, "bf16": device != "cpu", **overrides})
    shape = ModelShape.from_config(AutoConfig.from_pretrained(model_dir))
    est = estimate_memory(shape, tokens=step_tokens(cfg), lora=cfg.lora, lora_r=cfg.lora_r,
                          checkpointing=cfg.gradient_checkpointing, bf16=cfg.resolved_bf16(),
                          trainable_layers=cfg.trainable_last_layers)
    row = {"name": name, "framework": "rader-queue", "passage_len": p_len,
           "estimate_gib": round(est.total / 2 ** 30, 1), **overrides}
    times: list[float] = []
    _reset(device)

    def tick(step, loss, lr):  # float(loss) in train() has synchronised with the GPU
        times.append(time.perf_counter())
        _track_peak(device)
        row["last_loss"] = round(loss, 4)

    try:
        with random_weights(model_dir, device):
            train(cfg, data, out / name, callback=tick, save=False)
    except ConfigError as exc:
        return row | {"refused": str(exc)}
    except Exception as exc:  # noqa: BLE001 - an OOM or a crash is a result here
        return row | {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    finally:
        _reset(device)
    q_len = min(QUERY_WORDS + 1, cfg.query_max_len)
    q_len = -(-q_len // 16) * 16
    return row | _figures(name, shape, times, warm, cfg.per_device_batch_size, q_len, p_len,
                          cfg.train_group_size, peak, _peak_last[0], lora=cfg.lora,
                          ckpt=cfg.gradient_checkpointing, trainable_layers=cfg.trainable_last_layers)


def run_tevatron(name: str, model_dir: Path, data: Path, out: Path, p_len: int, steps: int,
                 warm: int, device: str, peak: float, tevatron_src: Path) -> dict:
    """The same job through Tevatron's ``driver/train.py`` main() (HF Trainer + DenseModel).
    ``datasets`` is not on the GPU image: its ``load_dataset('json')`` is replaced by a JSONL
    reader returning the same rows."""
    import types

    import torch
    from rader_queue.train.fit import ModelShape
    from transformers import AutoConfig, TrainerCallback

    import transformers.trainer  # noqa: F401 - imported before any stand-in below

    sys.path.insert(0, str(tevatron_src))
    shim = None
    try:
        import datasets  # noqa: F401
    except ImportError:  # only Tevatron's dataset.py sees the stand-in; removed right after
        shim = types.ModuleType("datasets")
        shim.load_dataset = lambda *a, data_files=None, **k: [
            json.loads(line) for line in open(data_files)]
        shim.load_from_disk = lambda *a, **k: None
        sys.modules["datasets"] = shim
    try:
        from tevatron.retriever.driver import train as driver
        from tevatron.retriever.trainer import TevatronTrainer
    finally:
        if shim is not None:
            sys.modules.pop("datasets", None)

    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times.append(time.perf_counter())
            _track_peak(device)

    class Timed(TevatronTrainer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.add_callback(Clock())

        def save_model(self, *a, **k):  # 15 GB of random weights: not worth writing
            return None

    driver.Trainer = Timed
    outdir = out / name
    shutil.rmtree(outdir, ignore_errors=True)
    argv = ["train", "--model_name_or_path", str(model_dir), "--output_dir", str(outdir),
            "--dataset_name", "json", "--dataset_path", str(data), "--lora", "--lora_r", "16",
            "--lora_alpha", "64", "--lora_dropout", "0.1", "--lora_target_modules",
            ",".join(LORA_TARGETS), "--pooling", "eos", "--normalize", "--temperature", "0.01",
            "--append_eos_token", "--train_group_size", "12", "--query_max_len", "512",
            "--passage_max_len", str(p_len), "--pad_to_multiple_of", "16",
            "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1",
            "--learning_rate", "1e-4", "--max_steps", str(steps), "--warmup_ratio", "0",
            "--logging_steps", "1", "--save_strategy", "no", "--report_to", "none",
            "--attn_implementation", "sdpa", "--padding_side", "right",
            "--dataloader_num_workers", "0", "--seed", "42"]
    if device != "cpu":
        argv += ["--bf16", "--gradient_checkpointing"]
    else:
        argv += ["--use_cpu"]
    row = {"name": name, "framework": "tevatron", "passage_len": p_len}
    _reset(device)
    saved = sys.argv
    sys.argv = argv
    try:
        with random_weights(model_dir, device):
            driver.main()
    except Exception as exc:  # noqa: BLE001
        return row | {"error": f"{type(exc).__name__}: {str(exc)[:400]}",
                      "trace": traceback.format_exc()[-1500:]}
    finally:
        sys.argv = saved
        _reset(device)
    shape = ModelShape.from_config(AutoConfig.from_pretrained(model_dir))
    q_len = -(-(QUERY_WORDS + 1) // 16) * 16
    return row | _figures(name, shape, times, warm, 2, q_len, p_len, 12, peak, _peak_last[0],
                          lora=True, ckpt=device != "cpu", trainable_layers=None)
