"""A TCP forwarder on a loopback port that a test can cut and restore, to put a real server
(PostgreSQL) out of reach without touching the server itself.

``cut()`` closes every forwarded connection (both sides, with a reset) and from then on resets
each new connection as soon as it is accepted, so clients fail at once, as they do against a
server that is down; ``restore()`` forwards again. The listening socket stays open throughout,
so the port cannot be taken by anything else while the "server" is away.

Threads: one accepting, two per forwarded connection (one each way)."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading


def _reset(sock: socket.socket) -> None:
    """Close at once (SO_LINGER 0: no lingering data); the peer's next read or write fails."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)    # wakes the pump thread blocked in recv()
    with contextlib.suppress(OSError):
        sock.close()


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, listen_port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.server = socket.create_server(("127.0.0.1", listen_port), backlog=128)
        self.port = self.server.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._cut = False
        self._closed = False
        self.accepted = 0      # connections forwarded
        self.refused = 0       # connections reset while cut
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"proxy:{self.port}",
                                          daemon=True)
        self._acceptor.start()

    # -- control -------------------------------------------------------------------------
    def cut(self) -> int:
        """Drop every forwarded connection and refuse new ones. Returns connections dropped."""
        with self._lock:
            self._cut = True
            pairs, self._pairs = self._pairs, set()
        for client, upstream in pairs:
            _reset(client)
            _reset(upstream)
        return len(pairs)

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self._closed = True
        self.cut()
        try:
            self.server.close()
        except OSError:
            pass

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- forwarding ----------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            with self._lock:
                cut = self._cut
            if cut:
                self.refused += 1
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            pair = (client, upstream)
            with self._lock:
                if self._cut:          # cut while connecting
                    _reset(client)
                    _reset(upstream)
                    continue
                self._pairs.add(pair)
                self.accepted += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst, pair), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, pair) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        with self._lock:
            present = pair in self._pairs
            self._pairs.discard(pair)
        if present:                    # normal close from one side: close both
            for sock in pair:
                _close(sock)
