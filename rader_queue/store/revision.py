"""Does the database have the schema this code was written for? (issue 15)

A worker or ``enqueue`` against a database one migration behind (a column missing), one ahead
(newer code migrated it) or hand-altered (a dropped column) would otherwise fail every job with
a SQL error, or write rows another version cannot read. :func:`check_schema` compares the
database's Alembic revision with the code's head and every mapped table's columns with the
database's, and raises :class:`SchemaError` (exit status 6) naming the difference."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import OperationalError

from rader_queue.errors import SchemaError, StoreError
from rader_queue.secrets import redact_url
from rader_queue.store.db import alembic_config, engine_for, require_schema
from rader_queue.store.models import Base


def code_heads(url: str | None = None) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(url)).get_heads())


def known_revisions(url: str | None = None) -> set[str]:
    return {s.revision for s in ScriptDirectory.from_config(alembic_config(url)).walk_revisions()}


def db_revisions(url: str | None = None) -> set[str]:
    """The database's Alembic revisions (empty before the first migration)."""
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())
    except OperationalError as exc:
        raise StoreError(f"cannot reach the SQL store at {redact_url(str(engine.url))}: "
                         f"{exc.orig}") from exc


def _columns(engine) -> dict[str, set[str]]:
    """Every table's column names (one query on PostgreSQL)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT table_name, column_name FROM information_schema.columns "
                                     "WHERE table_schema = current_schema()")).all()
        out: dict[str, set[str]] = {}
        for table, column in rows:
            out.setdefault(table, set()).add(column)
        return out
    inspector = inspect(engine)
    return {t: {c["name"] for c in inspector.get_columns(t)} for t in inspector.get_table_names()}


def check_schema(url: str | None = None) -> None:
    """Raise :class:`SchemaError` unless the database is at the code's head revision with every
    column the code maps; :class:`StoreError` when it cannot be reached."""
    require_schema(url)
    engine = engine_for(url)
    where = engine.url.render_as_string(hide_password=True)
    try:
        have = db_revisions(url)
        columns = _columns(engine)
        missing = []
        for table in Base.metadata.sorted_tables:
            if table.name not in columns:
                missing.append(f"table {table.name}")
                continue
            missing += [f"{table.name}.{c.name}" for c in table.columns
                        if c.name not in columns[table.name]]
    except OperationalError as exc:
        raise StoreError(f"cannot reach the SQL store at {where}: {exc.orig}") from exc
    want = code_heads(url)
    if have != want:
        unknown = have - known_revisions(url)
        if unknown:
            raise SchemaError(
                f"database {where} is at revision {', '.join(sorted(unknown))}, which this code "
                f"does not know (head {', '.join(sorted(want))}): newer code migrated it; run "
                "that version, or downgrade the database with the newer code")
        raise SchemaError(
            f"database {where} is at revision {', '.join(sorted(have)) or 'none'}, this code "
            f"needs {', '.join(sorted(want))}: run `rader-queue db upgrade` (or `db downgrade "
            f"{', '.join(sorted(want))}` if the database is ahead)")
    if missing:
        raise SchemaError(f"database {where} is at revision {', '.join(sorted(have))} but lacks "
                          f"{', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}: the schema "
                          "was altered by hand; restore it (e.g. `rader-queue db downgrade -1` "
                          "then `db upgrade`)")
