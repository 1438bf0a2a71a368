"""Which errors are outages and which are permanent (issue 15).

Only a loss of connectivity is an outage that a job waits out (retried with backoff, without
using up its attempts): the SQL store unreachable or its connection dropped
(``OperationalError``, ``InterfaceError``, a connection-pool timeout) and broker connection
errors. Everything the database *answered* with — ``DataError``, ``ProgrammingError`` (a
missing column), ``IntegrityError``, ``InternalError`` (a trigger's exception), … — is
permanent: retrying sends the same statement to the same schema, so the job fails at once with
the reason in ``jobs.last_error``."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from rader_queue.errors import BrokerError, StoreError

_SQL_OUTAGES: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError,
    sa_exc.DisconnectionError)


def _broker_outages() -> tuple[type[BaseException], ...]:
    from kombu.exceptions import OperationalError as KombuOperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (KombuOperationalError, RedisConnectionError, RedisTimeoutError, ConnectionError,
            BrokerError)


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` (or what it wraps) is a loss of connectivity to the store or broker."""
    outages = _SQL_OUTAGES + _broker_outages()
    for err in _chain(exc):
        if isinstance(err, outages):
            return True
        if isinstance(err, sa_exc.DBAPIError) and err.connection_invalidated:
            return True
    return False


def is_store_error(exc: BaseException) -> bool:
    """Any error of the SQL store, outage or permanent."""
    return isinstance(exc, (StoreError, sa_exc.SQLAlchemyError))


def describe(exc: BaseException) -> str:
    """One line for ``jobs.last_error``: the class and the database's own message."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return f"{type(orig if orig is not None else exc).__name__}: {text[0] if text else ''}"
