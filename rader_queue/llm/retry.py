"""One retry policy for every model endpoint rader-queue calls (generator and remote embedder).

Retryable: HTTP 5xx, 429, timeouts, connection errors, and replies that parse but carry no
usable content (``BadReply``; bounded separately). Any other 4xx fails at once. Between tries
the caller sleeps ``uniform(0, min(cap, base * 2**attempt))`` ("full jitter"), so many workers
that failed together do not come back together.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import openai

from rader_queue.errors import GenerationFailed, ModelError
from rader_queue.secrets import scrub

T = TypeVar("T")


class BadReply(Exception):
    """A 2xx reply without the expected content (no choices, wrong shape). Retryable, bounded."""


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 6          # retries after the first try (so max_retries + 1 tries at most)
    base_s: float = 1.0
    cap_s: float = 60.0
    timeout_s: float = 600.0      # per request
    max_bad_replies: int = 2      # retries spent on malformed 2xx replies, within max_retries

    @classmethod
    def from_settings(cls, settings) -> RetryPolicy:
        return cls(max_retries=settings.llm_max_retries, base_s=settings.llm_backoff_base_s,
                   cap_s=settings.llm_backoff_cap_s, timeout_s=settings.llm_timeout_s)

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """Sleep before retry number ``retry`` (0-based): full jitter under an exponential cap."""
        ceiling = min(self.cap_s, self.base_s * (2 ** retry))
        return (rng or random).uniform(0.0, max(0.0, ceiling))


def classify(exc: BaseException) -> str:
    """``"retry"``, ``"bad_reply"`` or ``"fatal"`` for an exception raised by one request."""
    if isinstance(exc, BadReply | openai.APIResponseValidationError | json.JSONDecodeError):
        return "bad_reply"
    if isinstance(exc, asyncio.TimeoutError | TimeoutError | openai.APITimeoutError
                  | openai.APIConnectionError):
        return "retry"
    if isinstance(exc, openai.APIStatusError):
        return "retry" if exc.status_code == 429 or exc.status_code >= 500 else "fatal"
    return "fatal"


def describe(exc: BaseException, *secrets: str) -> str:
    """A one-line, secret-free description of a request failure."""
    status = getattr(exc, "status_code", None)
    text = f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "")
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return scrub(f"{text}: {detail}" if detail else text, *secrets)


async def call_with_retries(fn: Callable[[], Awaitable[T]], policy: RetryPolicy, *, what: str,
                            secrets: tuple[str, ...] = (),
                            error_cls: type[ModelError] = GenerationFailed,
                            gate: Any = None) -> tuple[T, int]:
    """Await ``fn()`` under ``policy.timeout_s`` until it succeeds; return (result, attempts).

    ``gate`` (e.g. the in-flight semaphore) is held during each try, not during backoff sleeps,
    and waiting for it does not count against the timeout.

    Raises ``error_cls`` (``GenerationFailed`` by default) once retries are used up or on a
    non-retryable error; the message names ``what``, the attempts and the last error."""
    attempts = bad = 0
    while True:
        attempts += 1
        try:
            async with gate or contextlib.nullcontext():
                return await asyncio.wait_for(fn(), timeout=policy.timeout_s), attempts
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 — classified below, re-raised as error_cls
            kind = classify(exc)
            last = describe(exc, *secrets)
            if isinstance(exc, TimeoutError) and not str(exc).strip():   # asyncio.wait_for's
                last = f"TimeoutError: no reply within {policy.timeout_s:g}s"
            if kind == "bad_reply":
                bad += 1
            give_up = (kind == "fatal" or attempts > policy.max_retries
                       or (kind == "bad_reply" and bad > policy.max_bad_replies))
            if give_up:
                # ``from None``: the endpoint's own exception may quote secrets (some servers echo
                # the API key in a 401) and would be printed with every traceback (worker logs,
                # Celery's task-retried events in Flower); ``last`` is its scrubbed description.
                if error_cls is GenerationFailed or issubclass(error_cls, GenerationFailed):
                    raise error_cls(f"{what} failed", attempts=attempts, last_error=last) from None
                raise error_cls(f"{what} failed after {attempts} attempt(s): {last}") from None
            await asyncio.sleep(policy.delay(attempts - 1))


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start
