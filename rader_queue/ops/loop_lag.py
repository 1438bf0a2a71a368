"""Event-loop lag: how late the loop runs a callback that was due (max over a recent window).

A worker runs every problem in flight on one asyncio loop (:mod:`rader_queue.queue.runtime`);
CPU-bound work on that loop's thread (an unbounded answer check, say) delays every other
problem. :class:`LoopLagMonitor` schedules a callback every ``interval_s`` and records how late
it ran; :meth:`LoopLagMonitor.max_lag` is the largest delay of the last ``window_s`` seconds,
counting a callback that is overdue right now (so a loop that is blocked at this moment
reports its lag while it is blocked, not after).

The worker's shared loop is watched from its creation (:func:`watch`); its lag is the
Prometheus gauge ``rader_event_loop_lag_seconds`` and the ``loop_lag_s`` field of the
worker heartbeat (written by :mod:`rader_queue.queue.watchdog`, read by
:mod:`rader_queue.queue.heartbeats`).
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time

INTERVAL_S = 0.1
WINDOW_S = 30.0


class LoopLagMonitor:
    def __init__(self, loop: asyncio.AbstractEventLoop, *, interval_s: float = INTERVAL_S,
                 window_s: float = WINDOW_S) -> None:
        self.loop, self.interval_s, self.window_s = loop, interval_s, window_s
        self._samples: collections.deque[tuple[float, float]] = collections.deque()
        self._lock = threading.Lock()
        self._due: float | None = None
        self._stopped = False

    def start(self) -> LoopLagMonitor:
        """Start watching (callable from any thread)."""
        self.loop.call_soon_threadsafe(self._arm)
        return self

    def stop(self) -> None:
        self._stopped = True

    def _arm(self) -> None:
        if self._stopped:
            return
        self._due = time.monotonic() + self.interval_s
        self.loop.call_later(self.interval_s, self._tick)

    def _tick(self) -> None:
        now = time.monotonic()
        due = self._due if self._due is not None else now
        with self._lock:
            self._samples.append((now, max(0.0, now - due)))
            while self._samples and self._samples[0][0] < now - self.window_s:
                self._samples.popleft()
        self._arm()

    def max_lag(self) -> float:
        """The largest callback delay (seconds) of the last ``window_s`` seconds, including
        the delay of a callback that is overdue now."""
        now = time.monotonic()
        with self._lock:
            recorded = max((lag for t, lag in self._samples if t >= now - self.window_s), default=0.0)
        due = self._due
        overdue = now - due if due is not None and not self._stopped else 0.0
        return max(recorded, overdue, 0.0)


_monitors: dict[int, LoopLagMonitor] = {}
_monitors_lock = threading.Lock()


def watch(loop: asyncio.AbstractEventLoop) -> LoopLagMonitor:
    """Start (once) the monitor of ``loop``; it counts in :func:`max_lag`."""
    with _monitors_lock:
        for key, monitor in list(_monitors.items()):
            if monitor.loop.is_closed():
                monitor.stop()
                del _monitors[key]
        monitor = _monitors.get(id(loop))
        if monitor is None:
            monitor = _monitors[id(loop)] = LoopLagMonitor(loop).start()
        return monitor


def max_lag() -> float:
    """The largest lag over every watched loop of this process (0 when none is watched)."""
    with _monitors_lock:
        monitors = [m for m in _monitors.values() if not m.loop.is_closed()]
    return max((m.max_lag() for m in monitors), default=0.0)
