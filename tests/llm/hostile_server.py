"""A loopback OpenAI-compatible server whose replies the test scripts: a ``responder`` maps each
request body to a :class:`Reply` (status, JSON payload or raw bytes, optional chunked sending).

    with HostileServer(lambda body: chat(None)) as server:     # content: null
        Generator(..., base_url=server.base_url)

Used by the reply-hygiene, cache and display tests (issue 13)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


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


class HostileServer:
    def __init__(self, responder: Callable[[dict], Reply]) -> None:
        self.responder = responder
        self.requests: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                owner.requests.append(body)
                reply = owner.responder(body)
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

    def __enter__(self) -> HostileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
