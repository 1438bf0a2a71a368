"""Keeping secrets out of logs, SQL rows, task arguments and error messages."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")


def redact_db_url(url: Any) -> str:
    """A SQLAlchemy URL (object or string) as SQLAlchemy renders it with the password hidden:
    ``postgresql://u:pw@h/db`` → ``postgresql://u:***@h/db``. A string SQLAlchemy cannot parse
    goes through :func:`redact_url`."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return redact_url(str(url))


def redact_url(url: str) -> str:
    """Any other URL with a password (broker, HTTP endpoint): ``redis://:pw@h:6379/0`` →
    ``redis://:***@h:6379/0``; URLs without one unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _URL_PASSWORD.sub(r"\g<scheme>\g<user>:***@", url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def scrub(text: str, *secrets: str) -> str:
    """Remove URL passwords and any of ``secrets`` from free text (error messages, logs)."""
    text = _URL_PASSWORD.sub(r"\g<scheme>\g<user>:***@", text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
