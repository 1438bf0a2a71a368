"""Multi-GPU entry point for rader-queue training.

    torchrun --nproc_per_node 4 -m rader_queue.train.launch --config run.json
    deepspeed --num_gpus 4 --module rader_queue.train.launch --config run.json
    python -m rader_queue.train.launch --config run.json          # one process

``run.json``::

    {"dataset": "data/train.jsonl",          # Tevatron JSONL or a registered dataset name
     "output_dir": "outputs/rader-minilm",
     "name": "rader-minilm",                 # optional: record checkpoint + loss curve in SQL
     "train": {"base_model": "Qwen/Qwen2.5-7B-Instruct", "pooling": "eos",
               "deepspeed": "zero3", "per_device_batch_size": 2, ...}}

Every process joins the process group described by the launcher's environment (RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT; NCCL on GPUs, gloo on CPU). Each rank trains on its
own shard of every epoch; in-batch negatives are gathered across ranks; rank 0 saves and, when
``name`` is given, writes the ``checkpoints``/``training_logs`` rows (``RADER_DATABASE_URL``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rader_queue.errors import ConfigError, RaderError


def load_run(path: str) -> dict:
    try:
        run = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read run config {path}: {exc}") from exc
    missing = [k for k in ("dataset", "output_dir") if not run.get(k)]
    if missing:
        raise ConfigError(f"run config {path}: missing {missing}")
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rader_queue.train.launch",
                                     description="Train a rader-queue retriever (one process per GPU).")
    parser.add_argument("--config", required=True, help="run JSON: dataset, output_dir, name, train")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=None,
                        help="set by the deepspeed launcher; the environment is used instead")
    args = parser.parse_args(argv)
    try:
        import torch.distributed as dist

        from rader_queue.settings import get_settings
        from rader_queue.train.config import TrainConfig, encoding_defaults
        from rader_queue.train.loss import world
        from rader_queue.train.trainer import init_distributed, train

        run = load_run(args.config)
        cfg = TrainConfig.model_validate({**encoding_defaults(get_settings()), **run.get("train", {})})
        init_distributed()
        rank, _ = world()
        if run.get("name") and rank == 0:
            from rader_queue.train.service import run_training

            summary = run_training(cfg, run["dataset"], run["output_dir"], name=run["name"])
        else:
            from rader_queue.train.service import dataset_file

            path, _ = dataset_file(None, run["dataset"])
            result = train(cfg, path, run["output_dir"])
            summary = {"steps": result.steps, "final_loss": result.final_loss,
                       "merged_path": result.merged_path, "adapter_path": result.adapter_path,
                       "world_size": world()[1], "seconds": round(result.seconds, 3),
                       "loop_seconds": round(result.loop_seconds, 3),
                       "losses": [[s, round(l, 6)] for s, l, _ in result.losses]}
        if rank == 0:
            print(json.dumps(summary))
        dist.destroy_process_group()
        return 0
    except RaderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
