"""Answer checks in worker processes, each under a hard wall-clock bound.

:class:`AnswerChecker` keeps ``workers`` processes (fresh interpreters running
``python -m rader_queue.answers.pool``: they share nothing with the threads of a Celery worker
and never re-import the parent's ``__main__``), each serving one check at a time as JSON lines
over its stdin/stdout (nothing is unpickled), with its address space capped at
``memory_mb``. A check that has not answered after ``timeout_s`` seconds counts as *not
equivalent* (reason ``"check exceeded 5 s"``) and its process is killed; a fresh one is started
for the next check (its start-up is not counted against any check's bound). A process that dies (out of memory, a crash) is
replaced the same way. So no answer, however pathological, costs more than the bound, and a
hung check never holds a slot.

``await checker.check(pred, gold)`` waits in a small thread pool of its own, never on the
event loop's thread: the loop keeps serving every other problem while checks run.
``checker.check_sync`` is the same bounded call for synchronous code.

:func:`default_checker` gives each process one checker built from the settings
(``RADER_ANSWER_CHECK_TIMEOUT_S``, ``RADER_ANSWER_CHECK_WORKERS``,
``RADER_ANSWER_CHECK_MEMORY_MB``); it is closed at exit.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import json
import logging
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rader_queue.answers.equivalence import Verdict
from rader_queue.settings import get_settings

log = logging.getLogger("rader_queue.answers")

STARTUP_TIMEOUT_S = 120.0        # a worker's interpreter start and imports (not a check)
MAX_REPLY_BYTES = 1 << 16        # a reply is one short JSON line



def serve(target: str, memory_mb: int) -> None:
    """Body of a worker process (``python -m rader_queue.answers.pool``): read one JSON
    ``[pred, gold]`` per line on stdin, write one JSON ``[equal, reason]`` per line on stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)          # Ctrl-C is the parent's to handle
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)                     # third-party chatter stays here
    if memory_mb > 0:
        try:
            import resource

            limit = memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ImportError, ValueError, OSError):
            pass
    parent = os.getppid()

    def orphan_watch() -> None:                           # the parent died mid-check: stop too
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=orphan_watch, daemon=True).start()
    # The protocol gets a private copy of fd 1; fd 1 and 2 themselves now go to /dev/null, so
    # neither Python prints nor C-level writes of any library can put a line into the replies.
    out = os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    sys.stdout = sys.stderr = open(os.devnull, "w")
    module, _, name = target.partition(":")
    function = getattr(importlib.import_module(module), name)
    function("1", "1")                                    # warm up (imports, caches) before "ready"
    out.write('"ready"\n')
    out.flush()
    for line in sys.stdin:
        ident = None
        try:
            ident, pred, gold = json.loads(line)
            verdict = function(pred, gold)
            result = [bool(verdict[0]), str(verdict[1])]
        except MemoryError:
            result = [False, "check ran out of memory"]
        except RecursionError:
            result = [False, "answer nested too deeply"]
        except Exception as exc:  # noqa: BLE001 - any failure of a check means "not shown equal"
            result = [False, f"check failed ({type(exc).__name__})"]
        out.write(json.dumps([ident, *result]) + "\n")     # the request's id: replies never mix
        out.flush()


class _Worker:
    """One checking process, spoken to in JSON lines over its stdin/stdout (nothing is
    unpickled, and no re-import of the parent's ``__main__`` as ``multiprocessing``'s spawn
    would do)."""

    def __init__(self, memory_mb: int, target: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.process = subprocess.Popen(
            [sys.executable, "-W", "ignore", "-m", "rader_queue.answers.pool", target, str(memory_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
            close_fds=True)
        self._buffer = b""
        self.ready = False
        self.sent = 0

    def alive(self) -> bool:
        return self.process.poll() is None

    def ask(self, pred: str | None, gold: str | None, timeout_s: float) -> tuple[bool, str] | None:
        """The worker's answer, or None when it has not answered within ``timeout_s``."""
        assert self.process.stdin is not None
        self.sent += 1
        request = [self.sent, pred, gold]
        self.process.stdin.write((json.dumps(request) + "\n").encode("utf-8", "surrogatepass"))
        self.process.stdin.flush()
        line = self.read_line(timeout_s)
        if line is None:
            return None
        try:
            reply = json.loads(line)
        except ValueError:
            reply = None
        if (not isinstance(reply, list) or len(reply) != 3 or reply[0] != self.sent
                or not isinstance(reply[1], bool) or not isinstance(reply[2], str)):
            raise ValueError("answer checker replied out of protocol")
        return reply[1], reply[2][:500]

    def wait_ready(self, timeout_s: float) -> None:
        """Wait for the worker's start-up (interpreter, imports) to finish: start-up time never
        counts against a check's bound."""
        if self.read_line(timeout_s) != b'"ready"':
            raise EOFError("answer checker did not start")
        self.ready = True

    def read_line(self, timeout_s: float) -> bytes | None:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise EOFError("answer checker exited")
            self._buffer += chunk
            if len(self._buffer) > MAX_REPLY_BYTES:
                raise ValueError("answer checker reply too long")
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def stop(self) -> None:
        if self.alive():
            self.process.kill()
        try:
            self.process.wait(2)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()                            # type: ignore[union-attr]
            except OSError:
                pass


class AnswerChecker:
    """A bounded pool of answer-checking processes (see the module docstring).

    ``target`` names the check function as ``"module:function"``; it must return a
    ``(equal, reason)`` pair. The default is :func:`rader_queue.answers.equivalence.check`."""

    def __init__(self, *, timeout_s: float = 5.0, workers: int = 2, memory_mb: int = 2048,
                 target: str = "rader_queue.answers.equivalence:check") -> None:
        if timeout_s <= 0 or workers < 1:
            raise ValueError("answer checker: timeout_s must be > 0 and workers >= 1")
        self.timeout_s, self.workers, self.memory_mb, self.target = timeout_s, workers, memory_mb, target
        self._idle: queue.Queue[_Worker | None] = queue.Queue()
        for _ in range(workers):
            self._idle.put(None)                          # started on first use
        self._threads = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rader-answers")
        self._lock = threading.Lock()
        self._closed = False
        self.pid = os.getpid()
        self.checks = self.timeouts = self.crashes = 0

    def check_sync(self, pred: str | None, gold: str | None) -> Verdict:
        """The verdict on ``pred`` against ``gold``, within ``timeout_s`` of the check starting."""
        while True:
            if self._closed:
                raise RuntimeError("answer checker is closed")
            try:
                worker = self._idle.get(timeout=1.0)     # never blocks forever on a closed pool
                break
            except queue.Empty:
                continue
        try:
            if worker is None or not worker.alive():
                if worker is not None:
                    worker.stop()
                worker = _Worker(self.memory_mb, self.target)
            if not worker.ready:
                worker.wait_ready(STARTUP_TIMEOUT_S)
            answer = worker.ask(pred, gold, self.timeout_s)
            if answer is not None:
                self._count("checks")
                return Verdict(*answer)
            worker.stop()
            worker = _Worker(self.memory_mb, self.target)    # starts now, while the slot waits
            self._count("checks", "timeouts")
            return Verdict(False, f"check exceeded {self.timeout_s:g} s")
        except Exception as exc:  # noqa: BLE001 - a broken, garbled or vanished process: replace it
            if worker is not None:
                worker.stop()
            worker = None
            self._count("checks", "crashes")
            return Verdict(False, f"check process died ({type(exc).__name__})")
        finally:
            if self._closed and worker is not None and os.getpid() == self.pid:
                worker.stop()                             # closed while this check ran
                worker = None
            self._idle.put(worker)

    async def check(self, pred: str | None, gold: str | None) -> Verdict:
        """:meth:`check_sync`, awaited from an event loop without blocking it."""
        return await asyncio.wrap_future(self._threads.submit(self.check_sync, pred, gold))

    def _count(self, *names: str) -> None:
        with self._lock:
            for name in names:
                setattr(self, name, getattr(self, name) + 1)

    def close(self) -> None:
        """Stop every worker process (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._threads.shutdown(wait=False, cancel_futures=True)
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                break
            if worker is not None and os.getpid() == self.pid:
                worker.stop()

    def __enter__(self) -> AnswerChecker:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


_default: AnswerChecker | None = None
_default_lock = threading.Lock()


def default_checker() -> AnswerChecker:
    """This process's checker, built from the settings on first use (again after a fork)."""
    global _default
    with _default_lock:
        if _default is None or _default.pid != os.getpid() or _default._closed:
            s = get_settings()
            _default = AnswerChecker(timeout_s=s.answer_check_timeout_s, workers=s.answer_check_workers,
                                     memory_mb=s.answer_check_memory_mb)
        return _default


def _close_default() -> None:
    if _default is not None and _default.pid == os.getpid():
        _default.close()


atexit.register(_close_default)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
