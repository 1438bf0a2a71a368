"""Alembic environment: the URL comes from rader-queue's settings (or the caller's config)."""

from __future__ import annotations

from alembic import context

from rader_queue.store.db import engine_for, normalize_url
from rader_queue.store.models import Base
from rader_queue.settings import get_settings

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return normalize_url(config.attributes.get("database_url") or get_settings().db_url)


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = engine_for(_url())
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
