"""A model server run as a child process on a loopback port (the embedded llama.cpp server and
vLLM's CPU build): its URL, its log, and a stop that cannot leave it behind.

The commands stop their server on every normal exit, Ctrl-C and SIGTERM included. A SIGKILL
(or the OOM killer) gives them no chance, and the server would be orphaned with its port,
memory and CPU threads: :func:`bound_to_this_process` sets Linux's parent-death signal
(util-linux's ``setpriv --pdeathsig TERM``, which then executes the server under the same PID),
so the server gets SIGTERM the moment its parent dies."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path


def bound_to_this_process(cmd: list[str]) -> list[str]:
    """``cmd`` wrapped so that the server gets SIGTERM when this process dies.

    The kernel sends the signal when the *thread* that started the child ends, so only a server
    started from the main thread is bound (a pool thread may end long before the server should);
    elsewhere, off Linux or without ``setpriv``, the command is returned unchanged."""
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return cmd
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return cmd
    return [setpriv, "--pdeathsig", "TERM", "--", *cmd]


@dataclass
class ServerProcess:
    """A running server; ``base_url`` ends in ``/v1``. With ``own_group`` the child leads its own
    process group (``start_new_session=True``) and ``stop`` signals the whole group, so helper
    processes it started (vLLM's engine core) go with it."""

    process: subprocess.Popen
    port: int
    log_path: Path
    own_group: bool = field(default=False, kw_only=True)
    _log: object = field(default=None, repr=False, kw_only=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``; the log file is closed."""
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(timeout=timeout_s)
        if self.own_group:
            self._signal(signal.SIGKILL)      # stragglers of the group, if any
        if self._log is not None:
            self._log.close()
            self._log = None

    def _signal(self, sig: int) -> None:
        if not self.own_group:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)
