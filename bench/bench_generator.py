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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from rader_queue.llm.embedded_server import MODEL_ALIAS, default_gguf  # noqa: E402
from rader_queue.llm.generator import Generator  # noqa: E402
from rader_queue.llm.ledger import Ledger  # noqa: E402
from rader_queue.ports import free_port  # noqa: E402
from rader_queue.settings import Settings  # noqa: E402

PROMPTS = ["Explain why the sum of two even numbers is even.",
           "What is the derivative of x^3 + 2x? Show the steps.",
           "State the Pythagorean theorem and give an example.",
           "How many ways can 4 people sit in a row?"]
MODES = ("1 in flight", "8 in flight", "one n=8 call")


@contextlib.contextmanager
def llamacpp(threads: int):
    """llama_cpp.server with its own --n_threads flag (the bench does not depend on the
    embedded server's defaults)."""
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(default_gguf()),
           "--model_alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port),
           "--n_ctx", "2048", "--n_threads", str(threads), "--n_threads_batch", str(threads)]
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        import httpx

        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise SystemExit(f"llama.cpp server did not start:\n{log.read()[-2000:].decode()}")
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/v1", MODEL_ALIAS
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def vllm():
    from rader_queue.llm.embedded_vllm import vllm_server

    with vllm_server(max_model_len=2048) as server:
        yield server.base_url, server.model


async def measure(gen: Generator, requests: int, concurrency: int, max_tokens: int,
                  n: int = 1) -> float:
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
        gen = Generator(Settings(llm_base_url=base_url, llm_model=model, llm_cache=False,
                                 llm_timeout_s=600))
        return asyncio.run(run_modes(gen, requests, max_tokens)), ready


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
