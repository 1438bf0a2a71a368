"""A tiny OpenAI-compatible HTTP server of the tests' own, on a loopback port in a thread.

``mode`` picks its behaviour: ok | one_choice | 500 | 400 | hang | garbage | no_choices |
unconstrained. A request with a structured-outputs field gets a verdict-shaped reply, except
in ``unconstrained`` mode (a server that ignores the field); ``/v1/embeddings`` answers each
input with ``[len(text), 1.0]``. Every request body is recorded in
``requests``."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeServer:
    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.requests: list[dict] = []
        self.release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                owner.requests.append(body)
                mode = owner.mode
                if mode == "hang":
                    owner.release.wait(30)
                    return self._send(200, {"choices": []})
                if mode in ("500", "400"):
                    return self._send(int(mode), {"error": {"message": f"fake {mode}"}})
                if mode == "garbage":
                    data = b"this is not json"
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    return self.wfile.write(data)
                if self.path.endswith("/embeddings"):     # a vector from each text's length
                    data = [{"object": "embedding", "index": i,
                             "embedding": [float(len(text)), 1.0]}
                            for i, text in enumerate(body["input"])]
                    return self._send(200, {"object": "list", "data": data,
                                            "model": body.get("model"),
                                            "usage": {"prompt_tokens": 1, "total_tokens": 1}})
                if mode == "no_choices":
                    return self._send(200, {"id": "x", "object": "chat.completion", "created": 0,
                                            "model": "fake", "choices": []})
                n = 1 if mode == "one_choice" else body.get("n", 1)
                seed = body.get("seed")
                constrained = mode != "unconstrained" and bool(
                    {"structured_outputs", "guided_regex", "grammar"} & body.keys())
                head = "Relevant: True\nReason: " if constrained else ""
                choices = [{"index": i, "finish_reason": "stop",
                            "message": {"role": "assistant",
                                        "content": f"{head}seed={seed} choice={i}"}}
                           for i in range(n)]
                return self._send(200, {"id": "x", "object": "chat.completion", "created": 0,
                                        "model": "fake", "choices": choices,
                                        "usage": {"prompt_tokens": 7, "completion_tokens": 3 * n,
                                                  "total_tokens": 7 + 3 * n}})

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
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
