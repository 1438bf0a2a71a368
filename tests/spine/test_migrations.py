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
