"""``sbatch``, ``squeue`` and ``scancel`` through subprocess (``SLURM_CONF`` and the PATH of
the caller pick the cluster)."""

from __future__ import annotations

import getpass
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rader_queue.errors import ConfigError, SlurmError


def _run(argv: list[str], env: Mapping[str, str] | None = None, timeout: float = 60) -> str:
    if shutil.which(argv[0]) is None:
        raise ConfigError(f"{argv[0]} not found: run this on a Slurm login node (PATH)")
    try:
        proc = subprocess.run(argv, env=dict(env) if env is not None else None,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise SlurmError(f"{argv[0]} did not answer within {timeout:.0f}s") from exc
    if proc.returncode != 0:
        raise SlurmError(f"{argv[0]} failed ({proc.returncode}): {proc.stderr.strip()[:500]}")
    return proc.stdout


def sbatch(script: Path, env: Mapping[str, str], workdir: Path | None = None) -> int:
    """Submit ``script``; returns the job id. ``env`` is the submitting environment (exported
    to the job: keep secrets out of it, see :func:`rader_queue.slurm.render.submit_environ`)."""
    argv = ["sbatch", "--parsable"]
    if workdir is not None:
        argv.append(f"--chdir={workdir}")
    out = _run(argv + [str(script)], env=env)
    match = re.match(r"^(\d+)", out.strip())
    if not match:
        raise SlurmError(f"sbatch gave no job id: {out.strip()[:200]!r}")
    return int(match.group(1))


@dataclass
class QueuedJob:
    job_id: int
    name: str
    state: str
    elapsed: str
    time_limit: str
    nodes: str            # node list, or the reason while pending
    restarts: int = 0


_FORMAT = "%i|%j|%T|%M|%l|%R"


def squeue(prefix: str | None = None, env: Mapping[str, str] | None = None) -> list[QueuedJob]:
    """This user's jobs (all states squeue shows), those named ``prefix…`` when given."""
    out = _run(["squeue", "--noheader", f"--format={_FORMAT}", f"--user={getpass.getuser()}"],
               env=env)
    jobs = []
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) != 6 or not parts[0].split("_")[0].isdigit():
            continue
        if prefix and not parts[1].startswith(prefix):
            continue
        jobs.append(QueuedJob(int(parts[0].split("_")[0]), parts[1], parts[2], parts[3],
                              parts[4], parts[5]))
    return jobs


def scancel(job_ids: list[int], signal: str | None = None, batch: bool = False,
            env: Mapping[str, str] | None = None) -> None:
    """Cancel jobs, or with ``signal`` only signal them (``batch``: the job script alone)."""
    if not job_ids:
        return
    argv = (["scancel"] + ([f"--signal={signal}"] if signal else []) + (["--batch"] if batch else [])
            + [str(j) for j in job_ids])
    _run(argv, env=env)
