"""MCTS throughput against a simulated continuous-batching server (issue: MCTS, P1/P2).

Both contenders solve the same problems (MATH test) with the same MCTS config against the same
simulated server (rader_queue.testing.simulated_llm: one decoding step per token for all
running sequences, step time from the H100 decode curve, max batch 256), whose scripted replies
are a deterministic function of the prompt. The response cache is off, so every call reaches
the server. Each contender runs for a fixed window after a warm-up; tokens come from the
server's own counter.

* rader-queue: ONE real worker process (`rader-queue worker -Q mcts -c C`, threads pool, one
  shared asyncio loop) consuming from Redis and writing trees to PostgreSQL.
* seed-style: 10 threads, each solving one problem at a time with blocking calls (one request
  in flight per thread), as the original generator's threads did.

P1 = rader-queue tokens/s ÷ the server's saturated maximum (goal ≥ 0.90)
P2 = rader-queue tokens/s ÷ seed-style tokens/s       (goal ≥ 5×)

Usage: python bench/bench_mcts.py [--window 60] [--time-scale 4] [--concurrency 160]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rader_queue.testing.simulated_llm import simulated_server  # noqa: E402


def stats(base: str) -> dict:
    return httpx.get(base.removesuffix("/v1") + "/stats", timeout=10).json()


def measure(base: str, warmup: float, window: float) -> tuple[float, int]:
    time.sleep(warmup)
    before, t0 = stats(base), time.monotonic()
    time.sleep(window)
    after, t1 = stats(base), time.monotonic()
    return (after["tokens"] - before["tokens"]) / (t1 - t0), after["max_batch_seen"]


def run_worker(base: str, env: dict, problems: int, concurrency: int, warmup: float,
               window: float) -> tuple[float, int]:
    from rader_queue.pipeline import build_run_config, enqueue_dataset

    enqueue_dataset("MATH", split="test", limit=problems, run_name="bench-worker",
                    config=CONFIG(build_run_config), echo=lambda m: None)
    log = open(ROOT / "bench" / "bench_mcts_worker.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "rader_queue.cli.main", "worker", "-Q", "mcts",
                             "-c", str(concurrency), "-l", "WARNING"], env={**os.environ, **env},
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        return measure(base, warmup, window)
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()


def run_seed_style(base: str, threads: int, warmup: float, window: float) -> tuple[float, int]:
    from rader_queue.datasets import load_problems
    from rader_queue.llm.generator import Generator
    from rader_queue.mcts import LLMPolicy, MCTSConfig, run_search
    from rader_queue.pipeline import build_run_config
    from rader_queue.retrieval import load_corpus, make_retriever
    from rader_queue.settings import get_settings

    problems = load_problems("MATH", split="test", limit=400).problems
    config = MCTSConfig.model_validate(CONFIG(build_run_config)["mcts"])
    theorems = make_retriever("bm25", load_corpus("theoremqa"))
    stop = threading.Event()

    class Blocking:
        """One request at a time per thread, as blocking HTTP calls would be."""

        def __init__(self) -> None:
            self.generator, self.lock = Generator(get_settings(), cache=False), asyncio.Lock()

        async def generate(self, *args, **kwargs):
            async with self.lock:
                return await self.generator.generate(*args, **kwargs)

    def thread_main(index: int) -> None:
        # one event loop per thread for all its problems: an asyncio.Lock belongs to the loop
        # it was first used on (a loop per problem killed each thread after its first problem)
        gen = Blocking()

        async def solve_all() -> None:
            gen.lock = asyncio.Lock()
            for problem in problems[index::threads]:
                if stop.is_set():
                    return
                await run_search(problem.text, LLMPolicy(gen, theorems, problem.gold_answer,
                                                         config), config)

        asyncio.run(solve_all())
        gen.generator.close()

    workers = [threading.Thread(target=thread_main, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    try:
        return measure(base, warmup, window)
    finally:
        stop.set()


def CONFIG(build_run_config):
    return build_run_config(rollouts=4, max_depth=5, retriever="bm25")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=25.0)
    parser.add_argument("--time-scale", type=float, default=4.0,
                        help="slows simulated time so this 2-core machine's client CPU is not the bottleneck")
    parser.add_argument("--length-scale", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=160)
    parser.add_argument("--problems", type=int, default=400)
    parser.add_argument("--port", type=int, default=8890)
    args = parser.parse_args()

    from sqlalchemy import create_engine, text

    db = f"rader_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{db}"'))
    env = {"RADER_DATABASE_URL": f"postgresql://postgres@127.0.0.1/{db}",
           "RADER_QUEUE_PREFIX": f"bench-{uuid.uuid4().hex[:6]}:", "RADER_LLM_CACHE": "false",
           "RADER_DATA_DIR": os.environ.get("RADER_DATA_DIR", str(ROOT.parent / "shared" / "data")),
           "RADER_LLM_MAX_IN_FLIGHT": "1024", "HF_HUB_OFFLINE": "1"}
    os.environ.update(env)
    from rader_queue.store import upgrade

    upgrade()
    try:
        with simulated_server(args.port, max_batch=256, time_scale=args.time_scale,
                              length_scale=args.length_scale) as base:
            os.environ["RADER_LLM_BASE_URL"] = env["RADER_LLM_BASE_URL"] = base
            saturated = stats(base)["saturated_tokens_per_s"]
            worker_tps, worker_batch = run_worker(base, env, args.problems, args.concurrency,
                                                  args.warmup, args.window)
        with simulated_server(args.port + 1, max_batch=256, time_scale=args.time_scale,
                              length_scale=args.length_scale) as base:
            os.environ["RADER_LLM_BASE_URL"] = base
            from rader_queue.settings import get_settings

            get_settings.cache_clear()  # read when the store was migrated, before the URL was set
            seed_tps, seed_batch = run_seed_style(base, 10, args.warmup, args.window)
    finally:
        from rader_queue.store import db as store_db

        for engine in store_db._engines.values():
            engine.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
    print(f"\nsimulated server: max batch 256, time scale ×{args.time_scale}, "
          f"saturated {saturated:,.0f} tokens/s; window {args.window:.0f}s after {args.warmup:.0f}s warm-up")
    print(f"{'contender':<34}{'tokens/s':>10}{'max batch':>11}{'ratio':>9}{'goal':>8}")
    print(f"{'server saturated maximum':<34}{saturated:>10,.0f}{256:>11}{'':>9}{'':>8}")
    print(f"{'rader-queue, 1 worker process':<34}{worker_tps:>10,.0f}{worker_batch:>11}"
          f"{worker_tps / saturated:>9.2f}{'≥0.90':>8}   P1")
    print(f"{'seed-style, 10 blocking threads':<34}{seed_tps:>10,.0f}{seed_batch:>11}"
          f"{worker_tps / max(seed_tps, 1e-9):>8.1f}×{'≥5×':>8}   P2")


if __name__ == "__main__":
    main()
