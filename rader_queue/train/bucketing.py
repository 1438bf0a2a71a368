"""Length bucketing: batches of texts of similar length, so that little compute goes to padding.

Encoding a corpus (evaluation, indexing): :func:`token_budget_batches` sorts by length and cuts
dynamic batches whose padded size stays under a token budget — many short documents per batch,
few long ones, a nearly constant amount of work per forward pass.

Training: :func:`bucketed_order` reorders one epoch's examples so that each micro-batch holds
queries whose groups are of similar length, while batches themselves stay in a seeded random
order (sorting within windows of ``window`` batches keeps the epoch shuffled at large scale).
"""

from __future__ import annotations

import random
from collections.abc import Sequence


def padded(length: int, multiple: int | None) -> int:
    """``length`` rounded up to a multiple of ``multiple`` (None or 1: unchanged)."""
    if not multiple or multiple <= 1:
        return length
    return -(-length // multiple) * multiple


def token_budget_batches(lengths: Sequence[int], max_tokens: int, *, max_batch: int = 512,
                         pad_to_multiple_of: int | None = None) -> list[list[int]]:
    """Indices of ``lengths`` in batches, longest first, each of at most ``max_batch`` items
    whose padded rectangle (items × longest padded length) stays within ``max_tokens``. An item
    longer than the budget gets a batch of its own."""
    if max_tokens < 1 or max_batch < 1:
        raise ValueError(f"max_tokens and max_batch must be positive (got {max_tokens}, {max_batch})")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    width = 0
    for i in order:
        size = padded(max(1, int(lengths[i])), pad_to_multiple_of)
        new_width = max(width, size)
        if current and (len(current) >= max_batch or (len(current) + 1) * new_width > max_tokens):
            batches.append(current)
            current, new_width = [], size
        current.append(i)
        width = new_width
    if current:
        batches.append(current)
    return batches


def padding_fraction(lengths: Sequence[int], batches: Sequence[Sequence[int]],
                     pad_to_multiple_of: int | None = None) -> float:
    """Share of the batches' padded tokens that are padding."""
    real = sum(int(lengths[i]) for b in batches for i in b)
    total = sum(len(b) * padded(max(int(lengths[i]) for i in b), pad_to_multiple_of)
                for b in batches if b)
    return 0.0 if total == 0 else 1.0 - real / total


def bucketed_order(lengths: Sequence[int], batch_size: int, *, seed: int,
                   window: int = 64) -> list[int]:
    """A permutation of ``range(len(lengths))`` whose consecutive ``batch_size`` chunks hold
    similar lengths: shuffle, sort within windows of ``window × batch_size`` items, cut into
    batches, shuffle the batches (a trailing partial batch stays last)."""
    if batch_size < 1 or window < 1:
        raise ValueError("batch_size and window must be positive")
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    span = window * batch_size
    chunks: list[list[int]] = []
    for start in range(0, len(order), span):
        part = sorted(order[start:start + span], key=lambda i: lengths[i])
        chunks += [part[j:j + batch_size] for j in range(0, len(part), batch_size)]
    full = [c for c in chunks if len(c) == batch_size]
    tail = [c for c in chunks if len(c) != batch_size]
    rng.shuffle(full)
    return [i for chunk in full + tail for i in chunk]
