"""Live LLM counters: what the running jobs have asked of the model so far (issue 17).

The ledger (``llm_calls``) is written when a job finishes, so during a long search it shows no
calls. Each worker process therefore keeps cumulative counters of its generator calls
(:func:`record`, fed by :func:`rader_queue.ops.metrics.observe_llm_call`), and the watchdog
writes :func:`snapshot` into the worker heartbeat (field ``llm``) every few seconds. ``status``
sums the alive workers' heartbeats (:func:`live_line`). Heartbeats come from the broker: a
field that is not a finite, non-negative number makes that heartbeat count as absent.
"""

from __future__ import annotations

import collections
import json
import math
import threading
import time
from typing import Any

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
    from rader_queue.ops.metrics import _requests_in_flight

    now = time.monotonic() if now is None else now
    with _lock:
        totals = dict(_totals)
        tokens = totals["prompt_tokens"] + totals["completion_tokens"]
        _samples.append((now, tokens))
        while len(_samples) > 1 and _samples[0][0] < now - RATE_WINDOW_S:
            _samples.popleft()
        t0, k0 = _samples[0]
    rate = (tokens - k0) / (now - t0) if now > t0 else 0.0
    return {**totals, "in_flight": int(_requests_in_flight()), "tokens_per_s": round(rate, 1)}


def _valid(beat: Any) -> dict[str, float] | None:
    try:
        llm = beat["llm"]
        values = {f: float(llm[f]) for f in FIELDS}
    except (TypeError, ValueError, KeyError, AttributeError):
        return None
    if not all(math.isfinite(v) and 0 <= v < 1e15 for v in values.values()):
        return None
    return values


def worker_counters(broker_url: str, prefix: str, *, limit: int = 1000) -> dict[str, dict]:
    """``{worker: counters}`` from the alive workers' heartbeats ({} without the broker)."""
    try:
        import redis

        client = redis.Redis.from_url(broker_url, socket_timeout=1.0, socket_connect_timeout=1.0)
        keys = [k for _, k in zip(range(limit), client.scan_iter(
            match=prefix + "worker-heartbeat:*", count=200))]
        values = client.mget(keys) if keys else []
    except Exception:  # noqa: BLE001 - status must work without the broker
        return {}
    out: dict[str, dict] = {}
    for key, raw in zip(keys, values):
        try:
            beat = json.loads(raw)
        except (TypeError, ValueError):
            continue
        counters = _valid(beat)
        if counters is not None:
            name = key.decode("utf-8", "replace")[len(prefix) + len("worker-heartbeat:"):]
            out[name[:200]] = counters
    return out


def live_line(settings=None) -> str | None:
    """``"live (2 workers): 140 LLM calls, 52,300 tokens, 210.5 tokens/s, 8 in flight"`` summed
    over the alive workers' heartbeats; None when no worker reports counters."""
    if settings is None:
        from rader_queue.settings import get_settings

        settings = get_settings()
    workers = worker_counters(settings.broker, settings.queue_prefix)
    if not workers:
        return None
    total = {f: sum(w[f] for w in workers.values()) for f in FIELDS}
    tokens = int(total["prompt_tokens"] + total["completion_tokens"])
    n = len(workers)
    return (f"live ({n} worker{'s' if n != 1 else ''}): {int(total['calls']):,} LLM calls, "
            f"{tokens:,} tokens, {total['tokens_per_s']:.1f} tokens/s, "
            f"{int(total['in_flight'])} in flight")
