"""Generator throughput of the two embedded engines on this host, through the same Generator
the workers use: llama.cpp's server (SmolLM2-135M-Instruct Q4_1) with 1 thread and with one
thread per core, and vLLM's CPU build (the same model converted by scripts/setup_vllm.sh,
``--enforce-eager``).

Completion tokens per second (from the ledger's token counts) with 1 and 8 requests in flight
(8 ≈ the embedded MCTS: many problems, several requests each) and for one n=8 call (native in
vLLM, fanned out by the generator for llama.cpp), each as a ratio to llama.cpp with 1 thread.
The engines run one after another, never side by side.

    python bench/bench_generator.py [--requests 8] [--max-tokens 96] [--skip-vllm]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time

from rich.console import Console
from rich.table import Table

from llm_throughput import generator, llamacpp, measure  # puts this checkout on sys.path
from rader_queue.llm.generator import Generator

MODES = ("1 in flight", "8 in flight", "one n=8 call")


@contextlib.contextmanager
def vllm():
    from rader_queue.llm.embedded_vllm import vllm_server

    with vllm_server(max_model_len=2048) as server:
        yield server.base_url, server.model


async def run_modes(gen: Generator, requests: int, max_tokens: int) -> list[float]:
    """Every mode on one event loop (the generator's HTTP client is bound to it)."""
    await measure(gen, 2, 1, 16)                                    # warm-up
    return [await measure(gen, requests, 1, max_tokens),
            await measure(gen, requests, 8, max_tokens),
            await measure(gen, 1, 1, max_tokens, n=8)]


def bench(engine, requests: int, max_tokens: int) -> tuple[list[float], float]:
    started = time.perf_counter()
    with engine as (base_url, model):
        ready = time.perf_counter() - started
        return asyncio.run(run_modes(generator(base_url, model), requests, max_tokens)), ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--skip-vllm", action="store_true")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    engines = [("llama.cpp, 1 thread", llamacpp(1))]
    if cores > 1:
        engines.append((f"llama.cpp, {cores} threads", llamacpp(cores)))
    if not args.skip_vllm:
        engines.append(("vLLM CPU, eager", vllm()))
    results = []
    for name, engine in engines:
        print(f"measuring {name} …", flush=True)
        results.append((name, *bench(engine, args.requests, args.max_tokens)))
    base = results[0][1]
    table = Table(title=f"SmolLM2-135M-Instruct on {cores} cores: completion tokens/s "
                        f"({args.requests} requests per mode, max_tokens={args.max_tokens}); "
                        f"× = ratio to llama.cpp with 1 thread", title_justify="left")
    table.add_column("engine")
    table.add_column("start s", justify="right")
    for mode in MODES:
        table.add_column(mode, justify="right")
        table.add_column("×", justify="right")
    for name, rates, ready in results:
        cells = [f"{ready:.0f}"]
        for rate, ref in zip(rates, base):
            cells += [f"{rate:.1f}", f"{rate / ref:.2f}"]
        table.add_row(name, *cells)
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
