"""``rader-queue train``: fine-tune a retriever on a Tevatron-format dataset, on the ``train``
queue (default) or here with a live loss display (``--local``)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from rader_queue.cli.common import console, friendly_errors
from rader_queue.terminal_text import escaped
from rader_queue.errors import ConfigError


DEFAULT_BASE = "all-MiniLM-L6-v2"


def build_config(config_file: Path | None, **options) -> dict:
    """A TrainConfig dict: the JSON file's values, then every option that was given."""
    data: dict = {}
    if config_file is not None:
        try:
            data = json.loads(Path(config_file).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read --config {config_file}: {exc}") from exc
    data.update({k: v for k, v in options.items() if v is not None})
    return data


@friendly_errors
def train(
    dataset: Annotated[str, typer.Argument(help="Tevatron JSONL file (query, positive_passages, negative_passages) or a registered dataset name[@version].")],
    base: Annotated[str, typer.Option("--base", help="Base model: hub id or folder (all-MiniLM-L6-v2 is bundled offline).")] = DEFAULT_BASE,
    name: Annotated[Optional[str], typer.Option(help="Checkpoint name in SQL (default: <base>-<dataset>-<time>).")] = None,
    output_dir: Annotated[Optional[Path], typer.Option(help="Where adapter/ and merged/ are written (default outputs/checkpoints/<name>).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="TrainConfig JSON; options given here override it.")] = None,
    reranker: Annotated[bool, typer.Option("--reranker/--bi-encoder", help="Train a pointwise cross-encoder reranker instead of the bi-encoder.")] = False,
    lora: Annotated[Optional[bool], typer.Option("--lora/--full", help="LoRA adapters (default) or full fine-tuning.")] = None,
    lora_r: Annotated[Optional[int], typer.Option(min=1, help="LoRA rank (16).")] = None,
    lora_alpha: Annotated[Optional[int], typer.Option(min=1, help="LoRA alpha (64).")] = None,
    lora_dropout: Annotated[Optional[float], typer.Option(help="LoRA dropout (0.1).")] = None,
    lora_targets: Annotated[Optional[str], typer.Option(help="Comma-separated LoRA target modules (default: per architecture).")] = None,
    temperature: Annotated[Optional[float], typer.Option(help="InfoNCE temperature (0.01).")] = None,
    group_size: Annotated[Optional[int], typer.Option(min=2, help="Passages per query: 1 positive + N-1 hard negatives (12).")] = None,
    pooling: Annotated[Optional[str], typer.Option(help="mean, cls or eos (default RADER_EMBEDDER_POOLING).")] = None,
    normalize: Annotated[Optional[bool], typer.Option("--normalize/--no-normalize", help="L2-normalise embeddings (default RADER_EMBEDDER_NORMALIZE).")] = None,
    query_prefix: Annotated[Optional[str], typer.Option(help="Query prefix (default RADER_QUERY_PREFIX, the one used for indexing and eval).")] = None,
    passage_prefix: Annotated[Optional[str], typer.Option(help="Passage prefix (default RADER_PASSAGE_PREFIX).")] = None,
    query_max_len: Annotated[Optional[int], typer.Option(min=8, help="Query token limit (512: CoT queries are long).")] = None,
    passage_max_len: Annotated[Optional[int], typer.Option(min=8, help="Passage token limit (512).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Queries per device per micro-batch (8).")] = None,
    grad_accum: Annotated[Optional[int], typer.Option(min=1, help="Gradient accumulation steps (1).")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate (1e-4).")] = None,
    warmup_steps: Annotated[Optional[int], typer.Option(min=0, help="Warmup steps (default: warmup ratio × total).")] = None,
    warmup_ratio: Annotated[Optional[float], typer.Option(help="Warmup fraction when --warmup-steps is not given (0.1).")] = None,
    epochs: Annotated[Optional[float], typer.Option(help="Epochs (1).")] = None,
    max_steps: Annotated[Optional[int], typer.Option(min=1, help="Optimizer steps; overrides --epochs.")] = None,
    gradient_checkpointing: Annotated[Optional[bool], typer.Option("--gradient-checkpointing/--no-gradient-checkpointing", help="Trade compute for memory.")] = None,
    bf16: Annotated[Optional[str], typer.Option(help="auto (CUDA with bf16), on or off.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of sampling and initialisation (42).")] = None,
    deepspeed: Annotated[Optional[str], typer.Option(help="zero2, zero3 or a DeepSpeed JSON path (one process here; use `torchrun/deepspeed -m rader_queue.train.launch` for several GPUs).")] = None,
    enqueue: Annotated[bool, typer.Option("--enqueue/--local", help="Send a task to the train queue (default) or train in this process with a live loss display.")] = True,
    preset: Annotated[Optional[str], typer.Option("--preset", help="rader-paper or laptop: the preset's training values for every option not given (after --config); recorded with the checkpoint.")] = None,
) -> None:
    """Fine-tune a dense retriever (or reranker) with InfoNCE over in-batch and hard negatives.

    The checkpoint (LoRA adapter and merged model) is recorded in the checkpoints table with its
    loss curve in training_logs; evaluate it with `rader-queue eval run NAME --benchmark champ`."""
    bf16_value = None if bf16 is None else {"auto": "auto", "on": True, "off": False,
                                            "true": True, "false": False}.get(bf16.lower())
    if bf16 is not None and bf16_value is None:
        raise ConfigError(f"--bf16 must be auto, on or off (got {bf16!r})")
    data = build_config(
        config, base_model=base, kind="reranker" if reranker else None, lora=lora, lora_r=lora_r,
        lora_alpha=lora_alpha, lora_dropout=lora_dropout,
        lora_target_modules=lora_targets.split(",") if lora_targets else None,
        temperature=temperature, train_group_size=group_size, pooling=pooling, normalize=normalize,
        query_prefix=query_prefix, passage_prefix=passage_prefix, query_max_len=query_max_len,
        passage_max_len=passage_max_len, per_device_batch_size=batch_size,
        gradient_accumulation_steps=grad_accum, learning_rate=lr, warmup_steps=warmup_steps,
        warmup_ratio=warmup_ratio, epochs=epochs, max_steps=max_steps,
        gradient_checkpointing=gradient_checkpointing, bf16=bf16_value, seed=seed,
        deepspeed=deepspeed)
    from rader_queue.settings import get_settings
    from rader_queue.train.config import TrainConfig, encoding_defaults

    if preset:
        from rader_queue.presets import train_values

        data = train_values(preset, data, build_config(config), base_given=base != DEFAULT_BASE)
    # validate before anything is enqueued; the encoding follows this process's settings
    cfg = TrainConfig.model_validate({**encoding_defaults(get_settings()), **data})
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = name or f"{Path(cfg.base_model).name}-{Path(dataset).stem}-{stamp}"
    out = str(output_dir or Path("outputs") / "checkpoints" / name)
    if enqueue:
        from rader_queue.queue.model_jobs import enqueue_model_jobs

        report = enqueue_model_jobs("train", [(name, {"dataset": dataset, "output_dir": out,
                                                      "name": name, "config": cfg.model_dump()})])
        console.print(f"enqueued training [bold]{escaped(name)}[/] (job {report.job_ids[0]}"
                      f"{'' if report.jobs_new else ', already recorded'}) on the train queue; "
                      f"`rader-queue status {escaped(report.run)}` follows it")
        return
    _train_here(cfg, dataset, out, name)


def _train_here(cfg, dataset: str, out: str, name: str) -> None:
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    from rader_queue.train.service import run_training

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("loss {task.fields[loss]}  lr {task.fields[lr]}"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task(f"training {name}", total=None, loss="–", lr="–")

        def on_start(total: int) -> None:
            progress.update(task, total=total)

        def on_step(step: int, loss: float, lr: float) -> None:
            progress.update(task, completed=step, loss=f"{loss:.4f}", lr=f"{lr:.2e}")

        summary = run_training(cfg, dataset, out, name=name, callback=on_step, on_start=on_start)
    console.print(f"checkpoint [bold]{escaped(name)}[/] (id {summary['checkpoint_id']}): {summary['steps']} "
                  f"steps, loss {summary['first_loss']:.4f} → {summary['final_loss']:.4f}")
    console.print(f"adapter: {summary['adapter_path']}\nmerged:  {summary['merged_path']}",
                  highlight=False)


train_app = typer.Typer(help="Retriever training.", no_args_is_help=True)
train_app.command("train")(train)
