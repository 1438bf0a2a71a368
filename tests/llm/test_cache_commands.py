"""``rader-queue llm cache stats|clear`` on the session's PostgreSQL (typer's CliRunner)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select, update
from typer.testing import CliRunner

from rader_queue.cli.main import app
from rader_queue.llm.cache import CachedResponse, ResponseCache, cache_request, request_key
from rader_queue.store import session_scope
from rader_queue.store.models import LLMCacheEntry

A, B = "http://127.0.0.1:8001/v1", "http://10.0.0.2:8000/v1"


def _put(cache: ResponseCache, endpoint: str, model: str, seed: int) -> str:
    request = cache_request(model, [{"role": "user", "content": "q"}], 1, 16, 0.0, 1.0, None,
                            seed, endpoint=endpoint)
    key = request_key(request)
    cache.put_sync(key, request, CachedResponse([f"{model}@{endpoint}#{seed}"], 1, 1, "stop"))
    return key


def _count(url: str) -> int:
    with session_scope(url) as s:
        return s.scalar(select(func.count()).select_from(LLMCacheEntry))


def test_stats_and_clear(rader_env):
    url = rader_env["RADER_DATABASE_URL"]
    with session_scope(url) as s:
        s.execute(delete(LLMCacheEntry))
    cache = ResponseCache(url)
    old = _put(cache, A, "default", 1)
    for seed in (2, 3):
        _put(cache, A, "default", seed)
    _put(cache, B, "default", 1)
    _put(cache, B, "[/bold]\x1b[2J", 1)                    # a hostile model name is shown as text
    cache.put_sync("bad", {"model": "m", "n": 1, "endpoint": A}, CachedResponse([""], 0, 0))
    assert _count(url) == 5                                # the empty reply was not stored
    with session_scope(url) as s:
        s.execute(update(LLMCacheEntry).where(LLMCacheEntry.key == old)
                  .values(created_at=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)))
    runner = CliRunner()
    out = runner.invoke(app, ["llm", "cache", "stats"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert A in out.output and B in out.output and "5 entries" in out.output
    assert "[/bold]" in out.output and "\x1b" not in out.output
    out = runner.invoke(app, ["llm", "cache", "clear", "--before", "2021-01-01"])
    assert out.exit_code == 0 and "removed 1 cache entry" in out.output, out.output
    out = runner.invoke(app, ["llm", "cache", "clear", "--endpoint", A + "/", "--model", "nope"])
    assert "removed 0 cache entries" in out.output
    out = runner.invoke(app, ["llm", "cache", "clear", "--endpoint", A + "/"])
    assert "removed 2 cache entries" in out.output and _count(url) == 2
    out = runner.invoke(app, ["llm", "cache", "clear", "--before", "yesterday"])
    assert out.exit_code == 2 and "--before" in out.output
    out = runner.invoke(app, ["llm", "cache", "clear", "--model", "default"])
    assert "removed 1 cache entry" in out.output and _count(url) == 1
    out = runner.invoke(app, ["llm", "cache", "clear"])
    assert "removed 1 cache entry" in out.output and _count(url) == 0
