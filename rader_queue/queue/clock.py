"""The clocks jobs are timed by: this process's wall clock and the database's clock (leases,
job times and reconciliation compare on the latter)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

from rader_queue.settings import get_settings
from rader_queue.store.db import as_utc


def now() -> dt.datetime:
    """This process's wall clock (shifted by the test-only ``RADER_CLOCK_OFFSET_S``). Used for
    nothing that another process compares: leases and job times use :func:`db_now`."""
    offset = getattr(get_settings(), "clock_offset_s", 0.0)
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=offset)


def db_now(session: Session) -> dt.datetime:
    """The database's clock: every process compares leases and timestamps on this one clock,
    whatever its own says. (SQLite is one machine's file: its clock is this host's.)"""
    if session.get_bind().dialect.name == "postgresql":
        return as_utc(session.scalar(text("SELECT clock_timestamp()")))
    return now()
