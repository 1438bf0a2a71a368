"""The real embedded model server (llama.cpp + SmolLM2-135M) behind the workers' Generator."""

from __future__ import annotations

import asyncio

import pytest

from rader_queue.errors import ModelError
from rader_queue.llm.embedded_server import embedded_server, start_server
from rader_queue.llm.generator import Generator
from rader_queue.llm.ledger import Ledger
from rader_queue.settings import Settings

pytestmark = [pytest.mark.model, pytest.mark.slow]    # one llama.cpp server per module


@pytest.fixture(scope="module")
def server():
    with embedded_server(port=0, n_ctx=2048) as srv:
        yield srv


def test_n_samples_with_stop_through_the_generator(server):
    gen = Generator(Settings(llm_base_url=server.base_url, llm_model=server.model, llm_cache=False,
                             llm_timeout_s=120, llm_max_retries=1))
    ledger = Ledger()
    messages = [{"role": "user", "content": "List the numbers from 1 to 20, separated by commas."}]
    texts = asyncio.run(gen.bind(ledger=ledger).generate(
        messages, n=2, max_tokens=48, temperature=0.7, stop=[","], seed=11))
    assert len(texts) == 2
    assert all(isinstance(t, str) and "," not in t for t in texts)
    assert gen.fanout_n is True            # llama.cpp returns one choice: the generator fans out
    (record,) = ledger.records
    assert record.n == 2 and record.completion_tokens > 0 and record.error is None


def test_seed_is_honoured(server):
    gen = Generator(Settings(llm_base_url=server.base_url, llm_model=server.model,
                             llm_cache=False, llm_timeout_s=120))
    messages = [{"role": "user", "content": "Name a famous mathematician."}]

    async def sample(seed):
        return await gen.generate(messages, max_tokens=16, temperature=1.0, seed=seed)

    async def scenario():
        await sample(1)                    # warm the prompt cache so runs compare like for like
        return [await sample(2), await sample(2)]

    a, b = asyncio.run(scenario())
    assert a == b


def test_bad_model_file_fails_clearly(tmp_path):
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"not a gguf")
    with pytest.raises(ModelError, match="exited"):
        start_server(gguf=bogus, port=0, ready_timeout_s=60)


def test_grammar_makes_the_small_model_verdicts_readable(server):
    """SmolLM2-135M rarely follows the verdict format from the prompt alone; with the grammar
    (RADER_LLM_STRUCTURED_OUTPUTS=llamacpp) every reply parses, free and constrained compared
    on the same prompts."""
    from rader_queue.llm.structured import VERDICT
    from rader_queue.mcts.parsers import parse_verdict
    from rader_queue.mcts.prompting import STOP_REFLECTION, load_template

    cases = [("What is the sum of the interior angles of a hexagon?",
              "The interior angles of a polygon with n sides add up to (n-2)*180 degrees."),
             ("How many ways can 6 books be arranged on a shelf?",
              "The number of orderings of n distinct objects is n factorial."),
             ("Find the area of a circle of radius 3.", "Every prime greater than 2 is odd.")]

    async def verdicts(dialect):
        gen = Generator(Settings(llm_base_url=server.base_url, llm_model=server.model,
                                 llm_cache=False, llm_timeout_s=120,
                                 llm_structured_outputs=dialect))
        out = []
        for question, theorem in cases:
            messages = load_template("self_reflection").messages(question=question,
                                                                 steps="(none)", theorem=theorem)
            (text,) = await gen.generate(messages, max_tokens=40, temperature=0.0, seed=3,
                                         stop=STOP_REFLECTION, reply_format=VERDICT)
            out.append(parse_verdict(text)[0])
        return out

    free = asyncio.run(verdicts("off"))
    constrained = asyncio.run(verdicts("llamacpp"))
    print(f"readable verdicts: free {sum(v is not None for v in free)}/{len(cases)}, "
          f"grammar {sum(v is not None for v in constrained)}/{len(cases)}")
    assert all(v is not None for v in constrained)
