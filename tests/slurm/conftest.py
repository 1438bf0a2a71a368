"""Fixtures of the ``slurm`` tests: a real slurmctld + slurmd (see :mod:`tests.slurm.cluster`)."""

from __future__ import annotations

import pytest

from tests.slurm.cluster import LocalSlurm, missing


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    absent = missing()
    if absent:
        pytest.skip(f"Slurm not installed ({', '.join(absent)} missing; apt-get install slurm-wlm munge)")
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"), kill_wait=30)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
