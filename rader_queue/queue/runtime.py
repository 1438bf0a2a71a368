"""One asyncio event loop per worker process, shared by all of its task threads.

Celery runs the ``mcts`` queue with the ``threads`` pool: each thread takes one problem, submits
its coroutine to this loop and waits. All model I/O of all problems in flight therefore runs on
one loop, through one HTTP client and one in-flight bound, which is what keeps a continuous-
batching server (vLLM) saturated from a single process."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from rader_queue.errors import JobTimedOut
from rader_queue.ops import loop_lag
from rader_queue.queue import lease
from rader_queue.settings import get_settings

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
    """Run ``coro`` on the shared loop from any (non-loop) thread and return its result.

    Every call is bounded: ``timeout`` (default ``RADER_JOB_TIMEOUT_S``) is enforced on the loop
    with :func:`asyncio.wait_for`, which cancels the coroutine and raises :class:`JobTimedOut`.
    A coroutine run for a job (:mod:`rader_queue.queue.lease`) is cancelled as well when the job
    stops being this worker's (cancelled, deleted, taken over)."""
    global _in_flight
    bound = float(timeout if timeout is not None else get_settings().job_timeout_s)
    future = asyncio.run_coroutine_threadsafe(_bounded(coro, bound), loop())
    job_id = lease.current_job()
    if job_id is not None:
        lease.track(job_id, future)
    with _lock:
        _in_flight += 1
    try:
        # the loop enforces the bound; the extra minute only guards against a blocked loop
        return future.result(bound + 60)
    except concurrent.futures.TimeoutError:
        raise JobTimedOut(f"timed out after {bound:.0f}s (the event loop did not answer)") from None
    finally:
        with _lock:
            _in_flight -= 1
        if job_id is not None:
            lease.untrack(job_id, future)
        if not future.done():
            future.cancel()


async def _bounded(coro: Coroutine[Any, Any, T], timeout: float) -> T:
    try:
        return await asyncio.wait_for(coro, timeout)
    except asyncio.TimeoutError:
        raise JobTimedOut(f"timed out after {timeout:.0f}s (RADER_JOB_TIMEOUT_S)") from None


def in_flight() -> int:
    """Coroutines submitted through :func:`run` and not yet finished (problems in flight)."""
    return _in_flight
