"""Issue 15, honest failure classes: a database whose schema is not the code's is refused at
start (worker and enqueue, exit status 6, one line), migrations can be stepped back with
``db downgrade -1``, an unknown revision is a one-line error, and a permanent SQL error during
a job fails it once, with the database's reason (not retried as an outage)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select, text

from rader_queue.store.db import normalize_url
from rader_queue.store.models import Job, JobState, Run
from rader_queue.store import session_scope
from tests.reliability.conftest import cli, figure, wait_states, worker, worker_command, worker_env
from tests.reliability.test_llm_faults import _enqueue_args


def _sql(url: str, statement: str) -> None:
    engine = create_engine(normalize_url(url))
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()


def _refusals(env: dict) -> tuple:
    w = cli(*worker_command()[3:], env=env, timeout=60)
    e = cli(*_enqueue_args("drift", 2, seed=1521), env=env, timeout=60)
    return w, e


@pytest.mark.slow
@pytest.mark.parametrize("drift", ["dropped-column", "one-ahead", "one-behind"])
def test_schema_drift_is_refused_at_start(drift, rader_env, own_pg_url):
    env = worker_env(rader_env, RADER_DATABASE_URL=own_pg_url)
    if drift == "dropped-column":
        _sql(own_pg_url, "ALTER TABLE jobs DROP COLUMN last_error")
        want = "lacks jobs.last_error"
    elif drift == "one-ahead":
        _sql(own_pg_url, "UPDATE alembic_version SET version_num = '9999'")
        want = "revision 9999, which this code does not know"
    else:
        out = cli("db", "downgrade", "-1", env=env)
        assert out.returncode == 0, out.stderr
        want = "run `rader-queue db upgrade`"
    w, e = _refusals(env)
    figure(f"schema-{drift}", f"worker exit {w.returncode}, enqueue exit {e.returncode}: "
                              f"{w.stderr.strip()[:140]}")
    for out in (w, e):
        assert out.returncode == 6, out.stderr
        assert want in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    if drift == "one-behind":          # and forward again
        assert cli("db", "upgrade", env=env).returncode == 0
        assert cli(*_enqueue_args("drift", 2, seed=1521), env=env).returncode == 0


def test_unknown_revision_is_one_line(rader_env, own_pg_url):
    env = worker_env(rader_env, RADER_DATABASE_URL=own_pg_url)
    out = cli("db", "downgrade", "nosuchrev", env=env)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "nosuchrev" in out.stderr


@pytest.mark.slow
def test_a_permanent_sql_error_fails_the_job_once(rader_env, own_pg_url, sim_llm, tmp_path):
    """Every tree_nodes insert violates a CHECK constraint: IntegrityError is not an outage."""
    env = worker_env(rader_env, RADER_DATABASE_URL=own_pg_url,
                     RADER_LLM_BASE_URL=sim_llm(time_scale=0.05))
    _sql(own_pg_url, "ALTER TABLE tree_nodes ADD CONSTRAINT ck_never CHECK (depth < -1) NOT VALID")
    out = cli(*_enqueue_args("permanent", 2, seed=1522), env=env)
    assert out.returncode == 0, out.stderr
    log = tmp_path / "worker.log"
    with worker(env, log, concurrency=2):
        wait_states("permanent", {JobState.FAILED: 2}, 120, log, db_url=own_pg_url)
    with session_scope(own_pg_url) as s:
        rows = s.execute(select(Job.attempts, Job.last_error).join(Run, Run.id == Job.run_id)
                         .where(Run.name == "permanent")).all()
    figure("permanent-sql-error", f"CHECK violation on every tree insert: 2/2 jobs failed after "
                                  f"{[a for a, _ in rows]} claims: {rows[0][1][:100]}")
    assert all(a == 1 for a, _ in rows)
    assert all("ck_never" in (err or "") for _, err in rows)
