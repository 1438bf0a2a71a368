"""``rader-queue llm serve-embedded`` stops its llama.cpp child on SIGTERM and SIGINT (the port
is free again), and the server's thread count leaves a core to the client."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from rader_queue.llm.embedded_server import default_threads
from rader_queue.ports import free_port
from tests.conftest import ROOT


def test_default_threads_leave_a_core_for_the_client():
    assert [default_threads(c) for c in (1, 2, 3, 4, 16, 64)] == [1, 1, 2, 3, 8, 8]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.model
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.slow
def test_a_signal_stops_the_server_and_frees_the_port(tmp_path, signum):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "rader_queue.cli.main", "llm",
                                 "serve-embedded", "--port", str(port), "--n-threads", "1"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while "RADER_LLM_MODEL" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.5)
        assert _port_open(port) and "1 thread(s)" in log.read_text()
        proc.send_signal(signum)                 # the parent only, as a supervisor does
        assert proc.wait(timeout=30) == 0
        time.sleep(0.5)
        assert not _port_open(port), "the llama.cpp child still holds the port"
    finally:
        if proc.poll() is None:
            proc.kill()
