"""The async generator client every rader-queue worker uses (OpenAI-compatible chat completions).

    gen = Generator(settings)                        # vLLM, llama.cpp server, or Azure OpenAI
    judge = Generator(settings, endpoint=settings.endpoint_for("judge"))   # RADER_STAGE_ENDPOINTS
    view = gen.bind(ledger=Ledger(), run_id=1, problem_id=7)   # shares client and semaphore
    texts = await view.generate(messages, n=4, stop=["\\n\\n"], seed=1, stage="mcts")

* **Endpoint** (:mod:`rader_queue.endpoints`): base URL, model, key, API flavour,
  structured-outputs dialect, in-flight bound and cache identity; default: the ``default``
  endpoint (``RADER_LLM_*``). ``close()`` releases the HTTP client (worker shutdown).
* **Bounded concurrency**: at most the endpoint's ``max_in_flight`` (``RADER_LLM_MAX_IN_FLIGHT``)
  requests in flight per generator (one ``asyncio.Semaphore`` shared by every bound view);
  ``gen.in_flight`` is the live gauge.
* **Retries** are ours (the openai client's are off): 5xx, 429, timeouts, connection errors and
  malformed replies are retried with capped, fully-jittered exponential backoff; other 4xx fail
  at once. Giving up raises :class:`~rader_queue.errors.GenerationFailed`.
* **n > 1**: vLLM returns n choices natively; llama.cpp's server ignores ``n`` and returns one.
  With ``fanout_n=None`` (auto, the default) the generator notices a short reply once, remembers
  it, and from then on sends n single requests with seeds ``seed, seed+1, …`` (the missing
  choices of the first short reply are fetched the same way). ``fanout_n=True``/``False`` forces
  either behaviour (default: the setting ``RADER_LLM_FANOUT_N``).
* **Ledger**: each ``generate`` call yields one :class:`~rader_queue.llm.ledger.CallRecord`
  (also on failure, with ``error`` set) given to the bound ledger, if any.
* **Cache** (``settings.llm_cache``): requests with a seed, or at temperature 0, are looked up in
  ``llm_cache`` first; a request without a seed at temperature > 0 is meant to give fresh samples
  each time, so it is never cached. The key includes the endpoint's identity (its
  ``cache_name``, else its base URL), so two servers under one model name never share replies;
  only replies that ended normally (finish reason ``stop``/``length``) are stored.
* **Reply hygiene** (:mod:`rader_queue.llm.reply`): the body is size-capped from ``max_tokens``
  while it is read; null/empty content is a bad reply (retried, then GenerationFailed); NUL and
  lone surrogates are cleaned; ``usage`` is validated; ``finish_reason`` goes to the ledger.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

import openai
from pydantic import SecretStr
from sqlalchemy.exc import SQLAlchemyError

from rader_queue.errors import ConfigError, GenerationFailed, RaderError
from rader_queue.endpoints import DEFAULT_ENDPOINT, Endpoint
from rader_queue.llm.cache import CachedResponse, ResponseCache, cache_request, request_key
from rader_queue.llm.reply import (ReplyTooLarge, body_byte_cap, body_cap, cacheable,
                                   capped_http_client, merge_finish, parse_reply)
from rader_queue.llm.structured import FormatGuard, ReplyFormat
from rader_queue.llm.ledger import CallRecord
from rader_queue.llm.retry import RetryPolicy, Stopwatch, call_with_retries
from rader_queue.ops.live_llm import observe_call as observe_llm_call, track_generator
from rader_queue.settings import Settings, get_settings

log = logging.getLogger(__name__)
_UNSET: Any = object()


class _Core:
    """State shared by a generator and all its bound views: endpoint, client, semaphore, gauge."""

    def __init__(self, settings: Settings, endpoint: Endpoint, policy: RetryPolicy | None,
                 fanout_n: bool | None, cache: ResponseCache | None) -> None:
        self.settings, self.endpoint = settings, endpoint
        self.base_url = endpoint.base_url
        # the same server under a stable name, else its URL (settings.llm_cache_endpoint)
        self.cache_endpoint = endpoint.cache_endpoint or endpoint.base_url
        if not self.base_url:
            raise ConfigError("no generator endpoint: set RADER_LLM_BASE_URL (an OpenAI-compatible "
                              "/v1 URL), or start one with `rader-queue llm serve-embedded`")
        self.model = endpoint.model
        self.api_key = endpoint.api_key.get_secret_value()
        self.dialect = endpoint.structured_outputs
        self.policy = policy or RetryPolicy.from_settings(settings)
        self.max_in_flight = endpoint.max_in_flight
        self.fanout_n = fanout_n if fanout_n is not None else settings.llm_fanout_n
        self.native_n: bool | None = None     # learned in auto mode
        self.guard = FormatGuard(self.base_url, self.dialect)
        self.cache = cache
        self.in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: openai.AsyncOpenAI | None = None
        self._sem: asyncio.Semaphore | None = None
        track_generator(self)      # rader_llm_requests_in_flight counts self.in_flight

    def bound(self) -> tuple[openai.AsyncOpenAI, asyncio.Semaphore]:
        """Client and semaphore of the running event loop (new ones when the loop changed, e.g.
        a caller that runs ``asyncio.run`` once per call; the previous client is closed)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop or self._client is None or self._sem is None:
            self._discard()
            self._loop, self._sem = loop, asyncio.Semaphore(self.max_in_flight)
            self._client = self._make_client()
        return self._client, self._sem

    def _discard(self) -> None:
        """Close the client of a previous event loop: on that loop when it still runs, else
        here (best effort: its connections went with their loop)."""
        client, loop, self._client, self._loop = self._client, self._loop, None, None
        if client is None:
            return
        if loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(client.close(), loop)
        else:
            asyncio.get_running_loop().create_task(_close_quietly(client))

    def close(self, timeout_s: float = 10.0) -> None:
        """Close the HTTP client (call from a thread that is not the client's loop)."""
        client, loop = self._client, self._loop
        self._client, self._loop, self._sem = None, None, None
        if client is None:
            return
        if loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(client.close(), loop).result(timeout_s)
        elif loop is not None and not loop.is_closed():
            loop.run_until_complete(client.close())
        else:                                     # its loop is gone: close it on a new one
            asyncio.run(_close_quietly(client))

    def _make_client(self) -> openai.AsyncOpenAI:
        common = dict(api_key=self.api_key, max_retries=0, timeout=self.policy.timeout_s,
                      http_client=capped_http_client())
        if self.endpoint.api == "azure":
            return openai.AsyncAzureOpenAI(azure_endpoint=self.base_url,
                                           api_version=self.endpoint.azure_api_version, **common)
        return openai.AsyncOpenAI(base_url=self.base_url, **common)


class Generator:
    """Async chat-completion client with bounded concurrency, retries, ledger and cache."""

    def __init__(self, settings: Settings | None = None, *, endpoint: Endpoint | None = None,
                 base_url: str | None = None, model: str | None = None,
                 api_key: str | None = None, policy: RetryPolicy | None = None,
                 max_in_flight: int | None = None, fanout_n: bool | None = None,
                 cache: bool | None = None, db_url: str | None = None, ledger: Any = None,
                 run_id: int | None = None, problem_id: int | None = None) -> None:
        """``endpoint`` (default: the settings' ``default`` endpoint) with any of ``base_url``,
        ``model``, ``api_key``, ``max_in_flight`` overriding its values; another base URL is
        another server, so it is also the response cache's endpoint identity."""
        settings = settings or get_settings()
        endpoint = endpoint or settings.endpoint(DEFAULT_ENDPOINT)
        changes: dict[str, Any] = {}
        if base_url:
            changes.update(base_url=base_url, cache_endpoint=base_url)
        if model:
            changes["model"] = model
        if api_key is not None:
            changes["api_key"] = SecretStr(api_key)
        if max_in_flight:
            changes["max_in_flight"] = max_in_flight
        use_cache = settings.llm_cache if cache is None else cache
        self._core = _Core(settings, replace(endpoint, **changes) if changes else endpoint,
                           policy, fanout_n,
                           ResponseCache(db_url or settings.db_url) if use_cache else None)
        self.ledger, self.run_id, self.problem_id = ledger, run_id, problem_id

    def bind(self, *, ledger: Any = _UNSET, run_id: Any = _UNSET,
             problem_id: Any = _UNSET) -> Generator:
        """A light view with its own accounting context, sharing client, semaphore and gauge."""
        view = object.__new__(Generator)
        view._core = self._core
        view.ledger = self.ledger if ledger is _UNSET else ledger
        view.run_id = self.run_id if run_id is _UNSET else run_id
        view.problem_id = self.problem_id if problem_id is _UNSET else problem_id
        return view

    def close(self) -> None:
        """Close the HTTP client (all views share it). Call from outside its event loop."""
        self._core.close()

    @property
    def endpoint(self) -> Endpoint:
        return self._core.endpoint

    @property
    def in_flight(self) -> int:
        """HTTP requests in flight right now in this process (all views together)."""
        return self._core.in_flight

    @property
    def model(self) -> str:
        return self._core.model

    @property
    def base_url(self) -> str:
        return self._core.base_url

    @property
    def fanout_n(self) -> bool | None:
        """True/False when forced or learned; None while auto mode has not seen an n > 1 reply."""
        core = self._core
        return core.fanout_n if core.fanout_n is not None else (
            None if core.native_n is None else not core.native_n)

    def __repr__(self) -> str:
        return f"Generator(base_url={self.base_url!r}, model={self.model!r})"

    async def generate(self, messages: list[dict], *, n: int = 1, max_tokens: int = 256,
                       temperature: float = 0.8, top_p: float = 0.95,
                       stop: list[str] | None = None, seed: int | None = None,
                       stage: str = "mcts", reply_format: ReplyFormat | None = None) -> list[str]:
        """``n`` completions of ``messages``, in order. Raises GenerationFailed on give-up.
        ``reply_format`` is sent to servers whose structured-outputs dialect is configured
        (the endpoint's ``structured_outputs``, else ``RADER_LLM_STRUCTURED_OUTPUTS``) and ignored
        otherwise."""
        core, watch = self._core, Stopwatch()
        record = CallRecord(stage=stage, model=core.model, n=n, run_id=self.run_id,
                            problem_id=self.problem_id)
        dialect = core.dialect
        constrain = reply_format if reply_format is not None and dialect != "off" else None
        request = cache_request(core.model, messages, n, max_tokens, temperature, top_p, stop, seed,
                                None if constrain is None else f"{constrain.name}@{dialect}",
                                endpoint=core.cache_endpoint)
        key = request_key(request) if core.cache and (seed is not None or temperature == 0) else None
        if key is not None:
            hit = await self._cache_op(core.cache.get, key)
            if hit is not None and len(hit.texts) == n:
                record.cache_hit, record.attempts, record.latency_s = True, 0, watch.elapsed
                record.finish_reason = hit.finish_reason
                await self._account(record)
                return hit.texts
        params = dict(max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=stop,
                      extra_body=constrain.request_fields(dialect) if constrain else None)
        try:
            texts, ptok, ctok, attempts, finish = await self._complete(messages, n, seed, params)
        except GenerationFailed as exc:
            record.error, record.attempts, record.latency_s = str(exc), exc.attempts, watch.elapsed
            await self._account(record)
            raise
        record.prompt_tokens, record.completion_tokens = min(ptok, _INT32), min(ctok, _INT32)
        record.attempts, record.latency_s, record.finish_reason = attempts, watch.elapsed, finish
        if constrain is not None:
            try:
                await core.guard.check(constrain, texts)
            except RaderError as exc:          # StructuredOutputsIgnored: not cached, accounted
                record.error = str(exc)
                await self._account(record)
                raise
        if key is not None and cacheable(finish):
            await self._cache_op(core.cache.put, key, request,
                                 CachedResponse(texts, ptok, ctok, finish))
        await self._account(record)
        return texts

    async def _account(self, record: CallRecord) -> None:
        observe_llm_call(record)   # live counters and metrics (rader_queue.ops.live_llm); never raises
        if self.ledger is not None:
            await self.ledger.add(record)

    async def _cache_op(self, fn, *args):
        try:
            return await fn(*args)
        except (RaderError, SQLAlchemyError) as exc:   # a cache outage must not stop generation
            log.warning("llm cache unavailable, continuing without it: %s", type(exc).__name__)
            return None

    async def _complete(self, messages, n, seed, params) -> tuple[list[str], int, int, int, str]:
        core = self._core
        forced = core.fanout_n
        if n == 1 or forced is True or (forced is None and core.native_n is False):
            return await self._fan_out(messages, n, seed, params)
        texts, ptok, ctok, attempts, finish = await self._request(messages, n, seed, params)
        if len(texts) >= n:
            if forced is None:
                core.native_n = True
            return texts[:n], ptok, ctok, attempts, finish
        if forced is None and core.native_n is not True:
            core.native_n = False
            log.info("endpoint %s returned %d of n=%d choices; fanning out n from now on",
                     core.base_url, len(texts), n)
        more_seed = None if seed is None else seed + len(texts)
        more, p2, c2, a2, f2 = await self._fan_out(messages, n - len(texts), more_seed, params)
        return texts + more, ptok + p2, ctok + c2, max(attempts, a2), merge_finish(finish, f2)

    async def _fan_out(self, messages, n, seed, params) -> tuple[list[str], int, int, int, str]:
        """n concurrent single-choice requests with seeds seed, seed+1, …"""
        if n == 1:
            return await self._request(messages, 1, seed, params)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._request(
                    messages, 1, None if seed is None else seed + i, params, allow_empty=True))
                    for i in range(n)]
        except* GenerationFailed as failures:
            raise failures.exceptions[0] from None
        results = [t.result() for t in tasks]
        if not any(text.strip() for r in results for text in r[0]):   # judged together
            core = self._core
            raise GenerationFailed(f"chat completion ({core.model} at {core.base_url}) failed",
                                   attempts=max(r[3] for r in results),
                                   last_error=f"BadReply: all {n} replies have empty content")
        return ([r[0][0] for r in results], sum(r[1] for r in results),
                sum(r[2] for r in results), max(r[3] for r in results),
                merge_finish(*(r[4] for r in results)))

    async def _request(self, messages, n, seed, params,
                       allow_empty: bool = False) -> tuple[list[str], int, int, int, str]:
        core = self._core
        client, sem = core.bound()
        kwargs: dict[str, Any] = dict(model=core.model, messages=messages, n=n,
                                      max_tokens=params["max_tokens"],
                                      temperature=params["temperature"], top_p=params["top_p"])
        if params["stop"]:
            kwargs["stop"] = list(params["stop"])
        if seed is not None:
            kwargs["seed"] = seed
        if params.get("extra_body"):
            kwargs["extra_body"] = params["extra_body"]

        max_tokens = params["max_tokens"]

        async def once():
            core.in_flight += 1
            token = body_cap.set(body_byte_cap(max_tokens, n))
            try:
                reply = await client.chat.completions.create(**kwargs)
            except openai.APIConnectionError as exc:
                # the capped transport stopped reading (wrapped by some openai releases): a bad
                # reply, not a network fault
                if isinstance(exc.__cause__, ReplyTooLarge):
                    raise ReplyTooLarge(str(exc.__cause__)) from None
                raise
            finally:
                core.in_flight -= 1        # first: nothing below may skip it (the gauge)
                try:
                    body_cap.reset(token)
                except ValueError:         # finalized outside its task's context (closed by GC)
                    body_cap.set(None)
            return parse_reply(reply, max_tokens, allow_empty=allow_empty)

        parsed, attempts = await call_with_retries(
            once, core.policy, gate=sem, what=f"chat completion ({core.model} at {core.base_url})",
            secrets=(core.api_key,))
        return (parsed.texts, parsed.prompt_tokens, parsed.completion_tokens, attempts,
                parsed.finish_reason)


_INT32 = 2**31 - 1     # the ledger's token columns


async def _close_quietly(client: openai.AsyncOpenAI) -> None:
    try:
        await client.close()
    except Exception as exc:  # noqa: BLE001 - sockets of a closed loop; nothing left to free
        log.debug("closing a client of a finished event loop: %s", exc)
