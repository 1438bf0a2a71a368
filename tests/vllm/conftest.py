"""The ``vllm`` tier: real vLLM servers (the CPU build from ``scripts/setup_vllm.sh``) on
loopback ports, started once per test session — the SmolLM2 generator and the MiniLM embedder,
side by side.

Without ``.venv-vllm`` (and RADER_VLLM_PYTHON) the tier is skipped with the reason, except in
CI (``CI`` set), where a missing engine is a failure: CI builds it."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest

from rader_queue.errors import ConfigError
from rader_queue.llm.embedded_vllm import VllmServer, start_vllm, vllm_python

# the training-data tests' toy theorem corpus (61 short documents: quick to embed)
from tests.training_data.conftest import corpus_path  # noqa: F401


@dataclass
class Engines:
    generator: VllmServer
    embedder: VllmServer

    def requests_served(self, server: VllmServer) -> float:
        """vLLM's own count of finished requests (its Prometheus /metrics)."""
        text = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=10).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("vllm:request_success_total"))


@pytest.fixture(scope="session")
def vllm_available():
    """The vLLM virtualenv exists (else: skip, or fail in CI)."""
    try:
        return vllm_python()
    except ConfigError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the vllm tier must run in CI: {exc}")
        pytest.skip(f"{exc}; the vllm tier needs it (CI builds it)")


@pytest.fixture(scope="session")
def vllm_engines(vllm_available):
    with ThreadPoolExecutor(2) as pool:      # both start at once: ~40 s instead of ~80 s
        futures = [pool.submit(start_vllm, max_model_len=2048),
                   pool.submit(start_vllm, embed=True)]
        servers = []
        errors = []
        for future in futures:
            try:
                servers.append(future.result())
            except Exception as exc:  # noqa: BLE001 - stop the other one, then report
                errors.append(exc)
    if errors:
        for server in servers:
            server.stop()
        raise errors[0]
    engines = Engines(*servers)
    yield engines
    for server in servers:
        server.stop()


@pytest.fixture
def vllm_env(rader_env, vllm_engines, monkeypatch):
    """rader_env with generator and embedder both served by vLLM."""
    from rader_queue.settings import get_settings

    env = {**rader_env,
           "RADER_LLM_BASE_URL": vllm_engines.generator.base_url,
           "RADER_LLM_MODEL": vllm_engines.generator.model,
           "RADER_LLM_STRUCTURED_OUTPUTS": "vllm",
           "RADER_EMBEDDER_BASE_URL": vllm_engines.embedder.base_url,
           "RADER_EMBEDDER_MODEL": vllm_engines.embedder.model}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


@pytest.fixture
def pg_url():
    """A database of each test's own (overrides the session-wide one): the worker runs the
    reconciler, which scans the whole database; in a shared one it re-published other tests'
    leftover jobs (CI's held 20,000 queued ones) under this test's queue prefix."""
    from rader_queue.store import upgrade
    from tests.conftest import create_pg_database, drop_pg_database

    url = create_pg_database()
    upgrade(url)
    yield url
    drop_pg_database(url)
