"""Pooling of token states into one vector, shared by the embedder, training and evaluation,
so indexing, training and evaluation encode text the same way."""

from __future__ import annotations

from typing import Literal

import torch

Pooling = Literal["mean", "cls", "eos"]


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: Pooling) -> torch.Tensor:
    """``hidden`` [batch, seq, dim], ``attention_mask`` [batch, seq] → [batch, dim].

    ``eos`` takes the last non-padding token and works for left and right padding alike."""
    if mode == "cls":
        return hidden[:, 0]
    if mode == "mean":
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    if mode == "eos":
        left_padded = bool((attention_mask[:, -1] == 1).all())
        if left_padded:
            return hidden[:, -1]
        last = attention_mask.sum(1) - 1
        return hidden[torch.arange(hidden.size(0), device=hidden.device), last]
    raise ValueError(f"unknown pooling {mode!r}; expected mean, cls or eos")


def normalize(vectors: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(vectors, p=2, dim=-1)
