"""The event-loop lag monitor, its Prometheus gauge and the ``status`` line from heartbeats."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rader_queue.ops import loop_lag
from rader_queue.ops.metrics import exposition
from rader_queue.queue import heartbeats

ROOT = Path(__file__).resolve().parents[2]


def test_monitor_sees_a_blocked_loop_while_and_after_it_is_blocked():
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    try:
        monitor = loop_lag.LoopLagMonitor(loop, interval_s=0.05).start()
        time.sleep(0.3)
        assert monitor.max_lag() < 0.2                      # idle loop: callbacks on time
        loop.call_soon_threadsafe(time.sleep, 0.8)          # CPU work on the loop's thread
        time.sleep(0.6)
        assert monitor.max_lag() >= 0.4                     # seen while still blocked
        time.sleep(0.5)
        assert 0.7 <= monitor.max_lag() < 2.0               # and recorded afterwards
    finally:
        loop.call_soon_threadsafe(loop.stop)


def test_gauge_is_exported():
    assert b"rader_event_loop_lag_seconds" in exposition()


@pytest.mark.slow
def test_status_shows_the_worst_worker_lag_from_heartbeats(rader_env, redis_client, queue_prefix):
    from rader_queue.settings import get_settings

    beats = {"w1@host": {"time": time.time(), "loop_lag_s": 0.25},
             "w2@host": {"time": time.time(), "loop_lag_s": 0.03},
             "bad[/]@host": {"loop_lag_s": "nan"}, "old@host": {"time": 1}}
    for name, beat in beats.items():
        redis_client.set(f"{queue_prefix}worker-heartbeat:{name}", json.dumps(beat), ex=60)
    redis_client.set(f"{queue_prefix}worker-heartbeat:garbage", b"\xff not json", ex=60)
    try:
        assert heartbeats.worker_lags(get_settings().broker, queue_prefix) == {"w1@host": 0.25,
                                                                             "w2@host": 0.03}
        line = heartbeats.workers_line(get_settings())
        assert line == "workers: 2 alive; event-loop lag max 0.25 s (w1@host)"
        env = {**os.environ, **rader_env, "PYTHONPATH": str(ROOT)}
        subprocess.run([sys.executable, "-m", "rader_queue.cli.main", "db", "upgrade"], env=env,
                       capture_output=True, timeout=120)
        done = subprocess.run([sys.executable, "-m", "rader_queue.cli.main", "status"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "event-loop lag max 0.25 s (w1@host)" in done.stdout
    finally:
        for key in redis_client.scan_iter(match=f"{queue_prefix}worker-heartbeat:*"):
            redis_client.delete(key)
