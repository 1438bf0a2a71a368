"""Store and broker set-up errors as one line with the fix, from every command: a missing
PostgreSQL database names the ``createdb`` command, an unmigrated one ``rader-queue db upgrade``,
an unreachable store or broker its (password-redacted) URL."""

from __future__ import annotations

import re

from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from rader_queue.errors import BrokerError, RaderError, StoreError
from rader_queue.secrets import redact_db_url, redact_url
from rader_queue.settings import get_settings


def _settings_error(exc: BaseException) -> RaderError | None:
    """Settings that do not validate (e.g. a stage mapped to an unknown endpoint), in one line."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError) or exc.title != "Settings":
        return None
    from rader_queue.errors import ConfigError

    parts = []
    for error in exc.errors(include_url=False):
        loc = [str(p) for p in error["loc"]]
        message = error["msg"].removeprefix("Value error, ")
        where = ".".join([f"RADER_{loc[0].upper()}", *loc[1:]]) if loc else ""
        parts.append(f"{where}: {message}" if where else message)
    return ConfigError("bad settings: " + "; ".join(parts))


def explain(exc: BaseException) -> RaderError | None:
    """The rader-queue error for a third-party set-up error, or None when it is not one."""
    settings_error = _settings_error(exc)
    if settings_error is not None:
        return settings_error
    if isinstance(exc, (NoSuchModuleError, ArgumentError)):
        return StoreError(f"RADER_DATABASE_URL is not a usable database URL: {exc}")
    if isinstance(exc, DBAPIError):
        url = redact_db_url(get_settings().db_url)
        text = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0] if str(exc) else ""
        missing_db = re.search(r'database "([^"]+)" does not exist', text)
        if missing_db:
            return StoreError(f"the PostgreSQL database {missing_db.group(1)!r} does not exist "
                              f"({url}): create it with `createdb {missing_db.group(1)}` "
                              "(or `createdb -h HOST -U USER NAME`), then `rader-queue db upgrade`")
        if re.search(r'relation "[^"]+" does not exist|no such table', text):
            return StoreError(f"the SQL store at {url} has no schema yet (or an old one): run "
                              "`rader-queue db upgrade`")
        if re.search(r"connection|could not connect|unable to open", text, re.I):
            return StoreError(f"SQL store unreachable at {url} (RADER_DATABASE_URL or "
                              f"--database-url): {text}")
        return StoreError(f"SQL store error at {url}: {text}")
    try:
        from kombu.exceptions import OperationalError as KombuError
        from redis.exceptions import ConnectionError as RedisConnectionError
    except ImportError:  # pragma: no cover - both are dependencies
        return None
    if isinstance(exc, (KombuError, RedisConnectionError)):
        return BrokerError(f"broker unreachable at {redact_url(get_settings().broker)}: "
                           f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    return None
