"""``rader-queue db``: the SQL store's schema migrations (Alembic), run from the migrations
shipped in the package, so they work wherever rader-queue is installed."""

from __future__ import annotations

from typing import Annotated

import typer

from rader_queue.cli.common import DatabaseUrl, console, friendly_errors, use_database

db_app = typer.Typer(no_args_is_help=True, help="Schema migrations of the SQL store (Alembic).")


@db_app.command("upgrade")
@friendly_errors
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head",
               database_url: DatabaseUrl = None) -> None:
    """Apply migrations (creates the schema on a new database)."""
    _migrate("upgrade", revision, database_url)


@db_app.command("downgrade", context_settings={"ignore_unknown_options": True})
@friendly_errors
def db_downgrade(revision: Annotated[str, typer.Argument()] = "-1",
                 database_url: DatabaseUrl = None) -> None:
    """Revert migrations: -1 one step, a revision id, or base (drops every table)."""
    _migrate("downgrade", revision, database_url)


@db_app.command("current")
@friendly_errors
def db_current(database_url: DatabaseUrl = None) -> None:
    """Show the database's revision and this code's head revision."""
    use_database(database_url)
    _print_revision()


def _migrate(direction: str, revision: str, database_url: str | None) -> None:
    from rader_queue.store import db

    use_database(database_url)
    getattr(db, direction)(revision=revision)
    _print_revision()


def _print_revision() -> None:
    """One line: the database (password redacted), its revision, and this code's head."""
    from rader_queue.secrets import redact_db_url
    from rader_queue.settings import get_settings
    from rader_queue.store.revision import code_heads, db_revisions, known_revisions

    have, head = db_revisions(), code_heads()
    at, wanted = ", ".join(sorted(have)), ", ".join(sorted(head))
    if not have:
        state = "has no schema yet: run `rader-queue db upgrade`"
    elif have == head:
        state = f"is at {at} (head)"
    elif have - known_revisions():
        state = f"is at {at}, which this code does not know (its head is {wanted}): newer code migrated it"
    else:
        state = f"is at {at}; this code's head is {wanted}: run `rader-queue db upgrade`"
    console.print(f"database {redact_db_url(get_settings().db_url)} {state}", highlight=False,
                  soft_wrap=True)
