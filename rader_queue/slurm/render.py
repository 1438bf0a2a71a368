"""Render the job scripts (``templates/*.sbatch.j2``) and write the settings file they read.

Secrets never enter a script: the scripts ``source`` a 0600 file of ``RADER_*`` settings (and
the tokens vLLM and the hub read), written here from the submitting shell's environment, and
``sbatch`` gets an environment without them, so neither the script Slurm stores, its command
line, ``squeue`` nor ``scontrol show job`` shows one."""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from rader_queue.errors import ConfigError

# Variables carried by the settings file besides RADER_*: tokens of the model hub and vLLM.
EXTRA_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "VLLM_API_KEY", "FLOWER_BASIC_AUTH")
_SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|TOKEN|SECRET|API_KEY|_KEY$|AUTH)", re.I)
_URL_CREDENTIALS = re.compile(r"://[^/@\s]*:[^/@\s]+@")


def _env() -> Environment:
    env = Environment(loader=PackageLoader("rader_queue.slurm", "templates"),
                      undefined=StrictUndefined, keep_trailing_newline=True,
                      trim_blocks=False, lstrip_blocks=False, autoescape=False,
                      comment_start_string="{##", comment_end_string="##}")  # bash has ${#x}
    env.filters["q"] = lambda value: shlex.quote(str(value))
    return env


def render(template: str, **context: object) -> str:
    context.setdefault("python", sys.executable)
    context.setdefault("generated", dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    return _env().get_template(template).render(**context)


def is_secret(name: str, value: str) -> bool:
    """A variable whose value must stay out of scripts, argv and Slurm's job records."""
    return bool(_SECRET_NAME.search(name) or _URL_CREDENTIALS.search(value or "")
                or name in ("RADER_DATABASE_URL", "RADER_BROKER_URL"))


def settings_vars(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables the settings file carries: every ``RADER_*`` and :data:`EXTRA_VARS`."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in sorted(environ.items())
            if k.startswith("RADER_") or k in EXTRA_VARS}


def write_env_file(path: Path, values: Mapping[str, str]) -> Path:
    """Write ``values`` as ``export``-able shell assignments, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for name in values:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise ConfigError(f"environment variable name {name!r} cannot go into {path}")
    text = "# rader-queue settings for Slurm jobs (owner-only: it holds secrets)\n" + "".join(
        f"{name}={shlex.quote(value)}\n" for name, value in values.items())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    return path


def submit_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment ``sbatch`` runs with (and exports to the job): the caller's, less what
    the settings file carries and anything else that looks secret."""
    environ = os.environ if environ is None else environ
    carried = settings_vars(environ)
    return {k: v for k, v in environ.items() if k not in carried and not is_secret(k, v)}
