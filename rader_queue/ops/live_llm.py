"""Live LLM counters of this process, and the one place the generator reports its calls to.

The generator (:mod:`rader_queue.llm.generator`) hands each finished call's
:class:`~rader_queue.llm.ledger.CallRecord` to :func:`observe_call` and registers its shared
core with :func:`track_generator`; this module imports nothing of the generator nor of
Prometheus. What it does with a call:

* counts it (unless it was a cache hit) in this process's cumulative counters (:func:`record`);
* passes it to every observer added with :func:`add_call_observer` — the Prometheus metrics
  (:mod:`rader_queue.ops.metrics`) add one when they are loaded. An observer that raises is
  logged, never the caller's problem.

The ledger (``llm_calls``) is written when a job finishes, so during a long search it shows no
calls; the watchdog therefore writes :func:`snapshot` into the worker heartbeat (field ``llm``)
every few seconds, and ``status`` sums the alive workers' heartbeats
(:mod:`rader_queue.queue.heartbeats`).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

log = logging.getLogger("rader_queue.live_llm")

RATE_WINDOW_S = 30.0
FIELDS = ("calls", "prompt_tokens", "completion_tokens", "in_flight", "tokens_per_s")

_lock = threading.Lock()
_totals = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0}
_samples: collections.deque[tuple[float, int]] = collections.deque()


def record(prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
    """Count one generator call of this process."""
    with _lock:
        _totals["calls"] += 1
        _totals["prompt_tokens"] += max(0, int(prompt_tokens or 0))
        _totals["completion_tokens"] += max(0, int(completion_tokens or 0))


def snapshot(now: float | None = None) -> dict[str, float]:
    """This process's cumulative counters, the requests in flight now and the tokens per second
    over the last :data:`RATE_WINDOW_S` seconds (between snapshots)."""
    now = time.monotonic() if now is None else now
    with _lock:
        totals = dict(_totals)
        tokens = totals["prompt_tokens"] + totals["completion_tokens"]
        _samples.append((now, tokens))
        while len(_samples) > 1 and _samples[0][0] < now - RATE_WINDOW_S:
            _samples.popleft()
        t0, k0 = _samples[0]
    rate = (tokens - k0) / (now - t0) if now > t0 else 0.0
    return {**totals, "in_flight": requests_in_flight(), "tokens_per_s": round(rate, 1)}


# Objects with an ``in_flight`` attribute (the generators' shared cores); weak, so a dropped
# generator stops counting.
_request_sources: weakref.WeakSet = weakref.WeakSet()
_sources_lock = threading.Lock()
_observers: list[Callable[[Any], None]] = []


def track_generator(source: Any) -> None:
    """Count ``source.in_flight`` (a generator or its shared core) in :func:`requests_in_flight`."""
    try:
        with _sources_lock:
            _request_sources.add(source)
    except TypeError:  # not weak-referenceable: counting must never break the caller
        log.debug("cannot track %r for requests in flight", source)


def requests_in_flight() -> int:
    """HTTP requests in flight now, over every tracked generator of this process."""
    with _sources_lock:
        sources = list(_request_sources)
    return sum(int(getattr(s, "in_flight", 0) or 0) for s in sources)


def add_call_observer(observer: Callable[[Any], None]) -> None:
    """Have ``observer(record)`` called with every generator call of this process (once per
    observer, however often it is added)."""
    if observer not in _observers:
        _observers.append(observer)


def observe_call(call: Any) -> None:
    """One finished generator call (a :class:`~rader_queue.llm.ledger.CallRecord`). Never
    raises: counting must not fail a generation."""
    try:
        if not getattr(call, "cache_hit", False):
            record(int(getattr(call, "prompt_tokens", 0) or 0),
                   int(getattr(call, "completion_tokens", 0) or 0))
    except (TypeError, ValueError):
        log.debug("unreadable call record %r", call)
    for observer in list(_observers):
        try:
            observer(call)
        except Exception:  # noqa: BLE001
            log.exception("call observer %r failed", observer)
