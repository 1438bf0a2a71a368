"""A model server started by a command does not outlive it, even when the command is killed
with SIGKILL (no chance to stop anything): the parent-death signal ends the server."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.model, pytest.mark.slow]

STARTER = """
import sys, time
from rader_queue.llm.embedded_server import start_server
server = start_server(port=0, n_ctx=512)
print(server.process.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")          # a zombie has exited; only its entry is left


@pytest.mark.skipif(sys.platform != "linux" or shutil.which("setpriv") is None,
                    reason="the parent-death signal is Linux's, set through util-linux setpriv")
def test_embedded_server_dies_with_a_sigkilled_parent():
    parent = subprocess.Popen([sys.executable, "-c", STARTER], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    server_pid = None
    try:
        line = parent.stdout.readline()              # once the server answers
        assert line.strip().isdigit(), parent.stderr.read()[-2000:] if parent.poll() is not None else line
        server_pid = int(line)
        assert _alive(server_pid)
        parent.kill()                                # SIGKILL: no cleanup code runs
        parent.wait(10)
        deadline = time.monotonic() + 30
        while _alive(server_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(server_pid), "the server outlived the command that started it"
    finally:
        if parent.poll() is None:
            parent.kill()
        if server_pid and _alive(server_pid):
            os.kill(server_pid, signal.SIGKILL)
