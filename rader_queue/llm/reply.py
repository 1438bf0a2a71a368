"""Reply hygiene: what the generator accepts from a chat-completion endpoint, and how it is cleaned.

A reply is untrusted input. Before its text reaches the search, SQL or metrics:

* **Size is bounded before parsing.** A reply may hold at most :func:`reply_char_cap` characters
  per choice: ``max_tokens × 16 + 1024`` (no tokenizer in use makes tokens longer than 16
  characters on average; the slack covers short replies). The HTTP body itself is bounded by
  :func:`body_byte_cap` (12 bytes per allowed character, JSON's worst case for ``\\uXXXX``
  escaped surrogate pairs, plus 64 KiB for the envelope) while it is read, so a 1 MB reply is
  refused after the first ~100 KB instead of being held in memory; compressed bodies are not
  accepted (a small gzip body can expand without bound), and the request asks for none.
* **Content must be usable.** No choices, a ``null`` (or non-text) content, or a reply whose
  every choice is empty or only whitespace is a :class:`BadReply` (retried within the policy's
  bad-reply budget, then a clear :class:`~rader_queue.errors.GenerationFailed`), never an empty
  tree. One empty choice beside usable ones is a legitimate sample (a model may stop at once)
  and is passed on as ``""`` (the search drops it); the generator applies the same rule to the
  n single requests of a fan-out taken together.
* **Text is cleaned.** NUL characters are removed (PostgreSQL cannot store them) and lone UTF-16
  surrogates (which no encoder can write) become U+FFFD.
* **Usage is validated.** ``prompt_tokens``/``completion_tokens`` must be integers in
  ``[0, USAGE_MAX]``; anything else (negative, 10^12, a string) counts as 0 and is logged.
* **finish_reason** of each choice is summarised (``stop``, ``length``, ``length,stop`` …) and
  kept in the ledger; a value outside ``[a-z_]{1,20}`` reads as ``other``.
"""

from __future__ import annotations

import contextvars
import importlib
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any

import openai

from rader_queue.llm.retry import BadReply

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 16
SLACK_CHARS = 1024
BYTES_PER_CHAR = 12            # "\\ud83d\\ude00" is 12 bytes of JSON for one character
ENVELOPE_BYTES = 64 * 1024
USAGE_MAX = 10_000_000         # tokens in one reply; the ledger's columns are 32-bit
CACHEABLE_FINISH = frozenset({"stop", "length"})

_SURROGATE = re.compile("[\ud800-\udfff]")
_FINISH = re.compile(r"[a-z_]{1,20}")

# The byte cap of the request being sent by this task (read by CappedTransport).
body_cap: contextvars.ContextVar[int | None] = contextvars.ContextVar("rader_body_cap",
                                                                      default=None)


def reply_char_cap(max_tokens: int) -> int:
    """Most characters one choice may hold for a request of ``max_tokens``."""
    return max(1, int(max_tokens)) * CHARS_PER_TOKEN + SLACK_CHARS


def body_byte_cap(max_tokens: int, n: int) -> int:
    """Most bytes of HTTP body accepted for a request of ``n`` choices of ``max_tokens``."""
    return max(1, n) * reply_char_cap(max_tokens) * BYTES_PER_CHAR + ENVELOPE_BYTES


class ReplyTooLarge(BadReply):
    """The body passed its byte cap while it was read (raised inside the HTTP client)."""


def clean_text(text: str) -> str:
    """Text fit for SQL and terminals' encoders: no NUL, lone surrogates replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text.replace("\x00", ""))


def _usage(usage: Any, name: str) -> int:
    value = usage.get(name) if isinstance(usage, dict) else getattr(usage, name, None)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= USAGE_MAX:
        log.warning("reply usage.%s=%.40r is not a token count in [0, %d]; counted as 0",
                    name, value, USAGE_MAX)
        return 0
    return value


def finish_summary(reasons: list[Any]) -> str | None:
    """Sorted distinct finish reasons, comma-joined (None when the server sent none)."""
    seen = {r if isinstance(r, str) and _FINISH.fullmatch(r) else "other"
            for r in reasons if r is not None}
    return ",".join(sorted(seen)) or None


def merge_finish(*summaries: str | None) -> str | None:
    """One finish summary for several requests (fan-out)."""
    parts = {p for s in summaries if s for p in s.split(",")}
    return ",".join(sorted(parts)) or None


def cacheable(finish: str | None) -> bool:
    """Only replies that ended normally (``stop``/``length``) are worth replaying."""
    return finish is not None and set(finish.split(",")) <= CACHEABLE_FINISH


@dataclass
class ParsedReply:
    texts: list[str]
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None


def parse_reply(reply: Any, max_tokens: int, *, allow_empty: bool = False) -> ParsedReply:
    """Texts (by choice index), usage and finish reasons; BadReply when it is not usable.
    ``allow_empty``: an all-empty reply is accepted (one request of a fan-out, judged with the
    others by the caller)."""
    choices = getattr(reply, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise BadReply("reply without choices")
    cap = reply_char_cap(max_tokens)
    items, reasons = [], []
    for pos, choice in enumerate(choices):
        message = getattr(choice, "message", None)
        content = getattr(message, "content", None)
        if message is None or content is None:
            raise BadReply(f"choice {pos} has no content (null)")
        if not isinstance(content, str):
            raise BadReply(f"choice {pos} content is a {type(content).__name__}, not text")
        if len(content) > cap:
            raise BadReply(f"choice {pos} has {len(content)} characters, over the cap of {cap} "
                           f"for max_tokens={max_tokens}")
        text = clean_text(content)
        index = getattr(choice, "index", None)
        items.append((index if isinstance(index, int) and not isinstance(index, bool) else pos,
                      text))
        reasons.append(getattr(choice, "finish_reason", None))
    items.sort(key=lambda item: item[0])
    if not allow_empty and not any(text.strip() for _, text in items):
        raise BadReply("reply has empty content" if len(items) == 1
                       else f"all {len(items)} choices have empty content")
    usage = getattr(reply, "usage", None)
    return ParsedReply([text for _, text in items], _usage(usage, "prompt_tokens"),
                       _usage(usage, "completion_tokens"), finish_summary(reasons))


def _http_module() -> ModuleType:
    """The HTTP library the installed openai client is built on (httpx, or httpx2 in newer
    releases); the transport must subclass that library's classes."""
    for cls in openai.DefaultAsyncHttpxClient.__mro__:
        root = cls.__module__.split(".")[0]
        if cls.__name__ == "AsyncClient" and root in ("httpx", "httpx2"):
            return importlib.import_module(root)
    return importlib.import_module("httpx")


@lru_cache(maxsize=1)
def _transport_class() -> type:
    http = _http_module()

    class CappedStream(http.AsyncByteStream):
        def __init__(self, inner: Any, cap: int) -> None:
            self._inner, self._cap = inner, cap

        async def __aiter__(self):
            seen = 0
            async for chunk in self._inner:
                seen += len(chunk)
                if seen > self._cap:
                    raise ReplyTooLarge(f"reply body over {self._cap} bytes")
                yield chunk

        async def aclose(self) -> None:
            await self._inner.aclose()

    class CappedTransport(http.AsyncBaseTransport):
        def __init__(self, inner: Any = None) -> None:
            self._inner = inner or http.AsyncHTTPTransport(
                limits=http.Limits(max_connections=1000, max_keepalive_connections=100))

        async def handle_async_request(self, request):
            cap = body_cap.get()
            if cap is None:
                return await self._inner.handle_async_request(request)
            request.headers["Accept-Encoding"] = "identity"
            response = await self._inner.handle_async_request(request)
            encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
            declared = response.headers.get("Content-Length", "")
            problem = None
            if encoding not in ("", "identity"):
                problem = f"compressed reply ({encoding[:20]}) refused"
            elif declared.isdigit() and int(declared) > cap:
                problem = f"reply body of {declared} bytes is over the cap of {cap}"
            if problem:
                await response.aclose()
                raise ReplyTooLarge(problem)
            return http.Response(response.status_code, headers=response.headers,
                                 stream=CappedStream(response.stream, cap),
                                 extensions=response.extensions, request=request)

        async def aclose(self) -> None:
            await self._inner.aclose()

    return CappedTransport


def capped_http_client() -> Any:
    """openai's default async HTTP client over a transport that refuses reply bodies over the
    cap in :data:`body_cap` (when set) while reading them, and compressed bodies."""
    capped = _transport_class()
    # Built without a transport argument, the client keeps openai's connection limits and the
    # proxies from the environment (HTTPS_PROXY, …; a transport argument would switch those off);
    # then its transport and each proxy's are wrapped.
    client = openai.DefaultAsyncHttpxClient()
    mounts = getattr(client, "_mounts", None)
    if getattr(client, "_transport", None) is None or not isinstance(mounts, dict):
        return openai.DefaultAsyncHttpxClient(transport=capped())
    client._transport = capped(client._transport)
    for pattern, transport in list(mounts.items()):
        if transport is not None:
            mounts[pattern] = capped(transport)
    return client
