"""``rader-queue flower``: Flower on the same broker, with the same Redis key prefix.

Flower is started through rader-queue's own Celery app, so it inherits ``broker_url`` and the
``global_keyprefix`` transport option (``RADER_QUEUE_PREFIX``): it receives the events of this
deployment's workers, its broadcast commands reach them, and its queue-length view reads the
prefixed Redis lists. A plain ``celery flower`` with only ``--broker`` would watch the
unprefixed keys and see nothing.

Basic auth comes from ``FLOWER_BASIC_AUTH`` (``user:password[,user2:password2]``), which Flower
itself reads from the environment; it is never put on a command line (``ps`` would show it).
"""

from __future__ import annotations

import os

from celery import Celery

from rader_queue.errors import ConfigError

AUTH_ENV = "FLOWER_BASIC_AUTH"


def check_basic_auth(value: str | None) -> list[str]:
    """The ``user:password`` pairs of ``FLOWER_BASIC_AUTH``; ConfigError when unusable."""
    if not value or not value.strip():
        raise ConfigError(f"{AUTH_ENV} is not set: Flower can revoke tasks and shut workers "
                          f"down, so it only runs with basic auth (export {AUTH_ENV}=user:password)")
    pairs = [p.strip() for p in value.split(",")]
    for pos, pair in enumerate(pairs, 1):
        user, sep, password = pair.partition(":")
        if not sep or not user or not password:
            raise ConfigError(f"{AUTH_ENV}: entry {pos} is not of the form user:password")
    return pairs


def flower_argv(port: int, address: str, url_prefix: str | None = None) -> list[str]:
    argv = ["flower", f"--port={port}", f"--address={address}"]
    if url_prefix:
        argv.append(f"--url_prefix={url_prefix.strip('/')}")
    return argv


def run_flower(celery_app: Celery, port: int = 5555, address: str = "127.0.0.1",
               url_prefix: str | None = None) -> int:
    """Run Flower for ``celery_app`` (rader-queue's, :mod:`rader_queue.queue.app`) in this
    process until it is stopped (SIGTERM/SIGINT)."""
    check_basic_auth(os.environ.get(AUTH_ENV))
    # Flower picks its queue-length reader from the broker URL's scheme, which kombu writes as
    # the transport's name: with the workers' poison-proof transport
    # (``rader_queue.queue.transport:Transport``) that is no scheme Flower knows, and
    # ``/api/queues/length`` answers 404. Flower consumes no task messages (only events and
    # broadcast replies), so it uses kombu's stock Redis transport; workers keep theirs.
    if str(celery_app.conf.broker_transport or "").startswith("rader_queue."):
        celery_app.conf.broker_transport = None

    return celery_app.start(flower_argv(port, address, url_prefix)) or 0
