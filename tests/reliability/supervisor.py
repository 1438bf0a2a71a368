"""A minimal process supervisor for tests: restarts a worker that exits with a non-zero status,
as systemd ``Restart=on-failure`` (or a compose/Kubernetes restart policy) does in production.

A worker that exits 0 on its own is *not* restarted: that is how such a supervisor treats it,
and the test then sees the worker gone."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

from tests.process_helpers import kill, start_process


class Supervisor:
    def __init__(self, cmd: list[str], env: dict[str, str], log: Path, delay_s: float = 1.0):
        self.cmd, self.env, self.log, self.delay_s = cmd, env, log, delay_s
        self.exits: list[int] = []           # exit status of every worker that ended by itself
        self.restarts = 0
        self.proc: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="test-supervisor", daemon=True)

    def __enter__(self) -> Supervisor:
        self.proc = start_process(self.cmd, self.env, self.log)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)
        if self.proc is not None:
            kill(self.proc, signal.SIGTERM)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            code = self.proc.poll()
            if code is None:
                continue
            self.exits.append(code)
            with open(self.log, "a") as f:
                f.write(f"\n=== supervisor: worker exited with status {code}"
                        f"{'; restarting' if code else '; not restarted'} ===\n")
            if code == 0:
                return
            time.sleep(self.delay_s)
            if self._stop.is_set():
                return
            self.proc = start_process(self.cmd, self.env, self.log)
            self.restarts += 1
