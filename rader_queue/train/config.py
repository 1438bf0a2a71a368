"""The training configuration of rader-queue retrievers: one pydantic model, validated on creation.

Defaults follow the RaDeR recipe where it is sound (LoRA r=16/alpha=64/dropout=0.1,
temperature 0.01, hard-negative groups, linear schedule with warmup) and deliberately depart
from it where the original was defective: ``query_max_len`` defaults to 512 so CoT and
question queries are not cut to a few tokens, and the query/passage prefixes default to the
same settings the embedder uses for indexing and evaluation (:func:`encoding_defaults`; the
model's own defaults are the settings' defaults), so training and retrieval see identically
formatted text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from rader_queue.config_model import StrictConfig

DEEPSPEED_PRESETS = ("zero2", "zero3")

Positive = Annotated[int, Field(ge=1)]
TokenLimit = Annotated[int, Field(ge=8)]       # shorter cannot hold any text
Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]


def encoding_defaults(settings: Any) -> dict[str, Any]:
    """The encoding fields of a TrainConfig taken from ``settings`` (``RADER_EMBEDDER_POOLING``,
    ``RADER_EMBEDDER_NORMALIZE``, ``RADER_QUERY_PREFIX``, ``RADER_PASSAGE_PREFIX``), so a
    retriever is trained with the conventions the embedder indexes and evaluates with. Callers
    put them under the given values: ``{**encoding_defaults(get_settings()), **given}``."""
    return {"pooling": settings.embedder_pooling, "normalize": settings.embedder_normalize,
            "query_prefix": settings.query_prefix, "passage_prefix": settings.passage_prefix}


class TrainConfig(StrictConfig):
    """Everything that decides how a retriever is trained. Serialisable with ``model_dump()``."""

    config_label = "TrainConfig"

    base_model: Annotated[str, Field(min_length=1)] = "all-MiniLM-L6-v2"
    kind: Literal["biencoder", "reranker"] = "biencoder"
    # LoRA (False: full fine-tuning). target_modules None = chosen per architecture.
    lora: bool = True
    lora_r: Positive = 16
    lora_alpha: Positive = 64
    lora_dropout: Fraction = 0.1
    lora_target_modules: Annotated[list[str], Field(min_length=1)] | None = None
    # contrastive objective
    temperature: Annotated[float, Field(gt=0.0)] = 0.01
    train_group_size: Annotated[int, Field(ge=2)] = 12  # 1 positive + (group-1) hard negatives
    # encoding: the same conventions as indexing and evaluation (see encoding_defaults)
    pooling: Literal["mean", "cls", "eos"] = "mean"
    normalize: bool = True
    query_prefix: str = ""
    passage_prefix: str = ""
    append_eos: bool | None = None  # None: append EOS when pooling == "eos"
    query_max_len: TokenLimit = 512
    passage_max_len: TokenLimit = 512
    pad_to_multiple_of: Positive | None = 16
    # optimisation
    per_device_batch_size: Positive = 8
    gradient_accumulation_steps: Positive = 1
    learning_rate: Annotated[float, Field(gt=0.0)] = 1e-4
    weight_decay: Annotated[float, Field(ge=0.0)] = 0.0
    max_grad_norm: Annotated[float, Field(ge=0.0)] = 1.0   # 0 disables clipping
    warmup_steps: Annotated[int, Field(ge=0)] | None = None  # None: warmup_ratio × total steps
    warmup_ratio: Fraction = 0.1
    epochs: Annotated[float, Field(gt=0.0)] = 1.0
    max_steps: Positive | None = None  # when set, overrides epochs (data cycled as needed)
    gradient_checkpointing: bool = False
    # processes that sample and tokenise the next batches while the GPU trains on this one
    # (0: in the training loop; small models on GPUs are input-bound without them)
    dataloader_workers: Annotated[int, Field(ge=0)] = 0
    dropout: Fraction | None = None  # set every dropout of the model (LoRA's too); None keeps them
    bf16: bool | Literal["auto"] = "auto"  # auto: CUDA with bf16 support
    seed: int = 42
    # distributed: path to a DeepSpeed JSON, or the shipped preset "zero2" / "zero3"
    deepspeed: str | None = None
    # outputs
    save_merged: bool = True
    logging_steps: Positive = 1
    # full fine-tuning of the last N transformer layers only (lora must be False); the rest of
    # the backbone is frozen. None: every layer trains.
    trainable_last_layers: Positive | None = None
    # attention kernel passed to from_pretrained ("sdpa", "flash_attention_2", "eager", ...);
    # None: the transformers default (sdpa where supported)
    attn_implementation: Annotated[str, Field(pattern=r"\S")] | None = None
    preset: str | None = None  # the --preset these values came from (recorded only)

    @field_validator("deepspeed")
    @classmethod
    def _deepspeed_exists(cls, value: str | None) -> str | None:
        if value is not None and value not in DEEPSPEED_PRESETS and not Path(value).is_file():
            raise ValueError(f"must be {DEEPSPEED_PRESETS[0]!r}, {DEEPSPEED_PRESETS[1]!r} "
                             "or the path of an existing DeepSpeed JSON file")
        return value

    @model_validator(mode="after")
    def _last_layers_need_full_tuning(self) -> TrainConfig:
        if self.trainable_last_layers is not None and self.lora:
            raise ValueError("field 'trainable_last_layers' needs lora false (full fine-tuning)")
        return self

    # ------------------------------------------------------------------------------------
    @property
    def use_eos(self) -> bool:
        return self.pooling == "eos" if self.append_eos is None else bool(self.append_eos)

    def resolved_bf16(self) -> bool:
        if self.bf16 != "auto":
            return bool(self.bf16)
        import torch

        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
