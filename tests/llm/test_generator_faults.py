"""The generator against a loopback server of the test's own: retries are bounded, failures
become GenerationFailed, nothing hangs, and n > 1 fans out where the server ignores n."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest

from rader_queue.errors import ConfigError, GenerationFailed, ModelError
from rader_queue.ports import free_port
from rader_queue.llm.generator import Generator
from rader_queue.llm.ledger import Ledger
from rader_queue.llm.retry import BadReply, RetryPolicy, call_with_retries
from rader_queue.settings import Settings
from tests.llm.fake_server import FakeServer

MESSAGES = [{"role": "user", "content": "hi"}]


def make_settings(base_url: str, **kw) -> Settings:
    values = dict(llm_base_url=base_url, llm_model="fake", llm_api_key="sk-test-secret-key",
                  llm_max_retries=2, llm_backoff_base_s=0.01, llm_backoff_cap_s=0.05,
                  llm_timeout_s=0.5, llm_cache=False)
    values.update(kw)
    return Settings(**values)


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize("mode", ["500", "hang", "garbage", "no_choices"])
def test_retryable_failures_are_bounded(mode):
    with FakeServer(mode) as server:
        ledger = Ledger()
        gen = Generator(make_settings(server.base_url), ledger=ledger)
        start = time.monotonic()
        with pytest.raises(GenerationFailed) as info:
            run(gen.generate(MESSAGES, seed=1))
        elapsed = time.monotonic() - start
    assert elapsed < 10
    expected = 3 if mode in ("500", "hang") else 3   # bad replies: 1 try + 2 retries
    assert len(server.requests) == expected
    assert info.value.attempts == expected
    assert "sk-test-secret-key" not in str(info.value)
    (record,) = ledger.records
    assert record.error and record.attempts == expected and not record.cache_hit


def test_client_error_fails_at_once():
    with FakeServer("400") as server:
        gen = Generator(make_settings(server.base_url, llm_max_retries=5))
        with pytest.raises(GenerationFailed) as info:
            run(gen.generate(MESSAGES))
    assert len(server.requests) == 1 and info.value.attempts == 1
    assert "400" in str(info.value)


def test_not_listening_gives_up_quickly():
    gen = Generator(make_settings(f"http://127.0.0.1:{free_port()}/v1"))
    start = time.monotonic()
    with pytest.raises(GenerationFailed) as info:
        run(gen.generate(MESSAGES))
    assert time.monotonic() - start < 10
    assert info.value.attempts == 3
    assert "Connection" in str(info.value)


def test_native_n_and_fan_out():
    with FakeServer("ok") as server:
        gen = Generator(make_settings(server.base_url))
        assert run(gen.generate(MESSAGES, n=3, seed=5)) == [f"seed=5 choice={i}" for i in range(3)]
        assert len(server.requests) == 1 and gen.fanout_n is False
    with FakeServer("one_choice") as server:
        gen = Generator(make_settings(server.base_url))
        ledger = Ledger()
        texts = run(gen.bind(ledger=ledger).generate(MESSAGES, n=3, seed=5))
        assert texts == ["seed=5 choice=0", "seed=6 choice=0", "seed=7 choice=0"]
        assert gen.fanout_n is True                      # learned: the server ignores n
        assert ledger.records[0].completion_tokens == 9 and ledger.records[0].n == 3
        server.requests.clear()
        texts = run(gen.generate(MESSAGES, n=2, seed=10))
        assert texts == ["seed=10 choice=0", "seed=11 choice=0"]
        assert [r["n"] for r in server.requests] == [1, 1]


def test_in_flight_is_bounded_and_views_share_state():
    with FakeServer("hang") as server:
        settings = make_settings(server.base_url, llm_timeout_s=5, llm_max_in_flight=2)
        gen = Generator(settings)
        view = gen.bind(run_id=None)
        assert view.in_flight == 0

        async def scenario():
            tasks = [asyncio.create_task(view.generate(MESSAGES, seed=i)) for i in range(5)]
            await asyncio.sleep(0.5)
            seen = gen.in_flight
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return seen

        assert run(scenario()) == 2
        assert gen.in_flight == 0


def test_backoff_is_full_jitter_and_capped():
    wait = RetryPolicy(base_s=1.0, cap_s=4.0).wait()
    late = [wait(SimpleNamespace(attempt_number=11)) for _ in range(200)]
    assert max(late) <= 4.0 and min(late) < 1.0                  # capped, jittered down to ~0
    first = [wait(SimpleNamespace(attempt_number=1)) for _ in range(200)]
    assert max(first) <= 1.0 and max(first) > 0.5                # base × 2**0 before the 1st retry


def test_bad_replies_are_bounded_within_the_retries():
    calls = []

    async def malformed():
        calls.append(1)
        raise BadReply("no choices")

    policy = RetryPolicy(max_retries=5, base_s=0.001, cap_s=0.001, max_bad_replies=1)
    with pytest.raises(GenerationFailed) as info:
        run(call_with_retries(malformed, policy, what="test call"))
    assert len(calls) == 2 and info.value.attempts == 2 and "BadReply: no choices" in str(info.value)


def test_other_errors_are_not_retried_and_keep_their_message():
    calls = []

    async def broken():
        calls.append(1)
        raise KeyError("sk-test-secret-key")

    with pytest.raises(ModelError, match=r"after 1 attempt\(s\): KeyError") as info:
        run(call_with_retries(broken, RetryPolicy(), what="embedding", error_cls=ModelError,
                              secrets=("sk-test-secret-key",)))
    assert len(calls) == 1 and "sk-test-secret-key" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_missing_endpoint_is_a_config_error():
    with pytest.raises(ConfigError, match="RADER_LLM_BASE_URL"):
        Generator(make_settings(None))


def test_repr_hides_key():
    gen = Generator(make_settings("http://127.0.0.1:9/v1"))
    assert "sk-test" not in repr(gen)
