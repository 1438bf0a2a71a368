"""``rader-queue run … --engine vllm``: the embedded one-command mode with vLLM as its model
server (started and stopped by the command itself), as a user runs it: SQLite, the in-process
broker and worker, and the broker URL in the environment pointing at a closed port."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from tests.conftest import ROOT, data_dir

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def _vllm_servers() -> list[str]:
    """Command lines of the vLLM API servers running now."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "vllm.entrypoints.openai.api_server" in cmd:
            out.append(cmd)
    return out


def test_run_with_the_vllm_engine(vllm_available, tmp_path):
    db = tmp_path / "rader.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADER_")}
    env |= {"RADER_DATA_DIR": str(data_dir()), "RADER_DATABASE_URL": f"sqlite:///{db}",
            "RADER_BROKER_URL": "redis://127.0.0.1:9/0", "RADER_CACHE_DIR": str(tmp_path / "cache"),
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    before = set(_vllm_servers())          # the session's generator and embedder, if started
    proc = subprocess.run([sys.executable, "-m", "rader_queue.cli.main", "run", "MATH",
                           "--limit", "1", "--rollouts", "1", "--max-depth", "3",
                           "--max-tokens", "48", "--engine", "vllm"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "vLLM CPU" in proc.stdout
    with sqlite3.connect(db) as conn:
        states = dict(conn.execute("select state, count(*) from jobs group by state"))
        judged = dict(conn.execute("select coalesce(label, -1), count(*) from judgements "
                                   "group by 1"))
        models = {m for (m,) in conn.execute("select distinct model from llm_calls")}
    assert states == {"done": 1}
    assert -1 not in judged, f"unreadable verdicts: {judged}"     # structured_outputs honoured
    assert models == {"smollm2-135m-instruct"}
    assert set(_vllm_servers()) == before     # the run stopped the server it started
