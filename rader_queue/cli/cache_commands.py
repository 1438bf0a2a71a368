"""``rader-queue llm cache stats|clear``: inspect and empty the generator's response cache."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Optional

import typer
from rich.table import Table

from rader_queue.cli.common import console, friendly_errors
from rader_queue.terminal_text import cell, safe_text
from rader_queue.errors import InputError

cache_app = typer.Typer(no_args_is_help=True, help="The generator's response cache (llm_cache): "
                        "entries per endpoint and model, and clearing them.")


def _when(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"--before {value!r}: expected an ISO date or time, e.g. 2026-11-29 or "
                         "2026-11-29T17:00:00+00:00 (UTC when no offset is given)") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


@cache_app.command("stats")
@friendly_errors
def stats(
    database_url: Annotated[Optional[str], typer.Option(help="SQL store (default: RADER_DATABASE_URL).")] = None,
) -> None:
    """Entries per endpoint and model, with the oldest and newest entry."""
    from rader_queue.llm.cache import cache_stats
    from rader_queue.store.db import require_schema

    require_schema(database_url)
    groups = cache_stats(database_url)
    table = Table("endpoint", "model", "entries", "oldest", "newest")
    stamp = lambda t: t.strftime("%Y-%m-%d %H:%M") if t else ""   # noqa: E731
    for g in groups:
        table.add_row(cell(g.endpoint or "(before 0003: no endpoint)"), cell(g.model),
                      str(g.entries), stamp(g.oldest), stamp(g.newest))
    console.print(table)
    console.print(safe_text(f"{sum(g.entries for g in groups)} entries"))


@cache_app.command("clear")
@friendly_errors
def clear(
    model: Annotated[Optional[str], typer.Option(help="Only entries of this model name.")] = None,
    endpoint: Annotated[Optional[str], typer.Option(help="Only entries of this base URL (e.g. http://127.0.0.1:8000/v1).")] = None,
    before: Annotated[Optional[str], typer.Option(help="Only entries created before this ISO date/time (UTC unless an offset is given).")] = None,
    database_url: Annotated[Optional[str], typer.Option(help="SQL store (default: RADER_DATABASE_URL).")] = None,
) -> None:
    """Delete cache entries matching every given filter (all entries when none is given)."""
    from rader_queue.llm.cache import cache_clear
    from rader_queue.store.db import require_schema

    cutoff = _when(before)
    require_schema(database_url)
    removed = cache_clear(database_url, model=model, endpoint=endpoint, before=cutoff)
    console.print(safe_text(f"removed {removed} cache entr{'y' if removed == 1 else 'ies'}"))
