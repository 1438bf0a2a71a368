"""The training configuration of rader-queue retrievers: one dataclass, validated on creation.

Defaults follow the RaDeR recipe where it is sound (LoRA r=16/alpha=64/dropout=0.1,
temperature 0.01, hard-negative groups, linear schedule with warmup) and deliberately depart
from it where the original was defective: ``query_max_len`` defaults to 512 so CoT and
question queries are not cut to a few tokens, and the query/passage prefixes default to the
same settings the embedder uses for indexing and evaluation, so training and retrieval see
identically formatted text.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rader_queue.errors import ConfigError
from rader_queue.settings import get_settings

POOLINGS = ("mean", "cls", "eos")
KINDS = ("biencoder", "reranker")
DEEPSPEED_PRESETS = ("zero2", "zero3")


def _settings_default(name: str):
    return field(default_factory=lambda: getattr(get_settings(), name))


@dataclass
class TrainConfig:
    """Everything that decides how a retriever is trained. Serialisable with :meth:`to_dict`."""

    base_model: str = "all-MiniLM-L6-v2"
    kind: Literal["biencoder", "reranker"] = "biencoder"
    # LoRA (False: full fine-tuning). target_modules None = chosen per architecture.
    lora: bool = True
    lora_r: int = 16
    lora_alpha: int = 64
    lora_dropout: float = 0.1
    lora_target_modules: list[str] | None = None
    # contrastive objective
    temperature: float = 0.01
    train_group_size: int = 12  # 1 positive + (group-1) hard negatives per query
    # encoding: the same conventions as indexing and evaluation
    pooling: Literal["mean", "cls", "eos"] = _settings_default("embedder_pooling")
    normalize: bool = _settings_default("embedder_normalize")
    query_prefix: str = _settings_default("query_prefix")
    passage_prefix: str = _settings_default("passage_prefix")
    append_eos: bool | None = None  # None: append EOS when pooling == "eos"
    query_max_len: int = 512
    passage_max_len: int = 512
    pad_to_multiple_of: int | None = 16
    # optimisation
    per_device_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    warmup_steps: int | None = None  # None: warmup_ratio × total steps
    warmup_ratio: float = 0.1
    epochs: float = 1.0
    max_steps: int | None = None  # when set, overrides epochs (data cycled as needed)
    gradient_checkpointing: bool = False
    # processes that sample and tokenise the next batches while the GPU trains on this one
    # (0: in the training loop; small models on GPUs are input-bound without them)
    dataloader_workers: int = 0
    dropout: float | None = None  # set every dropout of the model (LoRA's too); None keeps them
    bf16: bool | Literal["auto"] = "auto"  # auto: CUDA with bf16 support
    seed: int = 42
    # distributed: path to a DeepSpeed JSON, or the shipped preset "zero2" / "zero3"
    deepspeed: str | None = None
    # outputs
    save_merged: bool = True
    logging_steps: int = 1
    # issue 20: full fine-tuning of the last N transformer layers only (lora must be False);
    # the rest of the backbone is frozen. None: every layer trains.
    trainable_last_layers: int | None = None
    # issue 20: attention kernel passed to from_pretrained ("sdpa", "flash_attention_2",
    # "eager", ...); None: the transformers default (sdpa where supported)
    attn_implementation: str | None = None
    preset: str | None = None  # issue 18: the --preset these values came from (recorded only)

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------------------------
    def validate(self) -> None:
        def bad(name: str, why: str) -> ConfigError:
            return ConfigError(f"TrainConfig.{name}: {why} (got {getattr(self, name)!r})")

        if not self.base_model or not isinstance(self.base_model, str):
            raise bad("base_model", "must name a model (hub id or local folder)")
        if self.kind not in KINDS:
            raise bad("kind", f"must be one of {KINDS}")
        if self.pooling not in POOLINGS:
            raise bad("pooling", f"must be one of {POOLINGS}")
        for name in ("lora_r", "lora_alpha", "train_group_size", "query_max_len", "passage_max_len",
                     "per_device_batch_size", "gradient_accumulation_steps", "logging_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad(name, "must be a positive integer")
        if not isinstance(self.dataloader_workers, int) or self.dataloader_workers < 0:
            raise bad("dataloader_workers", "must be an integer >= 0")
        if self.train_group_size < 2:
            raise bad("train_group_size", "needs at least 2 (one positive and one negative)")
        if self.query_max_len < 8 or self.passage_max_len < 8:
            name = "query_max_len" if self.query_max_len < 8 else "passage_max_len"
            raise bad(name, "is too short to hold any text (at least 8 tokens)")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise bad("lora_dropout", "must be in [0, 1)")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise bad("dropout", "must be in [0, 1) or None")
        if not self.temperature > 0:
            raise bad("temperature", "must be > 0")
        if not self.learning_rate > 0:
            raise bad("learning_rate", "must be > 0")
        if self.weight_decay < 0:
            raise bad("weight_decay", "must be >= 0")
        if self.max_grad_norm < 0:
            raise bad("max_grad_norm", "must be >= 0 (0 disables clipping)")
        if self.warmup_steps is not None and self.warmup_steps < 0:
            raise bad("warmup_steps", "must be >= 0")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise bad("warmup_ratio", "must be in [0, 1)")
        if not self.epochs > 0:
            raise bad("epochs", "must be > 0")
        if self.max_steps is not None and (not isinstance(self.max_steps, int) or self.max_steps < 1):
            raise bad("max_steps", "must be a positive integer or None")
        if self.bf16 not in (True, False, "auto"):
            raise bad("bf16", "must be true, false or 'auto'")
        if self.pad_to_multiple_of is not None and self.pad_to_multiple_of < 1:
            raise bad("pad_to_multiple_of", "must be a positive integer or None")
        if self.lora_target_modules is not None and (
                not isinstance(self.lora_target_modules, list) or not self.lora_target_modules):
            raise bad("lora_target_modules", "must be a non-empty list of module names or None")
        if self.trainable_last_layers is not None and (
                isinstance(self.trainable_last_layers, bool)
                or not isinstance(self.trainable_last_layers, int) or self.trainable_last_layers < 1
                or self.lora):
            raise bad("trainable_last_layers", "must be a positive integer, with lora false")
        if self.attn_implementation is not None and (
                not isinstance(self.attn_implementation, str) or not self.attn_implementation.strip()):
            raise bad("attn_implementation", "must name an attention implementation or be None")
        if self.deepspeed is not None and self.deepspeed not in DEEPSPEED_PRESETS \
                and not Path(self.deepspeed).is_file():
            raise bad("deepspeed", f"must be {DEEPSPEED_PRESETS[0]!r}, {DEEPSPEED_PRESETS[1]!r} "
                                   "or the path of an existing DeepSpeed JSON file")

    # ------------------------------------------------------------------------------------
    @property
    def use_eos(self) -> bool:
        return self.pooling == "eos" if self.append_eos is None else bool(self.append_eos)

    def resolved_bf16(self) -> bool:
        if self.bf16 != "auto":
            return bool(self.bf16)
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"TrainConfig: unknown field(s) {unknown}; known: {sorted(known)}")
        return cls(**data)
