"""Named endpoints and the stage → endpoint map: validation, resolution, cache identity, and the
worker context that shares one client per endpoint and closes it."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from pydantic import ValidationError

from rader_queue.context import WorkerContext
from rader_queue.errors import ConfigError
from rader_queue.llm.generator import Generator
from rader_queue.settings import Settings
from tests.llm.fake_server import FakeServer

TWO = {"gen7b": {"base_url": "http://gen:8000/v1", "model": "Qwen2.5-7B"},
       "judge32b": {"base_url": "http://judge:8000/v1", "model": "Qwen2.5-32B",
                    "api_key_env": "RADER_TEST_JUDGE_KEY", "structured_outputs": "vllm"}}


def test_without_a_map_every_stage_uses_the_single_endpoint_settings():
    s = Settings(llm_base_url="http://one:8000/v1", llm_model="m", llm_api_key="k",
                 llm_structured_outputs="llamacpp", llm_cache_endpoint="embedded:x")
    for stage in ("mcts", "querygen", "judge", "rerank", "embed"):
        ep = s.endpoint_for(stage)
        assert (ep.name, ep.base_url, ep.model) == ("default", "http://one:8000/v1", "m")
        assert ep.api_key.get_secret_value() == "k" and ep.structured_outputs == "llamacpp"
        assert ep.cache_endpoint == "embedded:x"


def test_stage_map_from_the_environment(monkeypatch):
    monkeypatch.setenv("RADER_ENDPOINTS", json.dumps(TWO))
    monkeypatch.setenv("RADER_STAGE_ENDPOINTS", json.dumps({"mcts": "gen7b", "judge": "judge32b",
                                                            "rerank": "judge32b"}))
    monkeypatch.setenv("RADER_TEST_JUDGE_KEY", "sk-judge")
    monkeypatch.setenv("RADER_LLM_BASE_URL", "http://fallback:8000/v1")
    s = Settings()
    assert s.endpoint_for("mcts").model == "Qwen2.5-7B"
    judge = s.endpoint_for("judge")
    assert (judge.name, judge.base_url, judge.model) == ("judge32b", "http://judge:8000/v1",
                                                          "Qwen2.5-32B")
    assert judge.api_key.get_secret_value() == "sk-judge" and "sk-judge" not in repr(judge)
    assert judge.structured_outputs == "vllm" and judge.cache_endpoint == "http://judge:8000/v1"
    assert s.endpoint_for("rerank") == judge
    # unmapped stages: the default endpoint
    assert s.endpoint_for("querygen").base_url == "http://fallback:8000/v1"
    assert s.endpoint_for("mcts").api_key.get_secret_value() == "EMPTY"   # no api_key_env


@pytest.mark.parametrize("stage_map, words", [
    ({"judge": "judge70b"}, ["unknown endpoint 'judge70b'", "stage 'judge'", "gen7b, judge32b"]),
    ({"reflect": "gen7b"}, ["unknown stage 'reflect'", "mcts, querygen, judge, rerank, embed"]),
])
def test_bad_stage_map_is_refused_naming_what_is_wrong(stage_map, words):
    with pytest.raises(ValidationError) as err:
        Settings(endpoints=TWO, stage_endpoints=stage_map)
    for word in words:
        assert word in str(err.value)


def test_bad_endpoint_definitions_are_refused():
    with pytest.raises(ValidationError, match="may not define 'default'"):
        Settings(endpoints={"default": {"base_url": "http://x/v1"}})
    with pytest.raises(ValidationError, match="base_url"):
        Settings(endpoints={"a": {"model": "m"}})
    with pytest.raises(ValidationError, match="api_ky"):           # a typo is not ignored
        Settings(endpoints={"a": {"base_url": "http://x/v1", "api_ky": "k"}})
    with pytest.raises(ConfigError, match="no model stage 'train'"):
        Settings().endpoint_for("train")


def test_redacted_settings_hide_endpoint_url_passwords():
    s = Settings(endpoints={"a": {"base_url": "http://user:hunter2@gpu:8000/v1"}})
    assert "hunter2" not in json.dumps(s.redacted())
    assert s.redacted()["endpoints"]["a"]["base_url"] == "http://user:***@gpu:8000/v1"


def test_two_endpoints_serving_the_same_model_name_do_not_share_cache_entries(pg_url):
    """The same seeded request to two servers under one model name: each server answers once,
    and a repeat is a cache hit at its own endpoint only."""
    messages = [{"role": "user", "content": f"cache identity {uuid.uuid4().hex}"}]
    with FakeServer("ok") as a, FakeServer("ok") as b:
        s = Settings(database_url=pg_url, llm_cache=True,
                     endpoints={"a": {"base_url": a.base_url, "model": "same"},
                                "b": {"base_url": b.base_url, "model": "same"}},
                     stage_endpoints={"mcts": "a", "judge": "b"})
        worker = WorkerContext(s)

        async def calls():
            for stage in ("mcts", "judge", "mcts", "judge"):
                await worker.generator(stage).generate(messages, seed=5, stage=stage)

        asyncio.run(calls())
        worker.close()
    assert len(a.requests) == 1 and len(b.requests) == 1
    assert a.requests[0]["model"] == b.requests[0]["model"] == "same"


def test_worker_context_shares_one_client_per_endpoint_and_closes_it():
    with FakeServer("ok") as a, FakeServer("ok") as b:
        s = Settings(llm_base_url=a.base_url, llm_model="gen", llm_cache=False,
                     endpoints={"judge": {"base_url": b.base_url, "model": "judge"}},
                     stage_endpoints={"judge": "judge", "rerank": "judge"})
        worker = WorkerContext(s)
        assert worker.generator("mcts") is worker.generator("querygen")       # both default
        assert worker.generator("judge") is worker.generator("rerank")
        assert worker.generator("judge") is not worker.generator("mcts")
        other = worker.generator("judge", model="judge-2")                    # a job's override
        assert other.model == "judge-2" and other.base_url == b.base_url

        async def one(gen: Generator):
            await gen.generate([{"role": "user", "content": "hi"}], seed=1)
            return gen._core._client

        loop = asyncio.new_event_loop()
        clients = [loop.run_until_complete(one(worker.generator(st))) for st in ("mcts", "judge")]
        assert all(not c.is_closed() for c in clients)
        worker.close()
        assert all(c.is_closed() for c in clients)
        loop.close()
        with pytest.raises(ConfigError, match="closed"):
            worker.generator("mcts")
    assert [r["model"] for r in a.requests] == ["gen"]
    assert [r["model"] for r in b.requests] == ["judge"]


def test_a_generator_used_from_a_new_event_loop_closes_the_old_client():
    with FakeServer("ok") as server:
        gen = Generator(Settings(llm_base_url=server.base_url, llm_cache=False))
        messages = [{"role": "user", "content": "hi"}]

        async def once():
            await gen.generate(messages, seed=1)
            return gen._core._client

        first = asyncio.run(once())
        second = asyncio.run(once())
        assert first is not second and first.is_closed() and not second.is_closed()
        gen.close()
        assert second.is_closed()


def test_the_embed_stage_uses_its_endpoint_with_one_client_closed_at_shutdown():
    with FakeServer("ok") as server:
        s = Settings(endpoints={"emb": {"base_url": server.base_url, "model": "emb-model"}},
                     stage_endpoints={"embed": "emb"}, embedder_normalize=False)
        worker = WorkerContext(s)
        embedder = worker.embedder()
        first = embedder.encode(["ab", "abcd"])
        second = embedder.encode(["abc"])
        assert first[:, 0].tolist() == [2.0, 4.0] and second[:, 0].tolist() == [3.0]
        assert [r["model"] for r in server.requests] == ["emb-model", "emb-model"]
        (client,) = embedder._clients.values()            # one client for both calls
        worker.close()
        assert client.is_closed() and not embedder._clients


def test_celery_worker_shutdown_closes_the_process_worker_context():
    from celery import signals

    from rader_queue import context
    from rader_queue.queue import worker_hooks  # noqa: F401 - a worker process loads it: it connects the context

    with FakeServer("ok") as server:
        worker = WorkerContext(Settings(llm_base_url=server.base_url, llm_cache=False))
        previous = context.install(worker)
        try:
            gen = context.current().generator("mcts")
            loop = asyncio.new_event_loop()
            loop.run_until_complete(gen.generate([{"role": "user", "content": "hi"}], seed=1))
            client = gen._core._client
            signals.worker_shutdown.send(sender=None)
            assert worker.closed and client.is_closed()
            assert context.current() is not worker          # a new one, from the environment
            loop.close()
        finally:
            context.install(previous)
