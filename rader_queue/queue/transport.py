"""The Redis transport of workers, hardened against poison messages (issue 15).

kombu's Redis channel pops a message (``BRPOP``) and then parses it: a list item that is not
JSON, an envelope without ``properties``/``delivery_tag``, or a body that is not valid base64
raises inside the transport, and the worker dies with "Unrecoverable error" (and the message is
gone, or comes back to kill the next worker). This channel checks the envelope after the pop;
one it cannot deliver goes to the dead-letter store (:mod:`rader_queue.queue.deadletter`) with
the raw item and the reason, and the worker goes on. Everything past the envelope (headers,
content type, the ``[args, kwargs, embed]`` body, unknown tasks) is checked by the consumer
(:mod:`rader_queue.queue.consumer`).

Used for ``redis://`` and ``rediss://`` brokers (``broker_transport`` in
:mod:`rader_queue.queue.app`); the overridden read mirrors kombu 5.x's ``_brpop_read``/``_get``.
"""

from __future__ import annotations

import json
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str

from rader_queue.queue import deadletter

try:                                    # kombu's own exception for "nothing to read"
    from queue import Empty
except ImportError:  # pragma: no cover
    Empty = Exception


def envelope_problem(channel: Any, payload: Any) -> str | None:
    """Why ``payload`` (a parsed list item) cannot become a kombu message, or ``None``."""
    if not isinstance(payload, dict):
        return f"envelope is a JSON {type(payload).__name__}, not an object"
    props = payload.get("properties")
    if not isinstance(props, dict):
        return "envelope has no 'properties' object"
    if not isinstance(props.get("delivery_tag"), (str, int)):
        return "envelope has no delivery_tag"
    if not isinstance(props.get("delivery_info", {}), dict):
        return "envelope's delivery_info is not an object"
    if not isinstance(payload.get("headers", {}) or {}, dict):
        return "envelope's headers are not an object"
    body = payload.get("body")
    if body is not None and not isinstance(body, (str, bytes)):
        return f"envelope's body is a JSON {type(body).__name__}, not a string"
    encoding = props.get("body_encoding")
    if body:
        try:
            channel.decode_body(body, encoding)
        except Exception as exc:  # noqa: BLE001 - any codec failure makes it undeliverable
            return f"body cannot be decoded as {encoding}: {type(exc).__name__}: {exc}"
    return None


class Channel(kombu_redis.Channel):
    def _checked(self, item: Any, queue: str) -> dict | None:
        """The parsed envelope of a popped item, or ``None`` after dead-lettering it."""
        try:
            payload = json.loads(bytes_to_str(item))
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            deadletter.put(item, f"queue item is not JSON: {exc}", queue=queue)
            return None
        problem = envelope_problem(self, payload)
        if problem:
            deadletter.put(item, problem, queue=queue)
            return None
        return payload

    def _brpop_read(self, **options: Any) -> bool:
        try:
            try:
                dest_item = self.client.parse_response(self.client.connection, "BRPOP", **options)
            except self.connection_errors:
                self.client.connection.disconnect()     # the next poll reconnects
                raise
            if not dest_item:
                raise Empty()
            dest, item = dest_item
            dest = bytes_to_str(dest).rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(dest)
            payload = self._checked(item, dest)
            if payload is not None:
                self.connection._deliver(payload, dest)
            return True
        finally:
            self._in_poll = None
            flush = getattr(self, "_flush_brpop_reauth", None)
            if flush is not None:
                flush()

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        """Whether any of the queue's lists holds a message. (kombu asks with ``EXISTS``, which
        its key-prefixing client leaves unprefixed in kombu 5.7: under ``global_keyprefix`` a
        passive ``queue_declare`` then found no queue at all; ``LLEN`` is prefixed.)"""
        return self._size(queue) > 0

    def _get(self, queue: str) -> dict:
        while True:     # a poison item is dead-lettered and the next one read
            payload = self._checked(self._get_raw(queue), queue)
            if payload is not None:
                return payload

    def _get_raw(self, queue: str) -> bytes:
        with self.conn_or_acquire() as client:
            for pri in self.priority_steps:
                item = client.rpop(self._q_for_pri(queue, pri))
                if item:
                    self._maybe_update_queues_expire(client, queue)
                    return item
            self._maybe_update_queues_expire(client, queue)
            raise Empty()


class Transport(kombu_redis.Transport):
    Channel = Channel
