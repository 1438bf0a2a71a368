"""Helpers for the operations tests: real worker, Flower and CLI subprocesses, each in its own
process group (killed in ``finally``), and bounded polling for everything that waits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from rader_queue.ports import free_port  # noqa: F401 (tests import it from here)

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "rader_queue.cli.main"]


def full_env(env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **env, "PYTHONUNBUFFERED": "1", "COLUMNS": "160"}


def cli(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=ROOT, env=full_env(env), capture_output=True,
                          text=True, timeout=timeout)


def stop(proc: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left; never waits unbounded."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
            # the leader is gone; children of the group may not be: kill the group once more
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if proc.poll() is None:
        proc.wait(10)


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A rader-queue subprocess in its own session (process group), logging to ``log``."""
    with open(log, "ab") as out:
        proc = subprocess.Popen([*CLI, *args], cwd=ROOT, env=full_env(env), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        stop(proc)


def wait_for(predicate: Callable[[], object], timeout: float, what: str, *,
             interval: float = 0.5, log: Path | None = None, proc: subprocess.Popen | None = None):
    """Poll ``predicate`` until it returns something truthy (returned); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - e.g. a server that is not up yet
            last_error = exc
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(interval)
    detail = f" (last error: {last_error!r})" if last_error else ""
    if proc is not None and proc.poll() is not None:
        detail += f" (process exited with {proc.returncode})"
    if log is not None and log.exists():
        detail += "\n--- log tail ---\n" + log.read_text(errors="replace")[-4000:]
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")


def wait_ready(log: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    wait_for(lambda: " ready." in log.read_text(errors="replace"), timeout, "worker ready",
             log=log, proc=proc)


def worker_args(name: str, queues: str = "mcts", concurrency: int = 2) -> list[str]:
    return ["worker", "-Q", queues, "-c", str(concurrency), "--pool", "threads", "-n",
            f"{name}@%h", "-l", "INFO"]


def enqueue_args(run: str, limit: int = 2) -> list[str]:
    """A small real run: CHAMP problems, BM25 over the small CHAMP corpus (no corpus embedding)."""
    return ["enqueue", "CHAMP", "--limit", str(limit), "--run", run, "--retriever", "bm25",
            "--corpus", "champ", "--rollouts", "1", "--max-depth", "2", "--ost-samples", "1",
            "--crs-samples", "1", "--no-self-reflection", "--no-candidate-theorems"]


def job_states(run: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from rader_queue.store import session_scope
    from rader_queue.store.models import Job, Run

    with session_scope() as s:
        rows = s.execute(select(Job.state, func.count()).join(Run, Run.id == Job.run_id)
                         .where(Run.name == run).group_by(Job.state)).all()
    return {state: count for state, count in rows}


def finished(run: str, total: int) -> bool:
    states = job_states(run)
    return states.get("done", 0) + states.get("failed", 0) == total


def http_get(url: str, auth: tuple[str, str] | None = None, timeout: float = 10) -> httpx.Response:
    return httpx.get(url, auth=auth, timeout=timeout)


@pytest.fixture
def ops_env(rader_env, redis_client, queue_prefix, monkeypatch):
    """Subprocess environment of a small real run with no generator endpoint configured: every
    MCTS job fails at once, for good (no retries), with its reason recorded — quick and
    deterministic on a small CPU machine. Redis keys of the test's prefix are removed after."""
    env = {**rader_env, "RADER_LLM_BASE_URL": "", "RADER_TASK_MAX_RETRIES": "0",
           "RADER_METRICS_ADDRESS": "127.0.0.1"}
    monkeypatch.delenv("RADER_METRICS_PORT", raising=False)
    yield env
    for key in redis_client.scan_iter(match=queue_prefix + "*", count=1000):
        redis_client.delete(key)


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]
