"""Fixtures of the ``slurm`` tests: a real slurmctld + slurmd (see :mod:`tests.slurm.cluster`).
Without Slurm the tests are skipped with the reason, except in CI (``CI`` set), where a missing
Slurm is a failure: `.ci/run` installs it, and a skip there would go unnoticed."""

from __future__ import annotations

import os

import pytest

from tests.slurm.cluster import LocalSlurm, missing


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    absent = missing()
    if absent:
        why = f"Slurm not installed ({', '.join(absent)} missing; apt-get install slurm-wlm munge)"
        if os.environ.get("CI"):
            pytest.fail(f"the slurm tests must run in CI: {why}")
        pytest.skip(why)
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"), kill_wait=30)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(autouse=True)
def _no_jobs_left_behind(request):
    """A failed test must not leave its replicas holding the node's CPUs: the next test's
    replicas would sit PENDING behind them (in CI a failed scancel test left two 20-minute
    replicas and the time-limit test timed out waiting for its requeue)."""
    yield
    if "slurm_cluster" not in request.fixturenames:
        return
    cluster = request.getfixturevalue("slurm_cluster")
    import time

    ids = [line.split()[0] for line in cluster.squeue()]
    if ids:
        cluster.run("scancel", *ids)
    deadline = time.monotonic() + 120        # drain grace + KillWait, with room
    while cluster.squeue() and time.monotonic() < deadline:
        time.sleep(1)


@pytest.fixture
def pg_url():
    """A database of each test's own (overrides the session-wide one): the replicas' workers run
    the reconciler, which scans the whole database and would re-publish other tests' leftover
    jobs under this test's queue prefix."""
    from rader_queue.store import upgrade
    from tests.conftest import create_pg_database, drop_pg_database

    url = create_pg_database()
    upgrade(url)
    yield url
    drop_pg_database(url)
