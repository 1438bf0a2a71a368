"""Migrations create and remove the whole schema on PostgreSQL and SQLite."""

from sqlalchemy import create_engine, inspect

from rader_queue.store import upgrade
from rader_queue.store.db import downgrade, normalize_url

TABLES = {"runs", "problems", "jobs", "tree_nodes", "solutions", "retrievals", "judgements",
          "generated_queries", "llm_calls", "llm_cache", "datasets", "training_examples",
          "checkpoints", "training_logs", "eval_results", "eval_query_results"}


def _tables(url: str) -> set[str]:
    engine = create_engine(normalize_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _roundtrip(url: str) -> None:
    upgrade(url)
    assert TABLES <= _tables(url)
    downgrade(url, "base")
    assert not (TABLES & _tables(url))
    upgrade(url)
    assert TABLES <= _tables(url)


def test_upgrade_downgrade_postgresql(fresh_pg_url):
    _roundtrip(fresh_pg_url)


def test_upgrade_downgrade_sqlite(tmp_path):
    _roundtrip(f"sqlite:///{tmp_path / 'm.db'}")


def test_constraint_names_follow_the_convention(pg_url):
    engine = create_engine(normalize_url(pg_url))
    try:
        uniques = {u["name"] for u in inspect(engine).get_unique_constraints("problems")}
    finally:
        engine.dispose()
    assert "uq_problems_run_id_source_id" in uniques


def test_db_current_names_the_revision_and_the_head(tmp_path):
    from typer.testing import CliRunner

    from rader_queue.cli.main import app
    from rader_queue.store.revision import code_heads

    url = f"sqlite:///{tmp_path / 'c.db'}"
    (head,) = code_heads(url)
    runner = CliRunner()

    def current() -> str:
        out = runner.invoke(app, ["db", "current", "--database-url", url])
        assert out.exit_code == 0, out.output
        return " ".join(out.output.split())

    assert "has no schema yet: run `rader-queue db upgrade`" in current()
    upgrade(url)
    assert f"is at {head} (head)" in current()
    downgrade(url, "-1")
    behind = current()
    assert f"this code's head is {head}: run `rader-queue db upgrade`" in behind
    assert f"is at {head}" not in behind


def test_alembic_cli_works_from_the_checkout(tmp_path):
    """Developers keep the plain ``alembic`` command: alembic.ini at the top of the checkout."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    url = f"sqlite:///{tmp_path / 'a.db'}"
    env = {**os.environ, "RADER_DATABASE_URL": url}
    out = subprocess.run([sys.executable, "-m", "alembic", "-c", str(root / "alembic.ini"),
                          "upgrade", "head"], cwd=root, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert TABLES <= _tables(url)
