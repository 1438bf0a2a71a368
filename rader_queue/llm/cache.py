"""The generator's response cache in SQL (``llm_cache``).

The key is the sha256 of the canonical JSON of (endpoint base URL, model, messages, n,
max_tokens, temperature, top_p, stop, seed[, reply format]). A hit costs no model call. The
endpoint is part of the key because model names are not unique (a server's default served name
is often ``default``): one endpoint's replies are never replayed for another. Only well-formed
replies are stored (the generator checks them, :mod:`rader_queue.llm.reply`), and an entry that
does not read back as ``n`` texts, one at least not blank, is deleted and treated as a miss.
Reads and writes are synchronous SQLAlchemy run in a worker thread (``asyncio.to_thread``) so the
event loop never waits on SQL; writes are ``INSERT … ON CONFLICT DO NOTHING``, so two workers
that miss together both succeed. ``cache_stats``/``cache_clear`` back ``rader-queue llm cache``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import delete, func, select

from rader_queue.store.db import insert_ignore, session_scope
from rader_queue.store.models import LLMCacheEntry


def request_key(request: dict) -> str:
    """sha256 hex of the canonical JSON of a request dict (sorted keys, no whitespace)."""
    blob = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def cache_request(model: str, messages: list[dict], n: int, max_tokens: int, temperature: float,
                  top_p: float, stop: list[str] | None, seed: int | None,
                  reply_format: str | None = None, *, endpoint: str | None = None) -> dict:
    request = {"endpoint": normalize_endpoint(endpoint), "model": model, "messages": messages,
               "n": n, "max_tokens": max_tokens, "temperature": temperature, "top_p": top_p,
               "stop": list(stop) if stop else None, "seed": seed}
    if reply_format is not None:          # absent otherwise: keys of earlier entries stay valid
        request["reply_format"] = reply_format
    return request


def normalize_endpoint(url: str | None) -> str | None:
    """The base URL as a key part: no surrounding space, no trailing slash."""
    return url.strip().rstrip("/") if url else None


@dataclass
class CachedResponse:
    texts: list[str]
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None


def _well_formed(texts: object, n: int | None) -> bool:
    """n texts, at least one of them not blank (the generator's rule for a usable reply)."""
    return (isinstance(texts, list) and bool(texts) and (n is None or len(texts) == n)
            and all(isinstance(t, str) for t in texts) and any(t.strip() for t in texts))


class ResponseCache:
    """``llm_cache`` at ``db_url`` (the settings' database when None)."""

    def __init__(self, db_url: str | None = None) -> None:
        self.db_url = db_url

    def get_sync(self, key: str) -> CachedResponse | None:
        with session_scope(self.db_url) as session:
            row = session.execute(select(LLMCacheEntry).where(LLMCacheEntry.key == key)).scalar()
            if row is None:
                return None
            n = row.request.get("n") if isinstance(row.request, dict) else None
            if not _well_formed(row.response, n if isinstance(n, int) else None):
                session.execute(delete(LLMCacheEntry).where(LLMCacheEntry.key == key))
                return None
            return CachedResponse(list(row.response), row.prompt_tokens, row.completion_tokens,
                                  row.finish_reason)

    def put_sync(self, key: str, request: dict, response: CachedResponse) -> None:
        if not _well_formed(response.texts, request.get("n")):
            return
        with session_scope(self.db_url) as session:
            insert_ignore(session, LLMCacheEntry, [{
                "key": key, "model": request["model"],
                "endpoint": (request.get("endpoint") or "")[:500] or None,
                "request": request, "response": response.texts,
                "prompt_tokens": response.prompt_tokens,
                "completion_tokens": response.completion_tokens,
                "finish_reason": response.finish_reason}], ["key"])

    async def get(self, key: str) -> CachedResponse | None:
        return await asyncio.to_thread(self.get_sync, key)

    async def put(self, key: str, request: dict, response: CachedResponse) -> None:
        await asyncio.to_thread(self.put_sync, key, request, response)


@dataclass
class CacheGroup:
    endpoint: str | None
    model: str
    entries: int
    oldest: dt.datetime | None
    newest: dt.datetime | None


def cache_stats(db_url: str | None = None) -> list[CacheGroup]:
    """Entries per (endpoint, model), largest first."""
    with session_scope(db_url) as session:
        rows = session.execute(
            select(LLMCacheEntry.endpoint, LLMCacheEntry.model, func.count(),
                   func.min(LLMCacheEntry.created_at), func.max(LLMCacheEntry.created_at))
            .group_by(LLMCacheEntry.endpoint, LLMCacheEntry.model)).all()
    return sorted((CacheGroup(*row) for row in rows), key=lambda g: (-g.entries, g.model))


def cache_clear(db_url: str | None = None, *, model: str | None = None,
                endpoint: str | None = None, before: dt.datetime | None = None) -> int:
    """Delete the entries matching every given filter (all entries without filters); returns
    how many. ``endpoint`` matches the normalised base URL."""
    query = delete(LLMCacheEntry)
    if model is not None:
        query = query.where(LLMCacheEntry.model == model)
    if endpoint is not None:
        query = query.where(LLMCacheEntry.endpoint == normalize_endpoint(endpoint))
    with session_scope(db_url) as session:
        if before is not None:
            if before.tzinfo is None:
                before = before.replace(tzinfo=dt.timezone.utc)
            if session.get_bind().dialect.name == "sqlite":     # stores naive UTC
                before = before.astimezone(dt.timezone.utc).replace(tzinfo=None)
            query = query.where(LLMCacheEntry.created_at < before)
        return session.execute(query).rowcount or 0
