"""Length bucketing for encoding a corpus (evaluation, indexing): :func:`token_budget_batches`
sorts by length and cuts dynamic batches whose padded size stays under a token budget — many
short documents per batch, few long ones, a nearly constant amount of work per forward pass."""

from __future__ import annotations

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

