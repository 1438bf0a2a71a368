"""How a command that waits for a run ends: its :class:`Outcome` and the exit codes.

0 every job done; 1 a job failed or the run timed out; 130 interrupted (the other codes, 2–7,
belong to the errors of :mod:`rader_queue.errors` and are set where they are caught).
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK, EXIT_JOBS_FAILED, EXIT_INTERRUPTED = 0, 1, 130


@dataclass
class Outcome:
    """What a command's wait ended with."""

    run: str
    total: int
    done: int
    failed: int
    timed_out: bool = False
    wall_s: float = 0.0

    @property
    def exit_code(self) -> int:
        return EXIT_JOBS_FAILED if self.failed or self.timed_out else EXIT_OK
