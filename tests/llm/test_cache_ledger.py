"""Response cache and cost ledger against the real PostgreSQL test database."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from rader_queue.llm.generator import Generator
from rader_queue.llm.ledger import Ledger
from rader_queue.store.db import session_scope
from rader_queue.store.models import LLMCacheEntry, LLMCall
from tests.llm.fake_server import FakeServer
from tests.llm.test_generator_faults import make_settings


def test_same_call_twice_costs_one_model_call(pg_url):
    stage = f"test-{uuid.uuid4().hex[:8]}"
    messages = [{"role": "user", "content": f"cache me {stage}"}]
    with FakeServer("ok") as server:
        gen = Generator(make_settings(server.base_url, llm_cache=True, database_url=pg_url,
                                      llm_timeout_s=10.0))
        ledger = Ledger()
        view = gen.bind(ledger=ledger)

        async def twice():
            first = await view.generate(messages, n=2, seed=3, stage=stage)
            second = await view.generate(messages, n=2, seed=3, stage=stage)
            return first, second

        first, second = asyncio.run(twice())
    assert first == second == ["seed=3 choice=0", "seed=3 choice=1"]
    assert len(server.requests) == 1
    totals = ledger.totals()
    assert (totals.calls, totals.cache_hits) == (2, 1)
    with session_scope(pg_url) as session:
        assert ledger.flush(session) == 2
    assert ledger.records == []
    with session_scope(pg_url) as session:
        rows = session.scalars(select(LLMCall).where(LLMCall.stage == stage)
                               .order_by(LLMCall.id)).all()
        assert [r.cache_hit for r in rows] == [False, True]
        assert rows[0].completion_tokens == 6 and rows[0].attempts == 1 and rows[0].n == 2
        assert rows[1].attempts == 0 and rows[1].completion_tokens == 0
        assert session.scalar(select(func.count()).select_from(LLMCacheEntry)) >= 1


def test_unseeded_sampling_is_not_cached_and_every_call_is_ledgered(pg_url):
    stage = f"test-{uuid.uuid4().hex[:8]}"
    messages = [{"role": "user", "content": f"fresh samples {stage}"}]
    ledger = Ledger()
    with FakeServer("ok") as server:
        gen = Generator(make_settings(server.base_url, llm_cache=True, database_url=pg_url,
                                      llm_timeout_s=10.0),
                        ledger=ledger)

        async def twice():
            await gen.generate(messages, temperature=0.8, stage=stage)
            await gen.generate(messages, temperature=0.8, stage=stage)

        asyncio.run(twice())
    assert len(server.requests) == 2
    with session_scope(pg_url) as session:
        assert ledger.flush(session) == 2
    with session_scope(pg_url) as session:
        hits = session.scalars(select(LLMCall.cache_hit).where(LLMCall.stage == stage)).all()
    assert hits == [False, False]
