"""Which errors are outages and which are permanent (issue 15).

Only a loss of connectivity is an outage that a job waits out (retried with backoff, without
using up its attempts): the SQL store unreachable or its connection dropped
(``OperationalError``, ``InterfaceError``, a connection-pool timeout) and broker connection
errors. Everything the database *answered* with — ``DataError``, ``ProgrammingError`` (a
missing column), ``IntegrityError``, ``InternalError`` (a trigger's exception), … — is
permanent: retrying sends the same statement to the same schema, so the job fails at once with
the reason in ``jobs.last_error``."""

from __future__ import annotations

from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import (ConnectionError as RedisConnectionError,
                              TimeoutError as RedisTimeoutError)
from sqlalchemy import exc as sa_exc

from rader_queue.errors import BrokerError, StoreError

_SQL_OUTAGES: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError,
    sa_exc.DisconnectionError)


def _other_outages() -> tuple[type[BaseException], ...]:
    out: tuple[type[BaseException], ...] = (KombuOperationalError, RedisConnectionError,
                                            RedisTimeoutError, BrokerError)
    try:
        import psycopg

        out += (psycopg.OperationalError, psycopg.InterfaceError)
    except ImportError:  # pragma: no cover - SQLite-only installs
        pass
    return out


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` is a loss of connectivity to the store or broker: one of the classes
    above, or a :class:`StoreError` raised from one. (Only SQL and broker errors count: a model
    endpoint's connection error is the model's failure, with its own bounded retries.)"""
    outages = _SQL_OUTAGES + _other_outages()
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, outages):
            return True
        if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
            return True
        if not isinstance(exc, StoreError):
            return False
        exc, seen = exc.__cause__, seen + 1
    return False


def is_store_error(exc: BaseException) -> bool:
    """Any error of the SQL store, outage or permanent."""
    return isinstance(exc, (StoreError, sa_exc.SQLAlchemyError))


def describe(exc: BaseException) -> str:
    """One line for ``jobs.last_error``: the class and the database's own message."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return f"{type(orig if orig is not None else exc).__name__}: {text[0] if text else ''}"
