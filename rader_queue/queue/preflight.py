"""Checks a worker and ``enqueue`` make before they start (issue 15).

* The database has the schema this code was written for (:func:`rader_queue.store.revision.
  check_schema`; exit status 6 otherwise).
* The broker does not evict keys: a Redis with ``maxmemory-policy`` other than ``noeviction``
  drops queued messages when it fills up (silently: the jobs stay ``queued``). Refused with the
  reason (exit status 3).
* A worker's SQL connection pool holds its concurrency plus the heartbeat, reconciler and
  watchdog (``RADER_DB_POOL_SIZE``, unless set), so no task waits for a connection."""

from __future__ import annotations

import redis

from rader_queue.errors import BrokerError, ConfigError
from rader_queue.secrets import redact_url, scrub
from rader_queue.settings import get_settings, install_settings
from rader_queue.store.revision import check_schema


def broker_eviction_policy(url: str) -> str | None:
    """The Redis broker's ``maxmemory-policy`` (``None``: not a Redis broker)."""
    if not url.startswith(("redis://", "rediss://")):
        return None

    try:
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        try:
            return str(client.info("memory").get("maxmemory_policy", "noeviction"))
        finally:
            client.close()
    except redis.RedisError as exc:
        raise BrokerError(f"broker unreachable at {redact_url(url)} ({scrub(str(exc))})") from exc


def check_broker(url: str | None = None) -> None:
    url = url or get_settings().broker
    policy = broker_eviction_policy(url)
    if policy is not None and policy != "noeviction":
        raise ConfigError(f"broker {redact_url(url)} has maxmemory-policy {policy}: Redis would "
                          "evict queued messages when memory is full; set `maxmemory-policy "
                          "noeviction` (CONFIG SET or redis.conf)")


def worker_preflight(concurrency: int) -> None:
    settings = get_settings()
    if not settings.db_pool_size:
        install_settings(settings.model_copy(update={"db_pool_size": concurrency + 4}))
    check_schema()
    check_broker()


def enqueue_preflight(db_url: str | None = None, broker: bool = True) -> None:
    check_schema(db_url)
    if broker:
        check_broker()
