"""Generator throughput of rader-queue against the real embedded model server
(llama.cpp, SmolLM2-135M-Instruct Q4_1, CPU), through the same Generator the workers use.

Completion tokens per second (from the ledger's token counts) at 1 and 8 concurrent
requests, plus one n=8 call (fanned out by the generator, since the server ignores n).

    python bench/bench_generator.py [--requests 16] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from rader_queue.llm.embedded_server import embedded_server  # noqa: E402
from rader_queue.llm.generator import Generator  # noqa: E402
from rader_queue.llm.ledger import Ledger  # noqa: E402
from rader_queue.settings import Settings  # noqa: E402

PROMPTS = ["Explain why the sum of two even numbers is even.",
           "What is the derivative of x^3 + 2x? Show the steps.",
           "State the Pythagorean theorem and give an example.",
           "How many ways can 4 people sit in a row?"]


async def measure(gen: Generator, requests: int, concurrency: int, max_tokens: int,
                  n: int = 1) -> tuple[float, int, float]:
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
    wall = time.perf_counter() - start
    totals = ledger.totals()
    return totals.completion_tokens / wall, totals.completion_tokens, wall


async def run_all(gen: Generator, requests: int, max_tokens: int) -> list[tuple[str, int, int, float, float]]:
    """Every phase on one event loop (the generator's HTTP client is bound to it)."""
    await measure(gen, 2, 1, 16)                                    # warm-up
    rows = []
    for concurrency in (1, 8):
        tps, tokens, wall = await measure(gen, requests, concurrency, max_tokens)
        rows.append((str(concurrency), requests, tokens, wall, tps))
    tps, tokens, wall = await measure(gen, 2, 1, max_tokens, n=8)
    rows.append(("n=8 per call (fan-out)", 2, tokens, wall, tps))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    with embedded_server(port=0, n_ctx=2048) as server:
        gen = Generator(Settings(llm_base_url=server.base_url, llm_model=server.model,
                                 llm_cache=False, llm_timeout_s=300))
        rows = asyncio.run(run_all(gen, args.requests, args.max_tokens))
    table = Table(title=f"embedded generator (SmolLM2-135M Q4_1, llama.cpp server, "
                        f"{os.cpu_count()} CPU threads), max_tokens={args.max_tokens}")
    for col in ("concurrency", "calls", "completion tokens", "wall s", "tokens/s", "÷ 1 at a time"):
        table.add_column(col)
    for name, calls, tokens, wall, tps in rows:
        table.add_row(name, str(calls), str(tokens), f"{wall:.1f}", f"{tps:.1f}",
                      f"{tps / rows[0][4]:.2f}")
    Console().print(table)

if __name__ == "__main__":
    main()
