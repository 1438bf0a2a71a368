"""One retry policy for every model endpoint rader-queue calls (generator and remote embedder),
run by ``tenacity``.

Retryable: HTTP 5xx, 429, timeouts, connection errors, and replies that parse but carry no
usable content (``BadReply``; bounded separately). Any other 4xx fails at once. Between tries
the caller sleeps ``uniform(0, min(cap, base * 2**retry))`` ("full jitter",
``wait_random_exponential``), so many workers that failed together do not come back together.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import openai
from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt, wait_random_exponential

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

    def wait(self) -> wait_random_exponential:
        """The sleep before each retry: full jitter under an exponential cap."""
        return wait_random_exponential(multiplier=self.base_s, max=self.cap_s)


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


def _retry_decision(policy: RetryPolicy) -> Callable[[RetryCallState], bool]:
    """Whether to try again after a failed try: retryable errors, and at most
    ``max_bad_replies`` malformed replies in one call."""
    bad_replies = 0

    def decide(state: RetryCallState) -> bool:
        nonlocal bad_replies
        kind = classify(state.outcome.exception())
        if kind == "bad_reply":
            bad_replies += 1
            return bad_replies <= policy.max_bad_replies
        return kind == "retry"
    return decide


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
    attempts = 0
    try:
        async for attempt in AsyncRetrying(stop=stop_after_attempt(policy.max_retries + 1),
                                           wait=policy.wait(), retry=_retry_decision(policy),
                                           reraise=True):
            with attempt:
                attempts = attempt.retry_state.attempt_number
                async with gate or contextlib.nullcontext():
                    return await asyncio.wait_for(fn(), timeout=policy.timeout_s), attempts
    except Exception as exc:  # noqa: BLE001 — the last try's error, re-raised as error_cls
        last = describe(exc, *secrets)
        if isinstance(exc, TimeoutError) and not str(exc).strip():   # asyncio.wait_for's
            last = f"TimeoutError: no reply within {policy.timeout_s:g}s"
        # ``from None``: the endpoint's own exception may quote secrets (some servers echo the
        # API key in a 401) and would be printed with every traceback (worker logs, Celery's
        # task-retried events in Flower); ``last`` is its scrubbed description.
        if issubclass(error_cls, GenerationFailed):
            raise error_cls(f"{what} failed", attempts=attempts, last_error=last) from None
        raise error_cls(f"{what} failed after {attempts} attempt(s): {last}") from None
    raise AssertionError("unreachable: tenacity either returns or re-raises")


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start
