"""Contrastive losses of rader-queue retrievers.

Bi-encoder InfoNCE: every query is scored against every passage of the (globally gathered)
batch — its own positive, its own hard negatives and all other queries' passages as in-batch
negatives, except the query's own positives wherever else they appear in the batch (masked
when the collator sends passage keys). Passages arrive group by group with the positive first, so query i's target is
``i × group_size``. Under ``torch.distributed`` the reps of all ranks are gathered; the local
slice keeps its autograd graph so each rank back-propagates through its own encoder pass.

Reranker: softmax cross-entropy over each query's own group (target 0, no in-batch negatives).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F


def world() -> tuple[int, int]:
    """(rank, world_size); (0, 1) without an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_with_grad(t: torch.Tensor) -> torch.Tensor:
    """Concatenate ``t`` from all ranks (rank order); this rank's slice stays differentiable."""
    rank, size = world()
    if size == 1:
        return t
    parts = [torch.empty_like(t) for _ in range(size)]
    dist.all_gather(parts, t.detach().contiguous())
    parts[rank] = t
    return torch.cat(parts, dim=0)


def gather_keys(t: torch.Tensor) -> torch.Tensor:
    """Concatenate an integer tensor from all ranks (no gradient)."""
    rank, size = world()
    if size == 1:
        return t
    parts = [torch.empty_like(t) for _ in range(size)]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts, dim=0)


def own_positive_mask(passage_keys: torch.Tensor, positive_keys: torch.Tensor,
                      target: torch.Tensor) -> torch.Tensor:
    """``[n_q, n_p]`` True where passage j is one of query i's positives but not its target:
    the same document again (another row's positive or negative), which must not be scored
    as an in-batch negative of i. ``positive_keys`` is ``[n_q, W]`` padded with -1."""
    hit = (passage_keys[None, :, None] == positive_keys[:, None, :]) & (positive_keys[:, None, :] >= 0)
    mask = hit.any(dim=-1)
    mask[torch.arange(mask.size(0), device=mask.device), target] = False
    return mask


def contrastive_logits(q_reps: torch.Tensor, p_reps: torch.Tensor, temperature: float, *,
                       gather: bool = True, passage_keys: torch.Tensor | None = None,
                       positive_keys: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``[n_q_total, n_p_total]`` = q·pᵀ / temperature and the target column of each
    query's positive. With ``gather`` and a process group, the widths span all ranks. With
    passage and positive keys, a query's own positives elsewhere in the batch are masked out."""
    if gather:
        q_reps, p_reps = gather_with_grad(q_reps), gather_with_grad(p_reps)
        if passage_keys is not None and positive_keys is not None:
            passage_keys, positive_keys = gather_keys(passage_keys), gather_keys(positive_keys)
    n_q, n_p = q_reps.size(0), p_reps.size(0)
    if n_q == 0 or n_p % n_q:
        raise ValueError(f"{n_p} passages cannot be split into groups for {n_q} queries")
    logits = q_reps @ p_reps.T / temperature
    target = torch.arange(n_q, device=logits.device) * (n_p // n_q)
    if passage_keys is not None and positive_keys is not None:
        mask = own_positive_mask(passage_keys.to(logits.device), positive_keys.to(logits.device), target)
        logits = logits.masked_fill(mask, torch.finfo(logits.dtype).min)
    return logits, target


def infonce_loss(q_reps: torch.Tensor, p_reps: torch.Tensor, temperature: float, *,
                 gather: bool = True, passage_keys: torch.Tensor | None = None,
                 positive_keys: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy over the gathered batch. This is the value to report; for the backward
    pass under data parallelism multiply by world size (see :func:`backward_scale`)."""
    logits, target = contrastive_logits(q_reps, p_reps, temperature, gather=gather,
                                        passage_keys=passage_keys, positive_keys=positive_keys)
    return F.cross_entropy(logits, target)


def backward_scale() -> int:
    """DDP and DeepSpeed average gradients over ranks, while each rank only back-propagates
    through its own slice of a loss that already covers the whole gathered batch: scaling by
    world size restores the full gradient."""
    return world()[1]


def grouped_ce_loss(scores: torch.Tensor, group_size: int) -> torch.Tensor:
    """Reranker loss: ``scores`` [n_q × group] with each group's positive first."""
    grouped = scores.view(-1, group_size)
    target = torch.zeros(grouped.size(0), dtype=torch.long, device=scores.device)
    return F.cross_entropy(grouped, target)
