"""The generator's response cache in SQL (``llm_cache``).

The key is the sha256 of the canonical JSON of (model, messages, n, max_tokens, temperature,
top_p, stop, seed). A hit costs no model call. Reads and writes are synchronous SQLAlchemy run in
a worker thread (``asyncio.to_thread``) so the event loop never waits on SQL; writes are
``INSERT … ON CONFLICT DO NOTHING``, so two workers that miss together both succeed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select

from rader_queue.store.db import insert_ignore, session_scope
from rader_queue.store.models import LLMCacheEntry


def request_key(request: dict) -> str:
    """sha256 hex of the canonical JSON of a request dict (sorted keys, no whitespace)."""
    blob = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def cache_request(model: str, messages: list[dict], n: int, max_tokens: int, temperature: float,
                  top_p: float, stop: list[str] | None, seed: int | None,
                  reply_format: str | None = None) -> dict:
    request = {"model": model, "messages": messages, "n": n, "max_tokens": max_tokens,
               "temperature": temperature, "top_p": top_p, "stop": list(stop) if stop else None,
               "seed": seed}
    if reply_format is not None:          # absent otherwise: keys of earlier entries stay valid
        request["reply_format"] = reply_format
    return request


@dataclass
class CachedResponse:
    texts: list[str]
    prompt_tokens: int
    completion_tokens: int


class ResponseCache:
    """``llm_cache`` at ``db_url`` (the settings' database when None)."""

    def __init__(self, db_url: str | None = None) -> None:
        self.db_url = db_url

    def get_sync(self, key: str) -> CachedResponse | None:
        with session_scope(self.db_url) as session:
            row = session.execute(select(LLMCacheEntry).where(LLMCacheEntry.key == key)).scalar()
            if row is None:
                return None
            return CachedResponse(list(row.response), row.prompt_tokens, row.completion_tokens)

    def put_sync(self, key: str, request: dict, response: CachedResponse) -> None:
        with session_scope(self.db_url) as session:
            insert_ignore(session, LLMCacheEntry, [{
                "key": key, "model": request["model"], "request": request,
                "response": response.texts, "prompt_tokens": response.prompt_tokens,
                "completion_tokens": response.completion_tokens}], ["key"])

    async def get(self, key: str) -> CachedResponse | None:
        return await asyncio.to_thread(self.get_sync, key)

    async def put(self, key: str, request: dict, response: CachedResponse) -> None:
        await asyncio.to_thread(self.put_sync, key, request, response)
