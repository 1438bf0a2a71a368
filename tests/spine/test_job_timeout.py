"""Every job is bounded on the worker's event loop (``RADER_JOB_TIMEOUT_S``): a coroutine past
its bound is cancelled and the job fails "timed out", while the loop goes on serving others."""

from __future__ import annotations

import asyncio
import time

import pytest

from rader_queue.errors import JobTimedOut, TaskFailed
from rader_queue.queue import runtime
from rader_queue.settings import get_settings


def test_a_coroutine_past_its_bound_is_cancelled_and_times_out():
    cancelled = []

    async def endless() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    started = time.monotonic()
    with pytest.raises(JobTimedOut, match="timed out after 0s") as info:
        runtime.run(endless(), timeout=0.3)
    assert isinstance(info.value, TaskFailed)            # the job runner fails the job with it
    assert time.monotonic() - started < 5
    assert cancelled == [True]
    assert runtime.run(asyncio.sleep(0, result="next"), timeout=5) == "next"   # loop still serves


def test_the_default_bound_is_the_setting(monkeypatch):
    monkeypatch.setenv("RADER_JOB_TIMEOUT_S", "0.2")
    get_settings.cache_clear()
    with pytest.raises(JobTimedOut, match="RADER_JOB_TIMEOUT_S"):
        runtime.run(asyncio.sleep(3600))
