"""The alive workers' heartbeats, read back from the broker for ``rader-queue status``.

The watchdog (:mod:`rader_queue.queue.watchdog`) writes one JSON heartbeat per worker under
:data:`rader_queue.queue.keys.HEARTBEAT`, expiring after a few intervals: its fields include the
event loop's lag (``loop_lag_s``, :mod:`rader_queue.ops.loop_lag`) and the live LLM counters
(``llm``, :mod:`rader_queue.ops.live_llm`). Heartbeats are data from the broker: a field that is
not a finite, non-negative number makes that field count as absent for that worker.
"""

from __future__ import annotations

import json
import math
from typing import Any

import redis

from rader_queue.ops.live_llm import FIELDS as LLM_FIELDS
from rader_queue.queue import keys
from rader_queue.settings import Settings, get_settings

_LARGEST = 1e15          # a counter beyond this is not a real one


def read_heartbeats(broker_url: str, prefix: str, *, limit: int = 1000) -> dict[str, Any]:
    """``{worker: decoded heartbeat}`` of the alive workers (at most ``limit``); {} when the
    broker is unreachable. A heartbeat that is not JSON is skipped."""
    head = keys.heartbeat_key(prefix, "")
    try:
        client = redis.Redis.from_url(broker_url, socket_timeout=1.0, socket_connect_timeout=1.0)
        names = [k for _, k in zip(range(limit), client.scan_iter(match=head + "*", count=200))]
        values = client.mget(names) if names else []
    except Exception:  # noqa: BLE001 - status must work without the broker
        return {}
    beats: dict[str, Any] = {}
    for name, raw in zip(names, values):
        try:
            beat = json.loads(raw)
        except (TypeError, ValueError):
            continue
        beats[name.decode("utf-8", "replace")[len(head):][:200]] = beat
    return beats


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and 0 <= number < _LARGEST else None


def loop_lag_of(beat: Any) -> float | None:
    """The heartbeat's event-loop lag in seconds, or None."""
    return _number(beat.get("loop_lag_s")) if isinstance(beat, dict) else None


def llm_counters_of(beat: Any) -> dict[str, float] | None:
    """The heartbeat's live LLM counters (every field of :data:`LLM_FIELDS`), or None."""
    llm = beat.get("llm") if isinstance(beat, dict) else None
    if not isinstance(llm, dict):
        return None
    values = {field: _number(llm.get(field)) for field in LLM_FIELDS}
    return None if None in values.values() else values


def worker_lags(broker_url: str, prefix: str, *, limit: int = 1000) -> dict[str, float]:
    """``{worker: event-loop lag in seconds}`` of the alive workers that report one."""
    lags = {w: loop_lag_of(b) for w, b in read_heartbeats(broker_url, prefix, limit=limit).items()}
    return {w: lag for w, lag in lags.items() if lag is not None}


def worker_counters(broker_url: str, prefix: str, *, limit: int = 1000) -> dict[str, dict]:
    """``{worker: live LLM counters}`` of the alive workers that report them."""
    counters = {w: llm_counters_of(b)
                for w, b in read_heartbeats(broker_url, prefix, limit=limit).items()}
    return {w: c for w, c in counters.items() if c is not None}


def workers_line(settings: Settings | None = None) -> str | None:
    """``"workers: 2 alive; event-loop lag max 0.03 s (worker@host)"``; None when no worker
    reports its lag."""
    settings = settings or get_settings()
    lags = worker_lags(settings.broker, settings.queue_prefix)
    if not lags:
        return None
    worst = max(lags, key=lags.__getitem__)
    return f"workers: {len(lags)} alive; event-loop lag max {lags[worst]:.2f} s ({worst})"


def live_line(settings: Settings | None = None) -> str | None:
    """``"live (2 workers): 140 LLM calls, 52,300 tokens, 210.5 tokens/s, 8 in flight"`` summed
    over the alive workers' heartbeats; None when no worker reports counters."""
    settings = settings or get_settings()
    workers = worker_counters(settings.broker, settings.queue_prefix)
    if not workers:
        return None
    total = {f: sum(w[f] for w in workers.values()) for f in LLM_FIELDS}
    tokens = int(total["prompt_tokens"] + total["completion_tokens"])
    n = len(workers)
    return (f"live ({n} worker{'s' if n != 1 else ''}): {int(total['calls']):,} LLM calls, "
            f"{tokens:,} tokens, {total['tokens_per_s']:.1f} tokens/s, "
            f"{int(total['in_flight'])} in flight")
