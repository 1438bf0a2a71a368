"""Shared fixtures: real PostgreSQL and Redis on this machine, never fakes.

Each test session gets its own PostgreSQL database (created, migrated, dropped) and its own
Redis key prefix, so parallel sessions and developers on one machine don't see each other."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.heavy_markers import check_heavy_tests_are_slow, group_heavy_tests

pytest_plugins = ["pytester"]       # tests/test_heavy_markers.py runs pytest on sample tests

ROOT = Path(__file__).resolve().parents[1]
# Rich sizes the CLI's consoles when they are built (at import) from COLUMNS, else from a
# terminal: CI has none (no stdin, and xdist workers read pipes), so tables would wrap at 80 and
# cut the texts the tests look for. Tests that check 80 columns say so in their own env.
os.environ.setdefault("COLUMNS", "200")
PG_ADMIN_URL = os.environ.get("RADER_TEST_PG_ADMIN_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("RADER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def data_dir() -> Path:
    return Path(os.environ.get("RADER_DATA_DIR", ROOT.parent / "shared" / "data")).resolve()


def _pg_url(dbname: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname


def create_pg_database(prefix: str = "rader_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return _pg_url(name)


def drop_pg_database(url: str) -> None:
    from rader_queue.store import db

    engine = db._engines.pop(db.normalize_url(url), None)
    if engine is not None:
        engine.dispose()
    name = url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_url():
    """A migrated PostgreSQL database for this test session."""
    from rader_queue.store import upgrade

    url = create_pg_database()
    upgrade(url)
    yield url
    drop_pg_database(url)


@pytest.fixture
def fresh_pg_url():
    """An empty (unmigrated) PostgreSQL database for one test."""
    url = create_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture
def sqlite_url(tmp_path):
    from rader_queue.store import upgrade

    url = f"sqlite:///{tmp_path / 'rader.db'}"
    upgrade(url)
    return url


@pytest.fixture
def queue_prefix():
    return f"rader-test-{uuid.uuid4().hex[:8]}:"


@pytest.fixture
def rader_env(monkeypatch, pg_url, queue_prefix, tmp_path):
    """Environment for code that reads settings: the session's PostgreSQL, a private Redis
    prefix, the shared data directory and a private cache directory."""
    from rader_queue.settings import get_settings

    env = {
        "RADER_DATABASE_URL": pg_url,
        "RADER_BROKER_URL": REDIS_URL,
        "RADER_QUEUE_PREFIX": queue_prefix,
        "RADER_DATA_DIR": str(data_dir()),
        "RADER_CACHE_DIR": str(tmp_path / "cache"),
        # workers of failure-path tests run without a generator on purpose; the refusal to
        # start without one is tested in tests/newcomer/test_first_hour.py
        "RADER_WORKER_REQUIRE_GENERATOR": "false",
        # every test session shares one PostgreSQL database but each test has its own Redis
        # prefix (or server): a worker's reconciler would publish other tests' leftover queued
        # jobs into this test's broker. Tests of the reconciler turn it on with their own
        # interval (tests/reliability/test_lost_messages.py, test_takeover.py, test_pg_stall.py).
        "RADER_RECONCILE_INTERVAL_S": "0",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    from rader_queue.queue.app import use_settings

    use_settings()          # the in-process Celery app publishes under this test's prefix
    yield env
    get_settings.cache_clear()


@pytest.fixture
def redis_client():
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    yield client
    client.close()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """A heavy test (vLLM, Slurm, the embedded model) not marked `slow` is a collection error
    (`tests/heavy_markers.py`): the fast lane `-m "not slow"` must stay fast.

    Under pytest-xdist (`-n N --dist loadgroup`, the README's test command) the heavy tests are
    grouped (`heavy_markers.group_heavy_tests`): below 8 cores all of them run on one worker,
    one after another, while the other workers take the light tests (CI on 2 cores: `-n 2`);
    on bigger machines each resource is a group of its own."""
    check_heavy_tests_are_slow(items)
    group_heavy_tests(items, one_lane=(os.cpu_count() or 1) < 8)
