"""The generated Slurm scripts, without a cluster: secrets stay out of them, the requests
match the options, and bash accepts every script."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from tests.process_helpers import ROOT

SECRETS = {
    "RADER_DATABASE_URL": "postgresql+psycopg://rader:pg-Secret-123@db:5432/rader",
    "RADER_BROKER_URL": "redis://:redis-Secret-456@broker:6379/0",
    "RADER_LLM_API_KEY": "sk-llm-Secret-789",
    "RADER_EMBEDDER_API_KEY": "sk-emb-Secret-000",
    "HF_TOKEN": "hf_Secret_abc",
}


def _cli(*args: str, tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, **SECRETS, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "rader_queue.cli.main", "slurm", *args,
                           "--dir", str(tmp_path / "jobs")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [
    ("up", "math-a", "--replicas", "2", "--gpus-per-replica", "2", "--workers-per-replica", "2",
     "--embedder", "BAAI/bge-base-en-v1.5", "--partition", "gpu", "--account", "ir-lab",
     "--qos", "normal", "--time", "2-00:00:00"),
    ("train", "data/train.jsonl", "--name", "ckpt", "--nodes", "2", "--gpus-per-node", "4"),
    ("eval", "ckpt", "-b", "champ"),
    ("services",),
])
def test_dry_run_shows_no_secret(tmp_path, args):
    out = _cli(*args, "--dry-run", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    for name, value in SECRETS.items():
        assert value not in text, name
        assert "Secret" not in text
    assert "RADER_DATABASE_URL" in text           # the names are listed, the values are not
    assert not (tmp_path / "jobs").exists()       # a dry run writes nothing


def test_up_scripts_request_what_was_asked(tmp_path):
    out = _cli("up", "math-a", "--replicas", "2", "--gpus-per-replica", "2",
               "--workers-per-replica", "3", "--in-flight", "40", "--embedder", "bge",
               "--partition", "gpu", "--time", "2-00:00:00", "--dry-run", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    scripts = out.stdout.split("#!/bin/bash")[1:]
    assert len(scripts) == 2
    for i, script in enumerate(scripts, 1):
        assert f"#SBATCH --job-name=rader-math-a-r{i}" in script
        assert "#SBATCH --gres=gpu:2" in script
        assert "#SBATCH --signal=B:USR1@120" in script
        assert "#SBATCH --requeue" in script
        assert "--tensor-parallel-size 2" in script
        assert "--runner pooling --convert embed" in script and "--task" not in script
        assert "seq 1 3" in script and "-c 40" in script
    cpu = _cli("up", "math-a", "--cpu-only", "--server", "simulated", "--dry-run",
               tmp_path=tmp_path)
    assert cpu.returncode == 0 and "--gres" not in cpu.stdout


def test_written_files_and_bash_syntax(tmp_path, monkeypatch):
    from rader_queue.slurm.jobs import ReplicaOptions, plan_services, plan_up
    from rader_queue.slurm.spec import Resources

    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    plans = [plan_up("r", ReplicaOptions(replicas=2, embedder="bge"), Resources(), tmp_path),
             plan_services(Resources(cpu_only=True), tmp_path, redis_port=6379, pg_port=5432,
                           data_dir=tmp_path / "data")]
    for plan in plans:
        plan.write()
        mode = stat.S_IMODE(plan.env_file.stat().st_mode)
        assert mode == 0o600
        for job in plan.jobs:
            check = subprocess.run(["bash", "-n", str(job.script)], capture_output=True, text=True)
            assert check.returncode == 0, check.stderr
            assert not any(v in job.script.read_text() for v in SECRETS.values())
    from rader_queue.slurm.render import submit_environ

    env = submit_environ()
    assert not set(SECRETS) & set(env)


@pytest.mark.slow
def test_bad_options_are_one_line_errors(tmp_path):
    out = _cli("up", "bad name;rm", "--dry-run", tmp_path=tmp_path)
    assert out.returncode != 0 and "cannot name a Slurm job" in out.stderr
    out = _cli("up", "ok", "--time", "soon", "--no-embedder", "--dry-run", tmp_path=tmp_path)
    assert out.returncode != 0 and "--time" in out.stderr
    out = _cli("up", "ok", "--drain-grace", "200", "--no-embedder", "--dry-run", tmp_path=tmp_path)
    assert out.returncode != 0 and "--signal-lead" in out.stderr
