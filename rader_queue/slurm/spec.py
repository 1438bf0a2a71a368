"""What a rader-queue job asks of Slurm, and where its files go."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from rader_queue.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_TIME = re.compile(r"^(\d+|\d+:\d{2}(:\d{2})?|\d+-\d{1,2}(:\d{2}){0,2})$")
_WORD = re.compile(r"^[A-Za-z0-9._,:=+-]+$")


def job_prefix(run: str) -> str:
    """Every Slurm job of a run is named ``rader-<run>-<role>``."""
    check_name(run, "run name")
    return f"rader-{run}-"


def check_name(value: str, what: str) -> str:
    if not _NAME.match(value or ""):
        raise ConfigError(f"{what} {value!r} cannot name a Slurm job: use letters, digits, '.', "
                          "'_' and '-' (64 at most)")
    return value


def _check_word(value: str | None, what: str) -> str | None:
    if value is not None and not _WORD.match(value):
        raise ConfigError(f"--{what} {value!r}: letters, digits and . _ , : = + - only")
    return value


@dataclass
class Resources:
    """One job's request. ``cpu_only`` drops every GPU request (tests, CPU clusters)."""

    time: str = "1-00:00:00"
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    nodes: int = 1
    gpus: int = 1                     # per node
    cpus: int = 8                     # per task (one task per node)
    mem: str | None = None
    cpu_only: bool = False
    signal_lead_s: int = 120          # USR1 this long before the time limit
    requeue: bool = True
    extra: list[str] = field(default_factory=list)   # further #SBATCH lines, verbatim

    def __post_init__(self) -> None:
        if not _TIME.match(self.time):
            raise ConfigError(f"--time {self.time!r}: use minutes, MM:SS, HH:MM:SS or D-HH[:MM[:SS]]")
        for what in ("partition", "account", "qos", "mem"):
            _check_word(getattr(self, what), what)
        if self.nodes < 1 or self.gpus < 0 or self.cpus < 1:
            raise ConfigError("--nodes and --cpus must be at least 1, --gpus at least 0")
        if self.signal_lead_s < 0:
            raise ConfigError("--signal-lead must be >= 0 seconds")

    def sbatch_lines(self, job_name: str, log_dir: Path) -> list[str]:
        lines = [f"--job-name={job_name}", f"--output={log_dir}/%x-%j.out",
                 "--open-mode=append", f"--nodes={self.nodes}", "--ntasks-per-node=1",
                 f"--cpus-per-task={self.cpus}", f"--time={self.time}"]
        if self.gpus and not self.cpu_only:
            lines.append(f"--gres=gpu:{self.gpus}")
        for what in ("partition", "account", "qos", "mem"):
            value = getattr(self, what)
            if value:
                lines.append(f"--{what}={value}")
        if self.signal_lead_s:
            # B: the batch shell only; it forwards SIGTERM to its workers and decides on requeue.
            lines.append(f"--signal=B:USR1@{self.signal_lead_s}")
        lines.append("--requeue" if self.requeue else "--no-requeue")
        lines.extend(self.extra)
        return lines
