"""Engines, sessions, migrations and idempotent inserts for the SQL store.

One engine per database URL per process. SQLite gets WAL and foreign keys so the embedded mode
behaves like PostgreSQL where it matters (cascades, concurrent readers)."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import JSON, Engine, create_engine, event, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from rader_queue.errors import StoreError
from rader_queue.settings import get_settings

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def normalize_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` use psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def engine_for(url: str | None = None) -> Engine:
    url = normalize_url(url or get_settings().db_url)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60})
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                # A worker sets RADER_DB_POOL_SIZE from its concurrency (issue 15): every task
                # thread, the heartbeat and the reconciler get a connection without waiting.
                settings = get_settings()
                size = settings.db_pool_size
                engine = create_engine(url, pool_pre_ping=True, pool_size=size or 10,
                                       max_overflow=max(4, size // 4) if size else 20,
                                       pool_timeout=settings.db_pool_timeout_s)
            _engines[url] = engine
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def sessionmaker_for(url: str | None = None) -> sessionmaker[Session]:
    return sessionmaker(engine_for(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A transaction: commit on success, roll back on any error. Connection failures surface as
    :class:`StoreError` naming the (password-redacted) URL."""
    session = sessionmaker_for(url)()
    try:
        yield session
        session.commit()
    except OperationalError as exc:
        session.rollback()
        raise StoreError(f"SQL store unreachable or refused the write "
                         f"({session.bind.url.render_as_string(hide_password=True)}): {exc.orig}") from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def as_utc(value: dt.datetime) -> dt.datetime:
    """A stored timestamp as an aware UTC datetime (SQLite hands back naive UTC ones)."""
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def insert_ignore(session: Session, model: type, rows: Iterable[dict[str, Any]],
                  conflict_cols: Iterable[str] | None = None) -> int:
    """INSERT … ON CONFLICT DO NOTHING for PostgreSQL and SQLite; returns rows inserted."""
    rows = list(rows)
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    stmt_factory = postgresql.insert if dialect == "postgresql" else sqlite.insert
    inserted = 0
    for chunk_start in range(0, len(rows), 500):
        stmt = stmt_factory(model).values(rows[chunk_start:chunk_start + 500])
        stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict_cols) if conflict_cols else None)
        stmt = stmt.returning(*model.__table__.primary_key.columns)
        inserted += len(session.execute(stmt).all())
    return inserted


def bulk_insert_ignore(session: Session, model: type, rows: Iterable[dict[str, Any]],
                       conflict_cols: Iterable[str]) -> int:
    """:func:`insert_ignore` for many rows (enqueueing 100,000 problems): on PostgreSQL the rows
    are COPYed into a temporary table and moved with one ``INSERT … SELECT … ON CONFLICT DO
    NOTHING``, in the session's transaction. Every row gives the same columns, defaults
    included (Python-side column defaults do not apply here). Returns rows inserted."""
    rows = list(rows)
    if len(rows) < 1000 or session.get_bind().dialect.name != "postgresql":
        return insert_ignore(session, model, rows, conflict_cols)

    table, cols = model.__table__, list(rows[0])
    json_cols = {c for c in cols if isinstance(table.c[c].type, JSON)}
    names = ", ".join(f'"{c}"' for c in cols)
    tmp = f'"_bulk_{table.name}"'
    cursor = session.connection().connection.driver_connection.cursor()
    try:
        cursor.execute(f'CREATE TEMP TABLE {tmp} ON COMMIT DROP AS SELECT {names} '
                       f'FROM "{table.name}" WITH NO DATA')
        with cursor.copy(f"COPY {tmp} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([json.dumps(row[c]) if c in json_cols and row[c] is not None
                                else row[c] for c in cols])
        cursor.execute(f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM {tmp} '
                       f'ON CONFLICT ({", ".join(conflict_cols)}) DO NOTHING')
        inserted = cursor.rowcount
        cursor.execute(f"DROP TABLE {tmp}")
    except psycopg.Error as exc:
        raise StoreError(f"bulk insert into {table.name} failed: {exc}") from exc
    finally:
        cursor.close()
    return inserted


def migrations_dir() -> Path:
    """The Alembic script directory shipped in the package (``rader_queue.migrations``; in a
    checkout it links to the top-level ``migrations/``), wherever rader-queue is installed."""
    location = resources.files("rader_queue.migrations")
    if not isinstance(location, Path) or not (location / "env.py").is_file():
        raise StoreError(f"the migrations of rader-queue are not a directory with env.py "
                         f"({location}): reinstall the package")
    return location


def alembic_config(url: str | None = None):
    """An Alembic :class:`~alembic.config.Config` built from the package, not from an ini file:
    the packaged migrations and the database URL of ``url`` or the settings."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["database_url"] = normalize_url(url or get_settings().db_url)
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (``rader-queue db upgrade``)."""
    _alembic(command.upgrade, url, revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    """Revert migrations down to ``revision``: an id, ``-1`` (one step) or ``base``."""
    _alembic(command.downgrade, url, revision)


def _alembic(step: Any, url: str | None, revision: str) -> None:
    """Run an Alembic command; an unknown or unreachable revision is a one-line InputError."""
    try:
        step(alembic_config(url), revision)
    except (CommandError, RevisionError) as exc:
        from rader_queue.errors import InputError

        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"revision {revision!r}: {first}") from None


def require_schema(url: str | None = None) -> None:
    """Fail with a clear message when the store has not been migrated."""
    engine = engine_for(url)
    try:
        tables = set(inspect(engine).get_table_names())
    except OperationalError as exc:
        raise StoreError(f"cannot reach the SQL store at {engine.url.render_as_string(hide_password=True)}: "
                         f"{exc.orig}") from exc
    if "jobs" not in tables:
        raise StoreError(f"the SQL store at {engine.url.render_as_string(hide_password=True)} has no schema yet: "
                         "run `rader-queue db upgrade`")
