"""One asyncio event loop per worker process, shared by all of its task threads.

Celery runs the ``mcts`` queue with the ``threads`` pool: each thread takes one problem, submits
its coroutine to this loop and waits. All model I/O of all problems in flight therefore runs on
one loop, through one HTTP client and one in-flight bound, which is what keeps a continuous-
batching server (vLLM) saturated from a single process."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from rader_queue.ops import loop_lag

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()
_in_flight = 0


def loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="rader-asyncio", daemon=True).start()
            loop_lag.watch(_loop)           # issue 13: the loop's lag is a metric and in the heartbeat
        return _loop


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on the shared loop from any (non-loop) thread and return its result."""
    global _in_flight
    future = asyncio.run_coroutine_threadsafe(coro, loop())
    with _lock:
        _in_flight += 1
    try:
        return future.result(timeout)
    finally:
        with _lock:
            _in_flight -= 1
        if not future.done():
            future.cancel()


def in_flight() -> int:
    """Coroutines submitted through :func:`run` and not yet finished (problems in flight)."""
    return _in_flight
