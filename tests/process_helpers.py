"""Starting and stopping real worker processes in tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker_cmd(queues: str = "mcts", concurrency: int = 4, pool: str = "threads",
               name: str | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "rader_queue.cli.main", "worker", "-Q", queues, "-c",
           str(concurrency), "--pool", pool, "-l", "INFO"]
    if name:
        cmd += ["-n", name]
    return cmd


def start_process(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    log = open(log_path, "ab")
    return subprocess.Popen(cmd, env=full_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL, wait: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@contextmanager
def running(cmd: list[str], env: dict[str, str], log_path: Path):
    proc = start_process(cmd, env, log_path)
    try:
        yield proc
    finally:
        kill(proc, signal.SIGTERM)


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.5,
             what: str = "condition", log_path: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    tail = ""
    if log_path and log_path.exists():
        tail = "\n--- worker log tail ---\n" + log_path.read_text(errors="replace")[-3000:]
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{tail}")
