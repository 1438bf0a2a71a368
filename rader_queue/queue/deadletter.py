"""The dead-letter store: messages no worker can run (issue 15).

A message whose envelope, body or arguments are malformed (not JSON, bad base64, not Celery's
``[args, kwargs, embed]`` triple, an unknown task, a job id that is not a positive 64-bit
integer, a pickle or YAML body, …) is moved here with the raw message and the reason, and
acknowledged: the worker goes on consuming. Entries are JSON in the Redis list
``<prefix>deadletter`` (:data:`keys.DEADLETTER`), newest first, capped at
``RADER_DEADLETTER_MAX`` entries. ``rader-queue deadletter list|show|drop`` reads and empties it;
``rader-queue status`` shows the count.

Only a Redis broker has this store. With another broker (RabbitMQ) a dead message is still
acknowledged, so it cannot stop a worker, and its reason and the start of its raw text are
logged (``rader_queue.deadletter``); the commands say the store is not there (ConfigError)."""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from typing import Any

import redis

from rader_queue.errors import ConfigError
from rader_queue.queue import keys
from rader_queue.settings import get_settings

log = logging.getLogger("rader_queue.deadletter")

RAW_LIMIT = 64 * 1024      # characters of the raw message kept
_client = None
_client_for: tuple[str, str] | None = None


def available() -> bool:
    """Whether this deployment's broker keeps a dead-letter store (a Redis broker)."""
    return get_settings().broker.startswith(("redis://", "rediss://"))


def _redis():
    global _client, _client_for

    settings = get_settings()
    if not available():
        scheme = settings.broker.split("://", 1)[0]
        raise ConfigError(f"the dead-letter store is a Redis list, and this broker ({scheme}://) "
                          "has none: workers log each dead message ('dead-letter …' in "
                          "rader_queue.deadletter) and acknowledge it")
    key = (settings.broker, settings.queue_prefix)
    if _client is None or _client_for != key:
        _client = redis.Redis.from_url(settings.broker, socket_timeout=5,
                                       socket_connect_timeout=5)
        _client_for = key
    return _client


def key() -> str:
    return get_settings().queue_prefix + keys.DEADLETTER


def _text(raw: Any) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="backslashreplace")
    elif not isinstance(raw, str):
        try:
            raw = json.dumps(raw, default=repr)
        except (TypeError, ValueError):
            raw = repr(raw)
    return raw[:RAW_LIMIT]


def put(raw: Any, reason: str, queue: str | None = None, task: str | None = None) -> str | None:
    """Store one dead message; returns its id (``None`` if the broker refused: logged)."""
    entry = {"id": secrets.token_hex(6), "time": time.time(), "queue": queue, "task": task,
             "reason": reason[:2000], "worker": f"{socket.gethostname()}:{os.getpid()}",
             "raw": _text(raw)}
    log.error("dead-letter %s (queue %s): %s", entry["id"], queue, entry["reason"])
    if not available():
        log.error("dead-letter %s not stored (no dead-letter store on this broker); raw: %.500s",
                  entry["id"], entry["raw"])
        return None
    try:
        client = _redis()
        with client.pipeline() as pipe:
            pipe.lpush(key(), json.dumps(entry))
            pipe.ltrim(key(), 0, max(1, get_settings().deadletter_max) - 1)
            pipe.execute()
    except Exception as exc:  # noqa: BLE001 - never let the dead-letter store stop a worker
        log.error("could not store dead-letter %s: %s", entry["id"], type(exc).__name__)
        return None
    return entry["id"]


def entries(limit: int | None = None) -> list[dict[str, Any]]:
    rows = _redis().lrange(key(), 0, -1 if limit is None else limit - 1)
    out = []
    for row in rows:
        try:
            out.append(json.loads(row))
        except ValueError:
            out.append({"id": None, "reason": "unreadable entry", "raw": _text(row)})
    return out


def count() -> int:
    return int(_redis().llen(key()))


def find(entry_id: str) -> dict[str, Any] | None:
    return next((e for e in entries() if e.get("id") == entry_id), None)


def drop(entry_id: str | None = None) -> int:
    """Remove one entry (by id) or, with ``None``, all of them; returns how many."""
    client = _redis()
    if entry_id is None:
        n = client.llen(key())
        client.delete(key())
        return int(n)
    for row in client.lrange(key(), 0, -1):
        try:
            if json.loads(row).get("id") == entry_id:
                return int(client.lrem(key(), 1, row))
        except ValueError:
            continue
    return 0
