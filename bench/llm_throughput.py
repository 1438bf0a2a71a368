"""Completion tokens per second of a model server, measured through the Generator the workers
use (tokens from the ledger). Shared by bench_generator.py (engines side by side) and
bench_main_job.py (the embedded server at several thread counts)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rader_queue.llm.generator import Generator  # noqa: E402
from rader_queue.llm.ledger import Ledger  # noqa: E402
from rader_queue.settings import Settings  # noqa: E402

PROMPTS = ["Explain why the sum of two even numbers is even.",
           "What is the derivative of x^3 + 2x? Show the steps.",
           "State the Pythagorean theorem and give an example.",
           "How many ways can 4 people sit in a row?"]


@contextlib.contextmanager
def llamacpp(threads: int) -> Iterator[tuple[str, str]]:
    """The embedded llama.cpp server (SmolLM2-135M-Instruct Q4_1) with ``threads`` threads and a
    2,048-token context, given explicitly (not the embedded mode's defaults): (base URL, model)."""
    from rader_queue.llm.embedded_server import embedded_server

    with embedded_server(port=0, n_threads=threads, n_ctx=2048) as server:
        yield server.base_url, server.model


def generator(base_url: str, model: str) -> Generator:
    """A generator for the benchmark: no response cache, a generous timeout."""
    return Generator(Settings(llm_base_url=base_url, llm_model=model, llm_cache=False,
                              llm_timeout_s=600))


async def measure(gen: Generator, requests: int, concurrency: int, max_tokens: int,
                  n: int = 1) -> float:
    """Completion tokens/s of ``requests`` calls (``n`` choices each), ``concurrency`` in flight."""
    ledger = Ledger()
    view = gen.bind(ledger=ledger)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await view.generate([{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
                                n=n, max_tokens=max_tokens, temperature=0.8, seed=1000 + i * n,
                                stage="bench")

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(requests)))
    return ledger.totals().completion_tokens / (time.perf_counter() - start)
