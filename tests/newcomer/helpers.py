"""Running ``rader-queue`` as a newcomer does: a fresh directory, no RADER_* variables, no
data directory, and no network (``unshare -n`` with only loopback up where the test runs as
root; otherwise the hub is pointed at a closed port and told to stay offline)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ROOT


def newcomer_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RADER_", "HF_"))}
    env |= {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "HF_ENDPOINT": "http://127.0.0.1:9", "PYTHONUNBUFFERED": "1",
            # a broker URL that is closed: the embedded mode must not need it
            "RADER_BROKER_URL": "redis://127.0.0.1:9/0",
            "RADER_CACHE_DIR": str(tmp_path / "cache"),
            # a fresh machine has what scripts/setup.sh installs, not the optional vLLM
            # virtualenv: `--engine auto` then serves the main job with llama.cpp
            "RADER_VLLM_PYTHON": str(tmp_path / "no-vllm-venv" / "python")}
    env |= extra
    return env


def offline_prefix() -> list[str]:
    """``unshare -n`` (a network namespace with loopback only) when it works here, else []."""
    if shutil.which("unshare") and shutil.which("ip"):
        probe = subprocess.run(["unshare", "-n", "sh", "-c", "ip link set lo up"],
                               capture_output=True)
        if probe.returncode == 0:
            return ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "offline"]
    return []


def cli(*args: str, cwd: Path, env: dict[str, str], timeout: float = 120,
        offline: bool = True) -> subprocess.CompletedProcess:
    cmd = [*(offline_prefix() if offline else []), sys.executable, "-m", "rader_queue.cli.main",
           *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def readme_main_job() -> list[str]:
    """The main job's command exactly as the README prints it (the first ``rader-queue run``
    line of its main-job section), as argv after ``rader-queue``."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## The main job"):]
    line = next(l.strip() for l in section.splitlines() if l.strip().startswith("rader-queue run "))
    assert "=" not in line.split("rader-queue")[0], f"the main job needs a variable: {line}"
    return line.split()[1:]


def running_jobs(db: Path) -> int:
    """Jobs in state ``running`` in a run's SQLite store (0 before its tables exist)."""
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("select count(*) from jobs where state = 'running'").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def wait_until_running(proc: subprocess.Popen, db: Path, timeout_s: float = 600,
                       also: Callable[[], bool] = lambda: True) -> None:
    """Until a job of ``proc``'s run is running (and ``also()`` holds), or ``proc`` ends."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if also() and running_jobs(db):
            return
        time.sleep(0.5)
