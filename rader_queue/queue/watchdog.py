"""Worker watchdog: a heartbeat in Redis, and a non-zero exit when the consumer has stopped
consuming, so that the supervisor (systemd ``Restart=on-failure``, a compose restart policy,
Kubernetes) starts a fresh worker. Run workers under one.

Why. A Celery worker on Redis can lose its broker and come back without consuming again
(celery#8082, #8030, #10205: the process stays up, nothing is logged). And with Celery 5.7 /
kombu 5.7 workers of this project die when Redis goes away as a task completes: closing the lost
connection's channel restores its unacknowledged messages through a transport already torn down
(``Unrecoverable error: AttributeError("'NoneType' object has no attribute 'hostname'")``; a
race, about one such restart in three in ``tests/reliability/test_redis_restart.py``). Celery
then stops the worker with status 1, which :meth:`celery.Celery.worker_main` throws away: the
process exited **0**, and a ``Restart=on-failure`` supervisor left it dead. :func:`run_worker`
(used by ``rader-queue worker``) returns the real status.

What runs. In every worker process whose broker is Redis, a daemon thread started on
``worker_ready`` and stopped on ``worker_shutting_down`` wakes every
``RADER_WATCHDOG_INTERVAL_S`` seconds (default 5; ``0``: no watchdog) and

1. writes the heartbeat ``<prefix>worker-heartbeat:<hostname>`` (:data:`keys.HEARTBEAT`): JSON
   with the time, pid, requests held, time of the last message received and the event loop's
   lag (``loop_lag_s``, :mod:`rader_queue.ops.loop_lag`) and the process's live LLM counters
   (``llm``, :mod:`rader_queue.ops.live_llm`), expiring after three
   intervals (at least 30 s), so ``redis-cli --scan --pattern '*worker-heartbeat:*'`` lists the
   live workers;
2. suspects a stall when the broker answered, messages wait in a queue this worker was started
   to consume, and it holds fewer requests than its concurrency (a free slot). When that stays
   true for ``RADER_WATCHDOG_STALL_S`` seconds (default 120; ``0``: never exit) with no message
   received, it logs CRITICAL and exits with status :data:`EXIT_STALLED` (75, EX_TEMPFAIL).

Exiting loses nothing: tasks still running in the process die with it; their messages are not
acknowledged (``acks_late``) and are delivered again after the visibility timeout, and a job
claimed in SQL makes the redelivery safe (:mod:`rader_queue.queue.job_runner`). While Redis is
down nothing is judged (it cannot be told apart from an idle queue), and Celery's own reconnect
loop keeps running.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from typing import Any

import redis
from celery import signals
from celery.worker import state

from rader_queue.ops import live_llm, loop_lag
from rader_queue.queue import depth, keys
from rader_queue.settings import get_settings

log = logging.getLogger("rader_queue.watchdog")

EXIT_STALLED = 75           # EX_TEMPFAIL: a supervisor should start the worker again

_last_received = 0.0        # time.time() of the last message this process received
_thread: Watchdog | None = None
_exitcode: int | None = None   # the WorkController's exit status, read at worker_shutdown


class Watchdog(threading.Thread):
    def __init__(self, consumer: Any, broker_url: str, prefix: str, interval_s: float,
                 stall_s: float) -> None:
        super().__init__(name="rader-watchdog", daemon=True)
        self.consumer, self.interval_s, self.stall_s = consumer, interval_s, stall_s
        self.prefix, self.hostname = prefix, consumer.hostname
        # The queues this worker was started for: a consumer that stopped consuming one of
        # them must not make the watchdog forget it.
        self.queues = tuple(consumer.app.amqp.queues.consume_from or ())
        self.concurrency = int(getattr(consumer.controller, "concurrency", 1) or 1)
        self.stopping = threading.Event()
        self.suspect_since: float | None = None
        self.redis = redis.Redis.from_url(broker_url, socket_timeout=2.0,
                                          socket_connect_timeout=2.0)

    def run(self) -> None:
        log.info("watchdog: heartbeat every %.0fs, stall exit after %.0fs (queues %s)",
                 self.interval_s, self.stall_s, ",".join(self.queues))
        while not self.stopping.wait(self.interval_s):
            try:
                self.check()
            except Exception:  # noqa: BLE001 - the watchdog itself must never stop the worker
                log.exception("watchdog check failed")

    def check(self) -> None:
        held, now = len(state.reserved_requests), time.time()
        try:
            with depth.broker_connection(self.consumer.app) as connection:
                waiting = sum(depth.queue_depths(connection, self.queues).values())
            self.redis.set(keys.heartbeat_key(self.prefix, self.hostname),
                           json.dumps({"time": now, "pid": os.getpid(), "held": held,
                                       "last_received": _last_received or None,
                                       "loop_lag_s": round(loop_lag.max_lag(), 3),
                                       "llm": live_llm.snapshot()}),
                           ex=max(30, int(3 * self.interval_s)))
        except Exception as exc:  # noqa: BLE001 - broker down: nothing to judge
            log.debug("watchdog: broker unreachable (%s)", type(exc).__name__)
            self.suspect_since = None
            return
        if not (waiting and held < self.concurrency and self.stall_s > 0):
            self.suspect_since = None
        elif self.suspect_since is None or _last_received >= self.suspect_since:
            self.suspect_since = now
        elif now - self.suspect_since >= self.stall_s:
            self.exit_stalled(waiting, held, now - self.suspect_since)

    def exit_stalled(self, waiting: int, held: int, seconds: float) -> None:
        log.critical("watchdog: consumer stalled: %d message(s) waiting in %s, %d of %d slots "
                     "busy, nothing received for %.0fs; exiting with status %d so the "
                     "supervisor starts a fresh worker", waiting, ",".join(self.queues), held,
                     self.concurrency, seconds, EXIT_STALLED)
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_STALLED)


def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    global _thread
    settings = get_settings()
    if _thread is not None or sender is None or settings.watchdog_interval_s <= 0:
        return
    if not settings.broker.startswith(("redis://", "rediss://")):
        return      # the embedded mode's in-memory broker has no outage to watch for
    _thread = Watchdog(sender, settings.broker, settings.queue_prefix,
                       settings.watchdog_interval_s, settings.watchdog_stall_s)
    _thread.start()


def _on_task_received(**_: Any) -> None:
    global _last_received
    _last_received = time.time()


def _on_shutting_down(**_: Any) -> None:
    # A warm shutdown stops consuming while tasks finish: that is not a stall.
    if _thread is not None:
        _thread.stopping.set()


def run_worker(app: Any, argv: list[str]) -> int:
    """Run ``celery worker`` with ``argv``; return the worker's exit status. (Celery 5.7 loses
    it twice: click returns it to ``Celery.start``, which drops it, and ``worker_main`` returns
    nothing. The status is read from the WorkController as it shuts down.)"""
    global _exitcode
    _exitcode = None
    app.worker_main(argv)
    return int(_exitcode or 0)


def _on_worker_shutdown(sender: Any = None, **_: Any) -> None:
    global _exitcode
    code = getattr(sender, "exitcode", None)
    _exitcode = code if isinstance(code, int) else (1 if code else 0)


def connect_signals() -> None:
    for signal, handler in [(signals.worker_ready, _on_worker_ready),
                            (signals.task_received, _on_task_received),
                            (signals.worker_shutting_down, _on_shutting_down),
                            (signals.worker_shutdown, _on_worker_shutdown)]:
        signal.connect(handler, weak=False, dispatch_uid=f"rader-watchdog-{handler.__name__}")


connect_signals()
