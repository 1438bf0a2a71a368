"""Constrained replies: each structured-outputs dialect puts its own field on the wire, only
when configured, and constrained replies are cached apart from free ones."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest

from rader_queue.llm.generator import Generator
from rader_queue.llm.structured import VERDICT
from rader_queue.mcts.parsers import parse_verdict
from tests.llm.fake_server import FakeServer
from tests.llm.test_generator_faults import make_settings

MESSAGES = [{"role": "user", "content": "Is the theorem relevant?"}]


@pytest.mark.parametrize("dialect, field", [("vllm", "structured_outputs"),
                                            ("vllm-guided", "guided_regex"),
                                            ("llamacpp", "grammar")])
def test_the_configured_dialect_sends_its_field(dialect, field):
    with FakeServer("ok") as server:
        gen = Generator(make_settings(server.base_url, llm_structured_outputs=dialect))
        asyncio.run(gen.generate(MESSAGES, reply_format=VERDICT, seed=1))
        asyncio.run(gen.generate(MESSAGES, seed=1))               # no format asked: none sent
    constrained, free = server.requests
    other = {"structured_outputs", "guided_regex", "grammar"} - {field}
    assert field in constrained and not other & constrained.keys()
    assert not {"structured_outputs", "guided_regex", "grammar"} & free.keys()
    assert constrained["messages"] == free["messages"] and constrained["seed"] == 1


def test_off_sends_nothing():
    with FakeServer("ok") as server:
        gen = Generator(make_settings(server.base_url))               # default: off
        asyncio.run(gen.generate(MESSAGES, reply_format=VERDICT))
    (request,) = server.requests
    assert not {"structured_outputs", "guided_regex", "grammar"} & request.keys()


def test_the_regex_accepts_exactly_what_the_parser_reads():
    pattern = re.compile(VERDICT.regex)
    for text, label in [("Relevant: True\nReason: it gives c.", True),
                        ("Relevant: False\nReason: off topic", False)]:
        assert pattern.fullmatch(text) and parse_verdict(text)[0] is label
    for text in ["Relevant: Maybe\nReason: x", "True", "Relevant: True\nReason: "]:
        assert not pattern.fullmatch(text)
    assert '"True" | "False"' in VERDICT.gbnf


def test_constrained_and_free_replies_are_cached_apart(pg_url):
    messages = [{"role": "user", "content": f"verdict {uuid.uuid4().hex}"}]
    with FakeServer("ok") as server:
        gen = Generator(make_settings(server.base_url, llm_cache=True, database_url=pg_url,
                                      llm_structured_outputs="llamacpp"))

        async def calls():
            await gen.generate(messages, seed=5, reply_format=VERDICT)
            await gen.generate(messages, seed=5)                     # other key: a model call
            await gen.generate(messages, seed=5, reply_format=VERDICT)   # cache hit
        asyncio.run(calls())
    assert [("grammar" in r) for r in server.requests] == [True, False]


def test_a_server_that_ignores_the_dialect_fails_loudly_on_the_first_reply():
    from rader_queue.errors import StructuredOutputsIgnored

    with FakeServer("unconstrained") as server:
        gen = Generator(make_settings(server.base_url, llm_structured_outputs="vllm-guided"))
        with pytest.raises(StructuredOutputsIgnored) as caught:
            asyncio.run(gen.generate(MESSAGES, reply_format=VERDICT, seed=1))
        assert asyncio.run(gen.generate(MESSAGES, seed=1)) == ["seed=1 choice=0"]  # free: fine
    message = str(caught.value)
    assert "RADER_LLM_STRUCTURED_OUTPUTS=vllm-guided" in message and server.base_url in message
    assert "version unknown" in message and "seed=1 choice=0" in message


def test_the_guard_stops_checking_after_the_first_honoured_replies():
    with FakeServer("ok") as server:
        gen = Generator(make_settings(server.base_url, llm_structured_outputs="vllm"))
        for seed in range(3):
            asyncio.run(gen.generate(MESSAGES, reply_format=VERDICT, seed=seed))
        server.mode = "unconstrained"          # later drift is the parser's business
        assert asyncio.run(gen.generate(MESSAGES, reply_format=VERDICT, seed=9)) == ["seed=9 choice=0"]
