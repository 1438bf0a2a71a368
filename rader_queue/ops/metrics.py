"""Prometheus metrics of a rader-queue worker process.

Set ``RADER_METRICS_PORT`` (or ``rader-queue worker --metrics-port``) and the worker serves
``http://<RADER_METRICS_ADDRESS, default 127.0.0.1>:<port>/metrics``. What it exports:

==========================================  =======================================================
``rader_tasks_total{task,stage,state}``     task events: ``started``; then ``succeeded``,
                                            ``failed`` (job failed for good, reason in SQL),
                                            ``skipped`` (already done: a redelivery), ``retried``
                                            or ``error`` (an exception escaped the task)
``rader_task_duration_seconds{…,outcome}``  histogram of task wall time
``rader_llm_calls_total{stage,model,outcome}``  generator calls: ``ok``, ``error``, ``cache_hit``
``rader_llm_call_latency_seconds{stage,model}`` histogram (retries and backoff included)
``rader_llm_prompt_tokens_total``,          token counters by stage and model
``rader_llm_completion_tokens_total``
``rader_llm_cache_hits_total{stage,model}`` answers served from the SQL response cache
``rader_problems_in_flight``                coroutines on the worker's shared event loop
                                            (:func:`rader_queue.queue.runtime.in_flight`)
``rader_event_loop_lag_seconds``            largest callback delay of the shared event loop
                                            over the last 30 s (:mod:`rader_queue.ops.loop_lag`)
``rader_llm_requests_in_flight``            HTTP requests in flight in this process (all
                                            generators registered with :func:`track_generator`)
``rader_queue_depth{queue}``                messages waiting in each broker queue (``LLEN`` of
                                            ``<prefix><queue>`` and its priority lists)
``rader_queue_unacked``                     messages delivered to some worker and not yet acked
``rader_broker_up``                         1 when the last queue-depth scrape reached Redis
==========================================  =======================================================

Task counters come from Celery signals (connected when this module is imported, which
:mod:`rader_queue.queue.app` does). LLM metrics come from :func:`observe_llm_call`, which the
generator calls with each :class:`~rader_queue.llm.ledger.CallRecord` (the same record the cost
ledger gets). Metrics are per process: the threads and solo pools (the defaults) run every task
in the worker's main process; with ``--pool prefork`` each child serves its own endpoint on
``port + child index`` (1, 2, …).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram, PlatformCollector,
                               ProcessCollector, generate_latest, start_http_server)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("rader_queue.metrics")

#: Every rader-queue metric lives in this registry (plus process and platform metrics).
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

TASKS = Counter("rader_tasks", "Celery task events by task, stage and state",
                ["task", "stage", "state"], registry=REGISTRY)
TASK_SECONDS = Histogram("rader_task_duration_seconds", "Wall time of a task",
                         ["task", "stage", "outcome"], registry=REGISTRY,
                         buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 3 * 3600))
LLM_CALLS = Counter("rader_llm_calls", "Generator calls by stage, model and outcome",
                    ["stage", "model", "outcome"], registry=REGISTRY)
LLM_LATENCY = Histogram("rader_llm_call_latency_seconds",
                        "Latency of a generator call (all retries included)",
                        ["stage", "model"], registry=REGISTRY,
                        buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600))
LLM_PROMPT_TOKENS = Counter("rader_llm_prompt_tokens", "Prompt tokens sent to the generator",
                            ["stage", "model"], registry=REGISTRY)
LLM_COMPLETION_TOKENS = Counter("rader_llm_completion_tokens",
                                "Completion tokens received from the generator",
                                ["stage", "model"], registry=REGISTRY)
LLM_CACHE_HITS = Counter("rader_llm_cache_hits", "Generator calls answered by the SQL cache",
                         ["stage", "model"], registry=REGISTRY)
PROBLEMS_IN_FLIGHT = Gauge("rader_problems_in_flight",
                           "Problems (coroutines) in flight on this worker's event loop",
                           registry=REGISTRY)
REQUESTS_IN_FLIGHT = Gauge("rader_llm_requests_in_flight",
                           "Generator HTTP requests in flight in this process", registry=REGISTRY)

# Objects with an ``in_flight`` attribute (the generators' shared cores); weak, so a dropped
# generator disappears from the gauge.
_request_sources: weakref.WeakSet = weakref.WeakSet()
_sources_lock = threading.Lock()


def _problems_in_flight() -> float:
    from rader_queue.queue import runtime

    return float(runtime.in_flight())


def _requests_in_flight() -> float:
    with _sources_lock:
        sources = list(_request_sources)
    return float(sum(int(getattr(s, "in_flight", 0) or 0) for s in sources))


PROBLEMS_IN_FLIGHT.set_function(_problems_in_flight)
REQUESTS_IN_FLIGHT.set_function(_requests_in_flight)

# issue 13: how late the worker's shared event loop runs a due callback (max, last 30 s)
LOOP_LAG = Gauge("rader_event_loop_lag_seconds",
                 "Largest callback delay of the worker's event loop over the last 30 s",
                 registry=REGISTRY)


def _loop_lag() -> float:
    from rader_queue.ops import loop_lag

    return loop_lag.max_lag()


LOOP_LAG.set_function(_loop_lag)


def track_generator(source: Any) -> None:
    """Count ``source.in_flight`` (a generator or its shared core) in ``rader_llm_requests_in_flight``."""
    try:
        with _sources_lock:
            _request_sources.add(source)
    except TypeError:  # not weak-referenceable: metrics must never break the caller
        log.debug("cannot track %r for requests in flight", source)


# ----------------------------------------------------------------------------- LLM calls

def observe_llm(stage: str, model: str, *, latency_s: float = 0.0, prompt_tokens: int = 0,
                completion_tokens: int = 0, cache_hit: bool = False,
                error: str | None = None) -> None:
    """Record one generator call."""
    stage, model = stage or "unknown", model or "unknown"
    outcome = "error" if error else ("cache_hit" if cache_hit else "ok")
    LLM_CALLS.labels(stage, model, outcome).inc()
    LLM_LATENCY.labels(stage, model).observe(max(0.0, float(latency_s or 0.0)))
    if cache_hit:
        LLM_CACHE_HITS.labels(stage, model).inc()
    if prompt_tokens:
        LLM_PROMPT_TOKENS.labels(stage, model).inc(prompt_tokens)
    if completion_tokens:
        LLM_COMPLETION_TOKENS.labels(stage, model).inc(completion_tokens)


def observe_llm_call(record: Any) -> None:
    """Record a :class:`~rader_queue.llm.ledger.CallRecord` (the generator's per-call record).
    Never raises: a metrics problem must not fail a generation."""
    try:
        observe_llm(getattr(record, "stage", "unknown"), getattr(record, "model", "unknown"),
                    latency_s=getattr(record, "latency_s", 0.0),
                    prompt_tokens=int(getattr(record, "prompt_tokens", 0) or 0),
                    completion_tokens=int(getattr(record, "completion_tokens", 0) or 0),
                    cache_hit=bool(getattr(record, "cache_hit", False)),
                    error=getattr(record, "error", None))
        if not getattr(record, "cache_hit", False):   # issue 17: live counters in the heartbeat
            from rader_queue.ops import live_llm

            live_llm.record(int(getattr(record, "prompt_tokens", 0) or 0),
                            int(getattr(record, "completion_tokens", 0) or 0))
    except Exception:  # noqa: BLE001
        log.exception("could not record LLM metrics")


# ----------------------------------------------------------------------------- queue depth

# kombu's Redis transport keeps a queue as one list per priority step: ``<prefix><queue>`` for
# priority 0 and ``<prefix><queue>\x06\x16<p>`` for the others; delivered-but-unacked messages
# sit in the hash ``<prefix>unacked`` (both found by experiment, kombu 5.x, global_keyprefix).
PRIORITY_SEP = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)


def queue_keys(prefix: str, queue: str) -> list[str]:
    return [prefix + queue if p == 0 else f"{prefix}{queue}{PRIORITY_SEP}{p}" for p in PRIORITY_STEPS]


def queue_depths(client: Any, prefix: str, queues: Iterable[str]) -> dict[str, int]:
    """Messages waiting in each queue (all priority lists together)."""
    queues = list(queues)
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        for key in queue_keys(prefix, queue):
            pipe.llen(key)
    lengths = iter(pipe.execute())
    return {queue: sum(next(lengths) for _ in PRIORITY_STEPS) for queue in queues}


class QueueDepthCollector(Collector):
    """Reads queue depths from Redis at scrape time (one pipelined round trip)."""

    def __init__(self, broker_url: str, prefix: str, queues: Iterable[str]) -> None:
        self.broker_url, self.prefix, self.queues = broker_url, prefix, tuple(queues)
        self._client = None

    def _redis(self):
        if self._client is None:
            import redis

            self._client = redis.Redis.from_url(self.broker_url, socket_timeout=2.0,
                                                socket_connect_timeout=2.0)
        return self._client

    def describe(self):
        return []  # collected lazily: never touch Redis at registration time

    def collect(self):
        up = GaugeMetricFamily("rader_broker_up", "1 when the queue-depth scrape reached the broker")
        try:
            client = self._redis()
            depths = queue_depths(client, self.prefix, self.queues)
            unacked = client.hlen(self.prefix + "unacked")
        except Exception as exc:  # noqa: BLE001 - a scrape must answer even when Redis is down
            log.warning("queue depth scrape failed: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        depth = GaugeMetricFamily("rader_queue_depth", "Messages waiting in a broker queue",
                                  labels=["queue"])
        for queue, count in depths.items():
            depth.add_metric([queue], count)
        yield depth
        yield GaugeMetricFamily("rader_queue_unacked",
                                "Messages delivered to a worker and not yet acknowledged",
                                value=unacked)
        up.add_metric([], 1)
        yield up


# ----------------------------------------------------------------------------- Celery signals

@lru_cache(maxsize=256)
def stage_of(task_name: str) -> str:
    """The jobs-table stage of a task name (``rader.querygen.extract`` → ``extract``)."""
    from rader_queue.queue.stages import for_task

    stage = for_task(task_name)
    if stage is not None:
        return stage.name
    parts = task_name.split(".")
    return parts[1] if len(parts) >= 3 and parts[0] == "rader" else "other"


_started: dict[str, float] = {}
_started_lock = threading.Lock()


def _task_name(task: Any, sender: Any = None) -> str:
    return str(getattr(task, "name", None) or getattr(sender, "name", None) or sender or "unknown")


def outcome_of(state: str | None, retval: Any) -> str:
    """``succeeded``/``failed``/``skipped`` for a task that returned; ``error``/``retried`` for one
    that raised. The job runner returns ``{"failed": reason}`` for a job it gave up on and
    ``{"skipped": why}`` for a redelivered job that was already done."""
    if state == "SUCCESS":
        if isinstance(retval, dict) and "failed" in retval:
            return "failed"
        if isinstance(retval, dict) and "skipped" in retval:
            return "skipped"
        return "succeeded"
    return {"FAILURE": "error", "RETRY": "retried"}.get(state or "", (state or "unknown").lower())


def _on_prerun(sender=None, task_id=None, task=None, **_: Any) -> None:
    name = _task_name(task, sender)
    TASKS.labels(name, stage_of(name), "started").inc()
    with _started_lock:
        _started[task_id] = time.monotonic()


def _on_postrun(sender=None, task_id=None, task=None, retval=None, state=None, **_: Any) -> None:
    name = _task_name(task, sender)
    outcome = outcome_of(state, retval)
    # raised tasks are counted by the task_failure / task_retry handlers (once each)
    if state not in ("FAILURE", "RETRY"):
        TASKS.labels(name, stage_of(name), outcome).inc()
    with _started_lock:
        t0 = _started.pop(task_id, None)
    if t0 is not None:
        TASK_SECONDS.labels(name, stage_of(name), outcome).observe(time.monotonic() - t0)


def _on_failure(sender=None, **_: Any) -> None:
    name = _task_name(sender)
    TASKS.labels(name, stage_of(name), "error").inc()


def _on_retry(sender=None, request=None, **_: Any) -> None:
    name = _task_name(sender, getattr(request, "task", None))
    TASKS.labels(name, stage_of(name), "retried").inc()


_server_lock = threading.Lock()
_server: Any = None
_server_pid: int | None = None
_depth_registered = False


def metrics_address() -> str:
    """Listen address of the metrics endpoint: ``RADER_METRICS_ADDRESS`` (default loopback;
    containers set ``0.0.0.0`` and publish nothing)."""
    return os.environ.get("RADER_METRICS_ADDRESS", "127.0.0.1")


def register_queue_depth(settings: Any = None) -> None:
    """Add the queue-depth collector for the configured broker (Redis only; once per process)."""
    global _depth_registered
    from rader_queue.queue import stages
    from rader_queue.settings import get_settings

    settings = settings or get_settings()
    with _server_lock:
        if _depth_registered or not settings.broker.startswith(("redis://", "rediss://", "unix://")):
            return
        REGISTRY.register(QueueDepthCollector(settings.broker, settings.queue_prefix, stages.QUEUES))
        _depth_registered = True


def start_metrics_server(port: int, address: str | None = None, *, settings: Any = None) -> int:
    """Serve ``/metrics`` on ``address:port`` from a daemon thread; returns the bound port.
    Idempotent within a process."""
    global _server, _server_pid
    register_queue_depth(settings)
    with _server_lock:
        if _server is None or _server_pid != os.getpid():
            result = start_http_server(port, addr=address or metrics_address(), registry=REGISTRY)
            _server = result[0] if isinstance(result, tuple) else result
            _server_pid = os.getpid()
            log.warning("metrics on http://%s:%s/metrics", address or metrics_address(),
                        _server.server_port)
        return int(_server.server_port)


def exposition() -> bytes:
    """The current metrics in the Prometheus text format."""
    return generate_latest(REGISTRY)


def _on_worker_init(sender=None, **_: Any) -> None:
    from rader_queue.settings import get_settings

    port = get_settings().metrics_port
    if port:
        start_metrics_server(port)


def _on_worker_process_init(**_: Any) -> None:
    """Prefork child: its own endpoint on ``port + child index`` (the parent serves ``port``).
    The solo pool sends this signal in the worker's own process: nothing to do there."""
    from celery.utils.log import current_process_index

    from rader_queue.settings import get_settings

    port = get_settings().metrics_port
    if port and (_server is None or _server_pid != os.getpid()):
        # a forked child: the parent's server thread did not survive the fork
        start_metrics_server(port + (current_process_index(base=1) or 1))


def connect_signals() -> None:
    """Connect the Celery signal handlers (idempotent: Celery dedupes by ``dispatch_uid``)."""
    from celery import signals

    for signal, handler in [(signals.task_prerun, _on_prerun), (signals.task_postrun, _on_postrun),
                            (signals.task_failure, _on_failure), (signals.task_retry, _on_retry),
                            (signals.worker_init, _on_worker_init),
                            (signals.worker_process_init, _on_worker_process_init)]:
        signal.connect(handler, weak=False, dispatch_uid=f"rader-metrics-{handler.__name__}")


connect_signals()
