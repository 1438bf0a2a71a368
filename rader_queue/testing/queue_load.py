"""Queue load, as a user drives it: generated problems enqueued through the CLI, real MCTS worker
processes draining them, and the broker's Redis memory sampled meanwhile. Shared by the load test
(tests/reliability/test_load.py, CI scale) and its benchmark (bench/bench_queue_load.py, 100,000
problems).

Subprocesses run ``python -m rader_queue.cli.main`` from the directory this package is imported
from, so they run the same code as the caller (a checkout or an installed wheel)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# The sys.path entry rader_queue is imported from (a checkout's root, or site-packages).
IMPORT_ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "rader_queue.cli.main"]
# The lightest honest MCTS: one rollout of depth 1, one sample per action, top-1 BM25 (CHAMP).
TRIVIAL_MCTS = ["--retriever", "bm25", "--corpus", "champ", "--rollouts", "1", "--max-depth", "1",
                "--ost-samples", "1", "--crs-samples", "1", "--top-k", "1",
                "--no-self-reflection", "--no-candidate-theorems"]


def generate_jsonl(path: Path, n: int) -> Path:
    """``n`` distinct addition problems with their answers, one JSON object a line."""
    with open(path, "w") as out:
        for i in range(n):
            out.write(json.dumps({"id": f"load-{i:07d}", "answer": str(2 * i + 1),
                                  "problem": f"What is {i} + {i + 1}? Give the sum."}) + "\n")
    return path


# ----------------------------------------------------------------------------- processes

def start(cmd: list[str], env: dict[str, str], log: Path, cwd: Path = IMPORT_ROOT) -> subprocess.Popen:
    """``cmd`` in its own process group, output appended to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(procs: list[subprocess.Popen], grace: float = 60.0) -> None:
    """SIGTERM (Celery's warm shutdown: running tasks finish, reserved ones go back), then
    SIGKILL what is left after ``grace`` seconds."""
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 1.0,
               procs: list[subprocess.Popen] = ()) -> None:
    """Poll ``predicate``; fail when ``timeout`` passes or one of ``procs`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        dead = [p.args for p in procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"process exited while waiting for {what}: {dead}")
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


# ----------------------------------------------------------------------------- Redis memory

@dataclass
class MemorySampler:
    """Samples Redis memory every ``interval`` s in a thread: INFO used_memory (whole server) and
    MEMORY USAGE of this run's queue and unacked keys (under ``prefix``), plus their lengths."""

    redis_url: str
    prefix: str
    queue: str
    interval: float = 0.5
    samples: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        import redis

        self.client = redis.Redis.from_url(self.redis_url)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> dict:
        c, p = self.client, self.prefix
        keys = [p + self.queue, p + "unacked", p + "unacked_index"]
        pipe = c.pipeline(transaction=False)
        pipe.info("memory")
        for key in keys:
            pipe.memory_usage(key, samples=0)
        pipe.llen(keys[0])
        pipe.hlen(keys[1])
        info, *usage, queued, unacked = pipe.execute()
        return {"t": time.monotonic(), "used_memory": info["used_memory"],
                "keys_bytes": sum(u or 0 for u in usage), "queued": queued, "unacked": unacked}

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)
        self.samples.append(self.sample())

    def summary(self) -> dict:
        s = self.samples
        return {"used_start": s[0]["used_memory"], "used_peak": max(x["used_memory"] for x in s),
                "used_end": s[-1]["used_memory"], "keys_start": s[0]["keys_bytes"],
                "keys_peak": max(x["keys_bytes"] for x in s), "keys_end": s[-1]["keys_bytes"],
                "unacked_peak": max(x["unacked"] for x in s), "samples": len(s)}


def delete_prefix(redis_url: str, prefix: str) -> int:
    """Delete every key under ``prefix``; returns how many there were."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    for i in range(0, len(keys), 1000):
        client.delete(*keys[i:i + 1000])
    return len(keys)


# ----------------------------------------------------------------------------- measurements

def timed_enqueue(env: dict[str, str], path: Path, run: str) -> tuple[float, str]:
    """(seconds, one-line report) of ``rader-queue enqueue PATH --run RUN`` (trivial MCTS)."""
    started = time.monotonic()
    out = subprocess.run([*CLI, "enqueue", str(path), "--run", run, *TRIVIAL_MCTS], cwd=IMPORT_ROOT,
                         env={**os.environ, **env}, capture_output=True, text=True, timeout=900)
    seconds = time.monotonic() - started
    if out.returncode != 0:
        raise RuntimeError(f"enqueue failed ({out.returncode}): {out.stderr}")
    return seconds, " ".join(out.stdout.split())


def job_counts(run: str, db_url: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from rader_queue.store import session_scope
    from rader_queue.store.models import Job, Run

    with session_scope(db_url) as s:
        rows = s.execute(select(Job.state, func.count()).join(Run, Run.id == Job.run_id)
                         .where(Run.name == run).group_by(Job.state)).all()
    return dict(rows)


def drain_rate(run: str, db_url: str, first: int) -> tuple[float, float]:
    """(tasks/s, seconds) over the first ``first`` jobs finished."""
    from sqlalchemy import select

    from rader_queue.store import session_scope
    from rader_queue.store.models import Job, JobState, Run

    with session_scope(db_url) as s:
        times = s.scalars(select(Job.finished_at).join(Run, Run.id == Job.run_id)
                          .where(Run.name == run, Job.state == JobState.DONE)
                          .order_by(Job.finished_at).limit(first)).all()
    seconds = (times[-1] - times[0]).total_seconds()
    return (len(times) - 1) / seconds, seconds


def drain(env: dict[str, str], run: str, db_url: str, target: int, workers: int,
          concurrency: int, logdir: Path, timeout: float) -> dict:
    """Start ``workers`` MCTS worker processes (settings from ``env``: broker, prefix, model);
    stop them once ``target`` jobs are done. Redis memory is sampled meanwhile."""
    procs = []
    with MemorySampler(env["RADER_BROKER_URL"], env["RADER_QUEUE_PREFIX"], "mcts") as sampler:
        try:
            for w in range(workers):
                procs.append(start([*CLI, "worker", "-Q", "mcts", "-c", str(concurrency),
                                    "--pool", "threads", "-n", f"load{w}@%h", "-l", "WARNING"],
                                   env, logdir / f"worker{w}.log"))
            wait_until(lambda: job_counts(run, db_url).get("done", 0) >= target, timeout,
                       f"{target} jobs done", procs=procs)
        finally:
            stop(procs)
    rate, seconds = drain_rate(run, db_url, target)
    return {"rate": rate, "seconds": seconds, "memory": sampler.summary(),
            "states": job_counts(run, db_url), "after_stop": sampler.samples[-1]}
