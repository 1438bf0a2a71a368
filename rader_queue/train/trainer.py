"""The rader-queue training loop: plain PyTorch (single process or DDP) or DeepSpeed ZeRO.

Each optimizer step covers ``per_device_batch_size × gradient_accumulation_steps × world_size``
queries. In-batch negatives span one micro-batch on all ranks (gathered), not the accumulated
micro-batches. The learning rate warms up linearly, then decays linearly to zero. Every
``logging_steps`` optimizer steps ``callback(step, loss, lr)`` is called on rank 0 (loss = mean
over the step's micro-batches), so callers can write ``training_logs`` and drive a progress bar;
between them the loop never waits for the GPU, and with ``dataloader_workers`` the next batches
are sampled and tokenised while the current one trains.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from rader_queue.errors import ConfigError
from rader_queue.ports import free_port
from rader_queue.train.config import TrainConfig
from rader_queue.train.data import Collator, GroupDataset, TrainExample, read_jsonl
from rader_queue.train.fit import check_before_loading
from rader_queue.train.loss import backward_scale, grouped_ce_loss, infonce_loss, world
from rader_queue.train.model import build_model, save_trained

Callback = Callable[[int, float, float], None]
DS_DIR = Path(__file__).parent / "deepspeed"


@dataclass
class TrainResult:
    output_dir: str
    steps: int
    total_steps: int
    losses: list[tuple[int, float, float]] = field(default_factory=list)
    adapter_path: str | None = None
    merged_path: str | None = None
    seconds: float = 0.0  # the whole call: loading, training, saving
    loop_seconds: float = 0.0  # the optimisation steps alone (what steps/s is measured on)

    @property
    def final_loss(self) -> float | None:
        return self.losses[-1][1] if self.losses else None


class _LossModule(nn.Module):
    """One forward = one micro-batch loss, so DDP/DeepSpeed see a single forward per backward."""

    def __init__(self, model: nn.Module, cfg: TrainConfig) -> None:
        super().__init__()
        self.model, self.cfg = model, cfg

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        if self.cfg.kind == "reranker":
            scores = self.model(**batch["pair"])
            return grouped_ce_loss(scores, self.cfg.train_group_size)
        q = self.model(batch["query"]["input_ids"], batch["query"]["attention_mask"])
        p = self.model(batch["passage"]["input_ids"], batch["passage"]["attention_mask"])
        return infonce_loss(q, p, self.cfg.temperature, passage_keys=batch.get("passage_keys"),
                            positive_keys=batch.get("positive_keys"))


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def linear_schedule(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    return factor


def plan_steps(cfg: TrainConfig, n_examples: int, world_size: int = 1) -> tuple[int, int, int]:
    """(micro-batches per epoch per rank, optimizer steps in total, warmup steps)."""
    per_rank = n_examples // world_size
    micro = per_rank // cfg.per_device_batch_size
    if micro < 1:
        raise ConfigError(f"TrainConfig.per_device_batch_size: {n_examples} example(s) over "
                          f"{world_size} rank(s) cannot fill one batch of {cfg.per_device_batch_size}")
    per_epoch = max(1, micro // cfg.gradient_accumulation_steps)
    # max_steps, when set, overrides epochs (the data is cycled as often as needed)
    total = cfg.max_steps if cfg.max_steps is not None else max(1, math.ceil(cfg.epochs * per_epoch))
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else int(cfg.warmup_ratio * total)
    return micro, total, min(warmup, total)


def deepspeed_config(cfg: TrainConfig, world_size: int, hidden_size: int | None = None) -> dict:
    """The shipped preset (or the user's JSON) with every batch/precision/ZeRO-bucket value made
    concrete from ``cfg``; optimizer and scheduler are ours (passed to ``deepspeed.initialize``)."""
    src = DS_DIR / f"ds_{cfg.deepspeed}.json" if cfg.deepspeed in ("zero2", "zero3") \
        else Path(cfg.deepspeed)
    data = json.loads(src.read_text())
    data.pop("optimizer", None)
    data.pop("scheduler", None)
    data.update({
        "train_micro_batch_size_per_gpu": cfg.per_device_batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "train_batch_size": cfg.per_device_batch_size * cfg.gradient_accumulation_steps * world_size,
        "gradient_clipping": cfg.max_grad_norm,
        "bf16": {"enabled": cfg.resolved_bf16()},
        "fp16": {"enabled": False},
        "zero_allow_untested_optimizer": True,
    })
    zero = data.setdefault("zero_optimization", {})
    if hidden_size:
        buckets = {"reduce_bucket_size": hidden_size * hidden_size,
                   "stage3_prefetch_bucket_size": int(0.9 * hidden_size * hidden_size),
                   "stage3_param_persistence_threshold": 10 * hidden_size}
        for key, value in buckets.items():
            if zero.get(key) == "auto" or (key in zero and cfg.deepspeed in ("zero2", "zero3")):
                zero[key] = value
    left = [k for k, v in _walk(data) if v == "auto"]
    if left:
        raise ConfigError(f"TrainConfig.deepspeed: {src} leaves 'auto' values rader-queue cannot "
                          f"fill: {left}")
    return data


def _walk(d: dict, prefix: str = ""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _walk(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def init_distributed(backend: str | None = None) -> None:
    """Join the process group described by the environment (torchrun/deepspeed launchers); a
    single process without those variables becomes a world of one (used by the DeepSpeed path)."""
    if dist.is_initialized():
        return
    for key, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"),
                       ("MASTER_ADDR", "127.0.0.1")):
        os.environ.setdefault(key, value)
    os.environ.setdefault("MASTER_PORT", str(free_port()))
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    dist.init_process_group(backend=backend)


def _device() -> torch.device:
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def _to(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, dict) or hasattr(batch, "items"):
        return {k: _to(v, device) for k, v in batch.items()}
    return batch.to(device, non_blocking=True) if isinstance(batch, torch.Tensor) else batch


def micro_batch_plan(n_examples: int, cfg: TrainConfig, rank: int, world_size: int,
                     micro_per_epoch: int, count: int) -> list[tuple[int, list[int]]]:
    """This rank's first ``count`` micro-batches as (epoch, example indices): each epoch a
    seeded permutation, dealt round-robin to the ranks, cut into per-device batches."""
    plan: list[tuple[int, list[int]]] = []
    size, epoch = cfg.per_device_batch_size, 0
    while len(plan) < count:
        order = torch.randperm(n_examples, generator=torch.Generator().manual_seed(cfg.seed + epoch))
        mine = order[rank::world_size].tolist()
        plan += [(epoch, mine[m * size:(m + 1) * size]) for m in range(micro_per_epoch)]
        epoch += 1
    return plan[:count]


class _GroupsToBatch:
    """(epoch, indices) → tokenised batch; runs in a DataLoader worker when there are workers,
    so the epoch (which seeds the negatives' sampling) travels with the indices."""

    def __init__(self, dataset: GroupDataset, collate: Collator) -> None:
        self.dataset, self.collate = dataset, collate

    def __call__(self, item: tuple[int, list[int]]) -> dict[str, Any]:
        epoch, idx = item
        self.dataset.set_epoch(epoch)
        return self.collate([self.dataset.item(i) for i in idx])


def _batches(plan: list[tuple[int, list[int]]], make: _GroupsToBatch, workers: int, pin: bool):
    """The run's batches in order: built in the loop, or by ``workers`` processes ahead of it
    (one DataLoader for the whole run, so workers start once)."""
    if workers == 0:
        return (make(item) for item in plan)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")   # the workers are the parallelism
    return torch.utils.data.DataLoader(plan, batch_size=None, collate_fn=make, num_workers=workers,
                                       pin_memory=pin, prefetch_factor=4)


def train(cfg: TrainConfig, data: str | Path | Sequence[TrainExample], output_dir: str | Path, *,
          callback: Callback | None = None, on_start: Callable[[int], None] | None = None,
          save: bool = True) -> TrainResult:
    """Train per ``cfg`` on a Tevatron JSONL file (or parsed examples); save under ``output_dir``."""
    started = time.monotonic()
    if cfg.deepspeed:
        if not torch.cuda.is_available():
            os.environ.setdefault("DS_ACCELERATOR", "cpu")
        import deepspeed

        if not dist.is_initialized():
            init_distributed()
    rank, world_size = world()
    set_seed(cfg.seed)
    examples = read_jsonl(data) if isinstance(data, (str, Path)) else list(data)
    dataset = GroupDataset(examples, cfg.train_group_size, cfg.seed)
    micro_per_epoch, total_steps, warmup = plan_steps(cfg, len(examples), world_size)
    check_before_loading(cfg)  # refuse what cannot fit the GPU before minutes of loading
    model, tokenizer = build_model(cfg)
    collate = Collator(tokenizer, cfg)
    device = _device()
    module = _LossModule(model, cfg)
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(total_steps, warmup))
    engine = None
    if cfg.deepspeed:
        hidden = getattr(getattr(model.backbone, "config", None), "hidden_size", None)
        engine, optimizer, _, scheduler = deepspeed.initialize(
            model=module, optimizer=optimizer, lr_scheduler=scheduler,
            config=deepspeed_config(cfg, world_size, hidden), dist_init_required=False)
        runner: nn.Module = engine
    else:
        module.to(device)
        runner = module
        if world_size > 1:
            runner = nn.parallel.DistributedDataParallel(
                module, device_ids=[device.index] if device.type == "cuda" else None)
    use_bf16 = cfg.resolved_bf16()
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if use_bf16 and not engine \
        else nullcontext
    if on_start and rank == 0:
        on_start(total_steps)

    result = TrainResult(output_dir=str(output_dir), steps=0, total_steps=total_steps)
    accum, step, pending = cfg.gradient_accumulation_steps, 0, []
    runner.train()
    loop_started = time.monotonic()
    plan = micro_batch_plan(len(dataset), cfg, rank, world_size, micro_per_epoch,
                            total_steps * accum)
    for host_batch in _batches(plan, _GroupsToBatch(dataset, collate),
                               cfg.dataloader_workers, pin=device.type == "cuda"):
        batch = _to(host_batch, device)
        boundary = (len(pending) + 1) == accum
        if engine is not None:
            loss = engine(batch)
            engine.backward(loss * backward_scale())
            engine.step()
        else:
            sync = runner.no_sync if (world_size > 1 and not boundary) else nullcontext
            with sync():
                with autocast():
                    loss = runner(batch)
                (loss * backward_scale() / accum).backward()
        pending.append(loss.detach())      # no float(): reading it would wait for the GPU
        if not boundary:
            continue
        if engine is None:
            if cfg.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        step += 1
        step_loss, pending = torch.stack(pending).mean(), []
        if rank == 0 and (step % cfg.logging_steps == 0 or step == total_steps):
            lr = float(scheduler.get_last_lr()[0])
            mean_loss = float(step_loss)
            result.losses.append((step, mean_loss, lr))
            if callback:
                callback(step, mean_loss, lr)
        if step >= total_steps:
            break
    result.steps = step
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    result.loop_seconds = time.monotonic() - loop_started
    if save:
        _save(model, tokenizer, output_dir, cfg, engine, rank, result)
    if world_size > 1:
        dist.barrier()
    result.seconds = time.monotonic() - started
    return result


def _save(model, tokenizer, output_dir, cfg, engine, rank, result: TrainResult) -> None:
    gather = nullcontext()
    if engine is not None and engine.zero_optimization_stage() == 3:
        import deepspeed

        gather = deepspeed.zero.GatheredParameters(list(model.parameters()), modifier_rank=None)
    with gather:
        if rank == 0:
            paths = save_trained(model, tokenizer, output_dir, cfg, merged=cfg.save_merged)
            result.adapter_path, result.merged_path = paths["adapter_path"], paths["merged_path"]
            Path(output_dir, "train_config.json").write_text(cfg.model_dump_json(indent=2))
