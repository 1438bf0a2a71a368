"""The worker's message consumer, hardened against poison messages (issue 15).

Celery's consumer stops the whole worker ("Unrecoverable error") when a message's headers or
body are not what its task strategy expects (e.g. a body that is valid JSON but not the
``[args, kwargs, embed]`` triple), and it drops unknown tasks and undecodable bodies with a log
line only. This consumer checks every message before Celery's strategy sees it and moves a bad
one to the dead-letter store (:mod:`rader_queue.queue.deadletter`) with the raw message and the
reason, then acknowledges it; any other error while accepting a message does the same. The
worker goes on consuming. (Malformed envelopes are caught earlier, by
:mod:`rader_queue.queue.transport`.)"""

from __future__ import annotations

import inspect
import json
import logging
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer
from vine import promise

from rader_queue.queue import deadletter

log = logging.getLogger("rader_queue.consumer")

JSON_TYPES = ("application/json",)


def message_problem(message: Any, known_tasks: Any, tasks: Any = None) -> str | None:
    """Why ``message`` cannot run as a task of this worker, or ``None``."""
    headers = message.headers
    if not isinstance(headers, dict):
        return f"headers are a {type(headers).__name__}, not an object"
    task = headers.get("task")
    if not isinstance(task, str):
        return "no task name in the headers (not a Celery protocol 2 message)"
    if task not in known_tasks:
        return f"unknown task {task[:200]!r}"
    if not isinstance(headers.get("id"), str):
        return "no task id in the headers"
    if message.content_type not in JSON_TYPES:
        return f"content type {str(message.content_type)[:80]!r} refused (only JSON is accepted)"
    if (message.content_encoding or "utf-8").lower() not in ("utf-8", "utf8"):
        return f"content encoding {str(message.content_encoding)[:40]!r} refused (only utf-8)"
    body = message.body
    try:
        decoded = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        return f"body is not JSON: {exc}"
    if not (isinstance(decoded, list) and len(decoded) == 3 and isinstance(decoded[0], list)
            and isinstance(decoded[1], dict) and isinstance(decoded[2], (dict, type(None)))):
        return "body is not Celery's [args, kwargs, embed] triple"
    return _arguments_problem(task, decoded[0], decoded[1], tasks)


def _arguments_problem(name: str, args: list, kwargs: dict, tasks: Any) -> str | None:
    """The arguments do not fit the task's signature (a call that could only raise TypeError)."""
    task = tasks.get(name) if tasks is not None else None
    if task is None:
        return None
    try:
        inspect.signature(task.run).bind(*args, **kwargs)
    except TypeError as exc:
        return f"arguments do not fit {name}: {exc}"
    except ValueError:          # no signature to check against
        return None
    return None


def raw_message(message: Any) -> Any:
    raw = getattr(message, "_raw", None)
    return raw if raw is not None else {"headers": message.headers, "body": message.body}


class Consumer(CeleryConsumer):
    def create_task_handler(self, promise: Any = promise):
        handler = super().create_task_handler(promise)

        def on_task_received(message: Any) -> Any:
            try:
                problem = message_problem(message, self.strategies, self.app.tasks)
            except Exception as exc:  # noqa: BLE001 - a check that fails is itself a verdict
                problem = f"unreadable message: {type(exc).__name__}: {exc}"
            if problem:
                return self.dead_letter(message, problem)
            try:
                return handler(message)
            except self.connection_errors:
                raise
            except Exception as exc:  # noqa: BLE001 - no message may stop the worker
                return self.dead_letter(message, f"{type(exc).__name__}: {exc}")

        return on_task_received

    def dead_letter(self, message: Any, reason: str) -> None:
        info = getattr(message, "delivery_info", None) or {}
        headers = message.headers if isinstance(message.headers, dict) else {}
        task = headers.get("task") if isinstance(headers.get("task"), str) else None
        deadletter.put(raw_message(message), reason, queue=info.get("routing_key"), task=task)
        if not message.acknowledged:
            message.ack_log_error(log, self.connection_errors)

    # Celery's own verdicts: dead-letter instead of logging and dropping.
    def on_unknown_message(self, body: Any, message: Any) -> None:
        self.dead_letter(message, "unknown message format")

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        self.dead_letter(message, f"unknown task: {exc}")

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        self.dead_letter(message, f"invalid task: {exc}")

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        self.dead_letter(message, f"cannot decode: {type(exc).__name__}: {exc}")
