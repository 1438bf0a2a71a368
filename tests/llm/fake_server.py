"""A loopback OpenAI-compatible HTTP server of the tests' own, in a thread. Every request body is
recorded in ``requests``; what it answers is either

* scripted by the test: a ``responder`` maps each request body to a :class:`Reply` (status,
  JSON payload or raw bytes, optional chunked sending), or
* one of the canned behaviours named by a mode: ok | one_choice | 500 | 400 | hang | garbage |
  no_choices | unconstrained. A request with a structured-outputs field gets a verdict-shaped
  reply, except in ``unconstrained`` mode (a server that ignores the field).

    with FakeServer("500") as server:                      # every request: HTTP 500
    with FakeServer(lambda body: chat(None)) as server:    # content: null

``/v1/embeddings`` (unless a responder is given) answers each input with ``[len(text), 1.0]``.
``server.mode`` may be changed while it runs."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODES = ("ok", "one_choice", "500", "400", "hang", "garbage", "no_choices", "unconstrained")
STRUCTURED_FIELDS = {"structured_outputs", "guided_regex", "grammar"}


@dataclass
class Reply:
    status: int = 200
    payload: Any = None          # JSON-encoded unless ``raw`` is given
    raw: bytes | None = None     # sent as is (e.g. JSON with a lone surrogate escape)
    chunked: bool = False        # Transfer-Encoding: chunked, no Content-Length


def chat(*contents: Any, usage: Any = None, finish: Any = "stop") -> Reply:
    """A chat completion with one choice per content (None → ``"content": null``)."""
    choices = [{"index": i, "finish_reason": finish,
                "message": {"role": "assistant", "content": c}} for i, c in enumerate(contents)]
    payload = {"id": "x", "object": "chat.completion", "created": 0, "model": "default",
               "choices": choices}
    payload["usage"] = usage if usage is not None else {
        "prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    return Reply(200, payload)


def error(status: int, message: str) -> Reply:
    return Reply(status, {"error": {"message": message, "type": "invalid_request_error"}})


def embeddings_reply(body: dict) -> Reply:
    """A vector per input text, from its length."""
    data = [{"object": "embedding", "index": i, "embedding": [float(len(text)), 1.0]}
            for i, text in enumerate(body["input"])]
    return Reply(payload={"object": "list", "data": data, "model": body.get("model"),
                          "usage": {"prompt_tokens": 1, "total_tokens": 1}})


def mode_reply(mode: str, body: dict, release: threading.Event) -> Reply:
    """The canned reply of ``mode`` to one request; ``hang`` waits for ``release`` (≤ 30 s)."""
    if mode == "hang":
        release.wait(30)
        return chat()
    if mode in ("500", "400"):
        return error(int(mode), f"fake {mode}")
    if mode == "garbage":
        return Reply(200, raw=b"this is not json")
    if mode == "no_choices":
        return chat()
    if mode not in ("ok", "one_choice", "unconstrained"):
        raise ValueError(f"unknown fake server mode {mode!r}; known: {', '.join(MODES)}")
    n = 1 if mode == "one_choice" else body.get("n", 1)
    constrained = mode != "unconstrained" and bool(STRUCTURED_FIELDS & body.keys())
    head = "Relevant: True\nReason: " if constrained else ""
    return chat(*(f"{head}seed={body.get('seed')} choice={i}" for i in range(n)),
                usage={"prompt_tokens": 7, "completion_tokens": 3 * n, "total_tokens": 7 + 3 * n})


class FakeServer:
    def __init__(self, mode: str | Callable[[dict], Reply] = "ok") -> None:
        if not callable(mode) and mode not in MODES:
            raise ValueError(f"unknown fake server mode {mode!r}; known: {', '.join(MODES)}")
        self.mode = mode
        self.requests: list[dict] = []
        self.release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                owner.requests.append(body)
                mode = owner.mode
                if callable(mode):
                    reply = mode(body)
                elif self.path.endswith("/embeddings"):
                    reply = embeddings_reply(body)
                else:
                    reply = mode_reply(mode, body, owner.release)
                data = reply.raw if reply.raw is not None else json.dumps(reply.payload).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                if reply.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    step = 64 * 1024
                    for start in range(0, len(data), step):
                        chunk = data[start:start + step]
                        self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None   # client went away: fine
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
