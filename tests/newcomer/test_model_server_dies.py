"""The embedded model server dying in the middle of a run (the kernel's OOM killer, a llama.cpp
build for CPU features the machine does not allow — SIGILL on its first completion): the run
stops at once with exit code 7 and says how the server ended, instead of retrying a dead port
until every job's attempts run out; the same command then resumes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.newcomer.helpers import cli, newcomer_env, offline_prefix, wait_until_running

pytestmark = [pytest.mark.model, pytest.mark.slow]


def children(pid: int) -> list[int]:
    """Direct children of ``pid``, read from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def model_server_of(pid: int) -> int | None:
    for child in children(pid):
        try:
            if b"llama_cpp.server" in Path(f"/proc/{child}/cmdline").read_bytes():
                return child
        except OSError:
            continue
    return None


def test_a_dead_model_server_stops_the_run_and_the_same_command_resumes(tmp_path):
    env = newcomer_env(tmp_path, RADER_EMBEDDED_ENGINE="llamacpp")
    args = ["run", "CHAMP", "--limit", "2", "--rollouts", "1", "--max-tokens", "48"]
    cmd = [*offline_prefix(), sys.executable, "-m", "rader_queue.cli.main", *args]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    db = tmp_path / "rader_queue.db"
    found: list[int] = []

    def server_found() -> bool:
        found[:] = found or [pid for pid in [model_server_of(proc.pid)] if pid]
        return bool(found)

    try:
        wait_until_running(proc, db, also=server_found)
        assert proc.poll() is None and found, proc.communicate()
        server = found[0]
        os.kill(server, signal.SIGKILL)                 # what the OOM killer does
        killed = time.monotonic()
        out, err = proc.communicate(timeout=120)
        stopped_in = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 7, out[-2000:] + err[-2000:]
    assert "embedded model server exited during the run" in err and "SIGKILL" in err, err[-2000:]
    assert "Traceback" not in err, err[-3000:]
    assert stopped_in < 30, f"took {stopped_in:.1f} s to notice the dead server"
    with sqlite3.connect(db) as conn:
        states = dict(conn.execute("select state, count(*) from jobs group by state"))
    assert states.get("failed", 0) == 0, states        # nothing was failed for the server's death
    again = cli(*args, cwd=tmp_path, env=env, timeout=1200)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "resumed" in again.stdout
    with sqlite3.connect(db) as conn:
        states = dict(conn.execute("select state, count(*) from jobs group by state"))
    assert states == {"done": 2}
