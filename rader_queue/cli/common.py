"""Helpers shared by the CLI modules: one console, and turning rader-queue errors into a clear
message and exit code instead of a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Optional, TypeVar

import typer
from rich.console import Console

from rader_queue.errors import (BrokerError, ConfigError, InputError, ModelServerExited,
                                RaderError, SchemaError, StoreError)
from rader_queue.terminal_text import escaped

console = Console(stderr=False)
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable)
# A command's own ``--database-url`` (the same option before the command name sets it for all).
DatabaseUrl = Annotated[Optional[str], typer.Option("--database-url", help="SQL store (default: RADER_DATABASE_URL, else the SQLite file rader_queue.db).")]

# First match wins: a subclass before its base (SchemaError is a StoreError).
EXIT_CODES = {InputError: 2, ConfigError: 3, SchemaError: 6, StoreError: 4, BrokerError: 5,
              ModelServerExited: 7}


def friendly_errors(fn: F) -> F:
    """Print ``error: <message>`` for rader-queue errors and exit non-zero."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            try:
                return fn(*args, **kwargs)
            except Exception as raw:       # set-up errors of the store/broker: one line + fix
                from rader_queue.cli.store_errors import explain

                cause = raw.__cause__ if isinstance(raw, StoreError) else raw
                clear = explain(cause) if cause is not None else None
                if clear is None:
                    raise
                raise clear from raw
        except RaderError as exc:
            code = next((c for t, c in EXIT_CODES.items() if isinstance(exc, t)), 1)
            # soft_wrap: one line however long (logs and grep see the whole message)
            err_console.print(f"[bold red]error:[/] {escaped(exc)}", highlight=False,
                              markup=True, emoji=False, soft_wrap=True)
            raise typer.Exit(code) from None

    return wrapper  # type: ignore[return-value]


def use_database(url: str | None, *, check: bool = False) -> None:
    """``--database-url``: this process's SQL store (settings rebuilt). With ``check``, a store
    that is unreachable or not migrated fails here with one line that says what to do."""
    if url:
        from pydantic import SecretStr

        from rader_queue.settings import get_settings, install_settings

        install_settings(get_settings().model_copy(update={"database_url": SecretStr(url)}))
    if check:
        from rader_queue.store.db import require_schema

        require_schema()
