"""Replies are untrusted (issue 13): null/empty content, oversized bodies, absurd usage, lone
surrogates and odd finish reasons, from a real loopback server; and a cache that never replays
a broken endpoint or another endpoint's replies. SQL rows go to the session's PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import tracemalloc

import pytest
from sqlalchemy import func, select

from rader_queue.errors import GenerationFailed
from rader_queue.llm.generator import Generator
from rader_queue.llm.ledger import Ledger
from rader_queue.llm.reply import body_byte_cap, reply_char_cap
from rader_queue.settings import Settings
from rader_queue.store import session_scope
from rader_queue.store.models import LLMCacheEntry, LLMCall
from tests.llm.fake_server import FakeServer, Reply, chat

MESSAGES = [{"role": "user", "content": "What is 6 x 7?"}]


def settings(base_url: str, **kw) -> Settings:
    values = dict(llm_base_url=base_url, llm_model="default", llm_api_key="sk-x",
                  llm_max_retries=3, llm_backoff_base_s=0.01, llm_backoff_cap_s=0.02,
                  llm_timeout_s=5, llm_cache=False)
    values.update(kw)
    return Settings(**values)


def generate(gen: Generator, **kw) -> list[str]:
    return asyncio.run(gen.generate(MESSAGES, **kw))


@pytest.mark.parametrize("reply", [
    chat(None), chat(""), chat("  \n "), Reply(200, {"id": "x", "choices": []}),
    chat("fine", None)], ids=["null", "empty", "blank", "no-choices", "one-of-two-null"])
def test_reply_without_content_is_retried_then_fails(reply):
    with FakeServer(lambda body: reply) as server:
        ledger = Ledger()
        gen = Generator(settings(server.base_url), ledger=ledger)
        with pytest.raises(GenerationFailed) as info:
            generate(gen, n=reply.payload and len(reply.payload["choices"]) or 1, seed=3)
    # bad replies have their own budget: 1 try + 2 retries, within max_retries=3
    assert len(server.requests) == 3 and info.value.attempts == 3
    assert "content" in str(info.value) or "choices" in str(info.value)
    (record,) = ledger.records
    assert record.error and not record.cache_hit


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_huge_reply_is_refused_while_read(chunked):
    big = chat("x" * 8_000_000)
    big = Reply(200, raw=json.dumps(big.payload).encode(), chunked=chunked)   # built beforehand
    replies = [chat("warm-up")]
    with FakeServer(lambda body: replies.pop() if replies else big) as server:
        gen = Generator(settings(server.base_url, llm_max_retries=1))

        async def measure() -> tuple[BaseException, int]:
            await gen.generate(MESSAGES, max_tokens=256, seed=0)   # client and pool exist now
            tracemalloc.start()
            try:
                with pytest.raises(GenerationFailed) as info:
                    await gen.generate(MESSAGES, max_tokens=256, seed=1)
                return info.value, tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

        failure, peak = asyncio.run(measure())
    cap = body_byte_cap(256, 1)
    assert cap < 200_000 and "over" in str(failure)
    # Uncapped, this 8 MB reply costs > 16 MB (body bytes, decoded str, parsed JSON). Capped,
    # the client reads about the cap, plus what the socket layers buffer (asyncio reads up to
    # 256 KiB at a time): peak memory does not grow with the reply.
    assert peak < 2_000_000, f"peak traced memory {peak} bytes for a cap of {cap}"


def test_one_empty_sample_beside_usable_ones_is_kept():
    with FakeServer(lambda body: chat("", "x = 42")) as server:     # native n
        assert generate(Generator(settings(server.base_url)), n=2, seed=1) == ["", "x = 42"]
    with FakeServer(lambda body: chat("" if body["seed"] == 1 else "y")) as server:  # fan-out
        gen = Generator(settings(server.base_url), fanout_n=True)
        assert generate(gen, n=3, seed=1) == ["", "y", "y"]
        assert len(server.requests) == 3                  # empty singles are not retried


def test_fan_out_whose_every_reply_is_empty_fails():
    with FakeServer(lambda body: chat(" ")) as server:
        gen = Generator(settings(server.base_url), fanout_n=True)
        with pytest.raises(GenerationFailed, match="all 3 replies have empty content"):
            generate(gen, n=3, seed=1)


def test_reply_longer_than_max_tokens_allows_is_refused():
    text = "y" * (reply_char_cap(16) + 1)           # fits the byte cap, not the character cap
    with FakeServer(lambda body: chat(text)) as server:
        gen = Generator(settings(server.base_url))
        with pytest.raises(GenerationFailed) as info:
            generate(gen, max_tokens=16, seed=1)
    assert f"over the cap of {reply_char_cap(16)}" in str(info.value)


@pytest.mark.parametrize("usage", [
    {"prompt_tokens": 10**12, "completion_tokens": 10**15},
    {"prompt_tokens": -5, "completion_tokens": -1},
    {"prompt_tokens": "many", "completion_tokens": 2.5},
    {"prompt_tokens": True, "completion_tokens": None}], ids=["huge", "negative", "types", "bool"])
def test_absurd_usage_is_counted_as_zero_and_rows_are_written(pg_url, usage):
    with FakeServer(lambda body: chat("six times seven is 42", usage=usage)) as server:
        ledger = Ledger()
        gen = Generator(settings(server.base_url), ledger=ledger)
        assert generate(gen, seed=7, stage=f"usage-{id(usage)}") == ["six times seven is 42"]
    with session_scope(pg_url) as s:
        assert ledger.flush(s) == 1
    with session_scope(pg_url) as s:
        row = s.scalars(select(LLMCall).where(LLMCall.stage == f"usage-{id(usage)}")).one()
        assert (row.prompt_tokens, row.completion_tokens) == (0, 0)
        assert row.finish_reason == "stop" and row.error is None


def test_lone_surrogates_and_nul_are_cleaned_and_stored(pg_url):
    raw = (b'{"id":"x","object":"chat.completion","created":0,"model":"default","choices":'
           b'[{"index":0,"finish_reason":"length","message":{"role":"assistant","content":'
           b'"a\\ud800b\\u0000c\\udfff \\ud83d\\ude00"}}],"usage":{"prompt_tokens":3,'
           b'"completion_tokens":4}}')
    ledger = Ledger()
    with FakeServer(lambda body: Reply(200, raw=raw)) as server:
        gen = Generator(settings(server.base_url, llm_cache=True), db_url=pg_url, ledger=ledger)
        (text,) = generate(gen, seed=11, stage="surrogate")
        assert text == "a\ufffdbc\ufffd \U0001F600"
        assert generate(gen, seed=11, stage="surrogate") == [text]   # stored, read back
        assert len(server.requests) == 1
    with session_scope(pg_url) as s:
        assert ledger.flush(s) == 2
    with session_scope(pg_url) as s:
        rows = s.scalars(select(LLMCall).where(LLMCall.stage == "surrogate")
                         .order_by(LLMCall.id)).all()
        assert [(r.cache_hit, r.finish_reason) for r in rows] == [(False, "length"),
                                                                  (True, "length")]


def test_finish_reason_is_summarised_and_odd_values_named_other():
    replies = iter([chat("a", "b", finish="length"), chat("c", finish="<script>"),
                    chat("d", finish=None)])
    with FakeServer(lambda body: next(replies)) as server:
        ledger = Ledger()
        gen = Generator(settings(server.base_url), ledger=ledger, fanout_n=False)
        generate(gen, n=2, seed=1)
        generate(gen, seed=2)
        generate(gen, seed=3)
    assert [r.finish_reason for r in ledger.records] == ["length", "other", None]


def _cache_rows(pg_url: str, endpoint: str) -> int:
    with session_scope(pg_url) as s:
        return s.scalar(select(func.count()).select_from(LLMCacheEntry)
                        .where(LLMCacheEntry.endpoint == endpoint.rstrip("/")))


def test_broken_endpoint_is_not_replayed_after_it_is_fixed(pg_url):
    state = {"broken": True}

    def responder(body):
        if state["broken"]:
            # content null, and a well-formed but aborted reply: neither may be cached
            return chat(None) if body.get("seed") == 1 else chat("internal error", finish="abort")
        return chat(f"fresh answer for seed {body.get('seed')}")

    with FakeServer(responder) as server:
        gen = Generator(settings(server.base_url, llm_cache=True), db_url=pg_url)
        with pytest.raises(GenerationFailed):
            generate(gen, seed=1)
        assert generate(gen, seed=2) == ["internal error"]        # returned, not stored
        assert _cache_rows(pg_url, server.base_url) == 0
        state["broken"] = False
        assert generate(gen, seed=1) == ["fresh answer for seed 1"]
        assert generate(gen, seed=2) == ["fresh answer for seed 2"]
        before = len(server.requests)
        assert generate(gen, seed=2) == ["fresh answer for seed 2"]   # now a hit
        assert len(server.requests) == before
        assert _cache_rows(pg_url, server.base_url) == 2


def test_cache_key_includes_the_endpoint(pg_url):
    with FakeServer(lambda body: chat("from A")) as a, \
            FakeServer(lambda body: chat("from B")) as b:
        gen_a = Generator(settings(a.base_url, llm_cache=True), db_url=pg_url)
        gen_b = Generator(settings(b.base_url + "/", llm_cache=True), db_url=pg_url)
        assert generate(gen_a, seed=5, temperature=0) == ["from A"]
        assert generate(gen_b, seed=5, temperature=0) == ["from B"]   # same model name "default"
        assert generate(gen_b, seed=5, temperature=0) == ["from B"]
        assert len(a.requests) == 1 and len(b.requests) == 1
    assert _cache_rows(pg_url, a.base_url) == 1 and _cache_rows(pg_url, b.base_url) == 1
