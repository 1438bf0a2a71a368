"""Queue load (reliability case 7): enqueue N problems through the CLI, drain M real MCTS tasks
with 2 worker processes, and compare with a bare Celery no-op app on the same Redis — all
measured in one run, printed as one table.

* **enqueue**: wall time of ``rader-queue enqueue FILE.jsonl`` (a subprocess, as a user runs it)
  for N generated problems: read and validate everything, COPY problems and jobs into
  PostgreSQL (one transaction), publish one message per job through kombu in Redis pipelines of
  2,000, mark them published. Goal: < 60 s for 100,000 on the 2-core dev machine.
* **drain**: the real task path with only the model stubbed — ``rader.mcts.solve`` via Celery →
  job runner (claim in SQL) → MCTS (1 rollout, depth 1, one OST/CRS sample, top-1 BM25 over
  the CHAMP corpus, no self-reflection or candidate theorems) → generator client, response cache
  and cost ledger → the simulated OpenAI-compatible server answering at once (time_scale 0) →
  tree, ledger and job written in one transaction. W worker processes
  ``rader-queue worker -Q mcts -c C --pool threads`` consume the N-deep queue until M jobs are
  done. Rate = (M − 1) / (last − first ``finished_at``) of the first M jobs done.
* **baseline**: ``bench/noop_celery.py`` — a bare Celery app with a no-op task on the same Redis
  (same serializer, acks_late, prefetch 1, task events, pool and concurrency), W worker
  processes, K messages queued before they start; rate from the queue + unacked lengths.
* **Redis memory**: ``INFO memory`` used_memory (the whole shared server) and ``MEMORY USAGE``
  of this run's keys (queue list, unacked hash and index), sampled every 0.5 s while draining.

Everything runs in a private PostgreSQL database and Redis key prefix, removed at the end.

Usage: python bench/bench_queue_load.py [--enqueue 100000] [--drain 10000] [--noop 10000]
                                        [--workers 2] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rader_queue.testing.queue_load import (MemorySampler, delete_prefix,  # noqa: E402
                                            drain, generate_jsonl, start, stop, timed_enqueue)

PG_ADMIN_URL = os.environ.get("RADER_TEST_PG_ADMIN_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("RADER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def noop_baseline(n: int, workers: int, concurrency: int, logdir: Path, timeout: float) -> dict:
    """Tasks/s of the bare no-op app: ``n`` messages queued first, then ``workers`` start."""
    prefix = f"rader-bench-noop-{uuid.uuid4().hex[:8]}:"
    env = {"NOOP_BROKER_URL": REDIS_URL, "NOOP_QUEUE_PREFIX": prefix,
           "PYTHONPATH": str(ROOT / "bench")}
    os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
    sys.path.insert(0, str(ROOT / "bench"))
    import noop_celery

    procs: list[subprocess.Popen] = []
    try:
        with noop_celery.app.producer_pool.acquire(block=True) as producer:
            batch = getattr(producer, "batch", None)
            for i in range(0, n, 2000):
                with batch(max_size=1_000_000) if batch else nullcontext():
                    for j in range(i, min(n, i + 2000)):
                        noop_celery.app.send_task("noop", args=[j], queue=noop_celery.QUEUE,
                                                  producer=producer)
        sampler = MemorySampler(REDIS_URL, prefix, noop_celery.QUEUE, interval=0.05)
        remaining = lambda: (lambda s: s["queued"] + s["unacked"])(sampler.sample())  # noqa: E731
        if remaining() != n:
            raise RuntimeError(f"expected {n} no-op messages, found {remaining()}")
        for w in range(workers):
            procs.append(start([sys.executable, "-m", "celery", "-A", "noop_celery", "worker",
                                "-Q", noop_celery.QUEUE, "-P", "threads", "-c", str(concurrency),
                                "-E", "--without-gossip", "--without-mingle", "-l", "WARNING",
                                "-n", f"noop{w}@%h"], env, logdir / f"noop{w}.log",
                               cwd=ROOT / "bench"))
        first = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = remaining()
            now = time.monotonic()
            if first is None and left < n:
                first = (now, left)
            if left == 0:
                break
            time.sleep(0.05)
        else:
            raise TimeoutError(f"no-op workers did not drain {n} messages in {timeout:.0f}s")
        seconds = now - first[0]
        return {"rate": first[1] / seconds, "seconds": seconds}
    finally:
        stop(procs)
        delete_prefix(REDIS_URL, prefix)


# ----------------------------------------------------------------------------- the run

def private_database() -> str:
    from sqlalchemy import create_engine, text

    from rader_queue.store import upgrade

    name = f"rader_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    return url


def drop_database(url: str) -> None:
    from sqlalchemy import create_engine, text

    from rader_queue.store import db

    engine = db._engines.pop(db.normalize_url(url), None)
    if engine is not None:
        engine.dispose()
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--enqueue", type=int, default=100_000, help="problems to enqueue")
    parser.add_argument("--drain", type=int, default=10_000, help="MCTS tasks to drain")
    parser.add_argument("--noop", type=int, default=10_000, help="no-op tasks for the baseline")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=8, help="threads per worker")
    args = parser.parse_args(argv)

    from rader_queue.ports import free_port
    from rader_queue.testing.simulated_llm import simulated_server

    db_url = private_database()
    prefix = f"rader-bench-{uuid.uuid4().hex[:8]}:"
    tmp = Path(tempfile.mkdtemp(prefix="bench-queue-load-"))
    port = free_port()
    env = {"RADER_DATABASE_URL": db_url, "RADER_BROKER_URL": REDIS_URL,
           "RADER_QUEUE_PREFIX": prefix, "RADER_CACHE_DIR": str(tmp / "cache"),
           "RADER_LLM_BASE_URL": f"http://127.0.0.1:{port}/v1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    try:
        path = generate_jsonl(tmp / "problems.jsonl", args.enqueue)
        before = MemorySampler(REDIS_URL, prefix, "mcts").sample()
        enqueue_s, report = timed_enqueue(env, path, "load")
        after = MemorySampler(REDIS_URL, prefix, "mcts").sample()
        print(f"enqueue: {report} in {enqueue_s:.1f}s", flush=True)
        with simulated_server(port, time_scale=0.0, max_batch=512, log_path=tmp / "llm.log",
                              ready_timeout=120):
            drained = drain(env, "load", db_url, args.drain, args.workers, args.concurrency, tmp,
                            timeout=args.drain / 2 + 600)
        print(f"drain: {drained['rate']:.1f} tasks/s", flush=True)
        noop = noop_baseline(args.noop, args.workers, args.concurrency, tmp,
                             timeout=args.noop / 5 + 300)
        mem, w, c = drained["memory"], args.workers, args.concurrency
        rows = [
            (f"enqueue {args.enqueue:,} problems (CLI wall time; goal < 60 s)",
             f"{enqueue_s:.1f} s ({args.enqueue / enqueue_s:,.0f} problems/s)"),
            (f"drain {args.drain:,} real MCTS tasks ({w} workers × {c} threads)",
             f"{drained['rate']:.1f} tasks/s ({drained['seconds']:.0f} s)"),
            (f"bare Celery no-op, {args.noop:,} tasks ({w} workers × {c} threads)",
             f"{noop['rate']:.1f} tasks/s ({noop['seconds']:.1f} s)"),
            ("ratio drained ÷ no-op", f"{drained['rate'] / noop['rate']:.3f}"),
            ("run's keys: before enqueue / after enqueue", f"{mb(before['keys_bytes'])} / "
             f"{mb(after['keys_bytes'])} ({after['queued']:,} messages)"),
            ("run's keys while draining: start / peak / end",
             f"{mb(mem['keys_start'])} / {mb(mem['keys_peak'])} / {mb(mem['keys_end'])}"),
            ("unacked messages while draining: peak (bound: prefetch × threads × workers)",
             f"{mem['unacked_peak']} (≤ {w * c})"),
            ("Redis used_memory (whole shared server): before enqueue / after / drain peak / end",
             f"{mb(before['used_memory'])} / {mb(after['used_memory'])} / {mb(mem['used_peak'])}"
             f" / {mb(mem['used_end'])}"),
            ("jobs after the workers stopped", ", ".join(f"{k} {v:,}" for k, v in
                                                         sorted(drained["states"].items()))),
            ("messages left after the workers stopped (queue + unacked)",
             f"{drained['after_stop']['queued'] + drained['after_stop']['unacked']:,}"),
        ]
        width = max(len(r[0]) for r in rows)
        print(f"\n| {'figure':<{width}} | value |\n|{'-' * (width + 2)}|-------|")
        for name, value in rows:
            print(f"| {name:<{width}} | {value} |")
    finally:
        delete_prefix(REDIS_URL, prefix)
        drop_database(db_url)


if __name__ == "__main__":
    main()
