"""``rader-queue flower`` against the test Redis and key prefix, with a real worker: Flower's
HTTP API lists the worker and a finished task, and refuses requests without basic auth."""

from __future__ import annotations

import secrets

import pytest

from rader_queue.errors import ConfigError
from rader_queue.ops.flower import check_basic_auth, flower_argv
from tests.ops.conftest import (cli, enqueue_args, finished, free_port, http_get, process,
                                wait_for, wait_ready, worker_args)


def test_basic_auth_is_required_and_checked():
    for bad in (None, "", "user", "user:", ":pw", "a:b,broken"):
        with pytest.raises(ConfigError):
            check_basic_auth(bad)
    assert check_basic_auth("a:b, c:d") == ["a:b", "c:d"]
    assert flower_argv(5555, "127.0.0.1") == ["flower", "--port=5555", "--address=127.0.0.1"]


def test_flower_refuses_to_start_without_auth(ops_env, monkeypatch):
    monkeypatch.delenv("FLOWER_BASIC_AUTH", raising=False)
    out = cli(["flower", "--port", str(free_port())], ops_env, timeout=120)
    assert out.returncode == 3
    assert "FLOWER_BASIC_AUTH" in out.stderr


@pytest.mark.slow
def test_flower_sees_worker_and_finished_tasks(ops_env, unique, tmp_path):
    password = secrets.token_hex(8)
    auth = ("ops", password)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    flower_env = {**ops_env, "FLOWER_BASIC_AUTH": f"ops:{password}"}
    flower_log, worker_log = tmp_path / "flower.log", tmp_path / "worker.log"
    worker_name = f"ops-flower-{unique}"
    run = f"flower-{unique}"

    with process(["flower", "--port", str(port), "--address", "127.0.0.1"], flower_env,
                 flower_log) as flower:
        wait_for(lambda: http_get(f"{base}/api/workers", auth).status_code == 200, 120,
                 "Flower to answer", log=flower_log, proc=flower)
        assert http_get(f"{base}/api/workers").status_code == 401
        assert http_get(f"{base}/api/workers", ("ops", "wrong")).status_code == 401

        with process(worker_args(worker_name), ops_env, worker_log) as worker:
            wait_ready(worker_log, worker)

            def worker_listed():
                workers = http_get(f"{base}/api/workers?refresh=1", auth, timeout=30).json()
                return [name for name in workers if name.startswith(worker_name + "@")]

            names = wait_for(worker_listed, 120, f"Flower to list {worker_name}", log=flower_log)
            out = cli(enqueue_args(run), ops_env)
            assert out.returncode == 0, out.stderr
            wait_for(lambda: finished(run, 2), 180, "both jobs to finish", log=worker_log,
                     proc=worker)

            def finished_tasks():
                tasks = http_get(f"{base}/api/tasks", auth).json()
                return [t for t in tasks.values()
                        if t.get("name") == "rader.mcts.solve" and t.get("state") == "SUCCESS"
                        and t.get("worker") == names[0]]

            done = wait_for(finished_tasks, 60, "Flower to show the finished tasks",
                            log=flower_log)
            assert all(t["uuid"].startswith("mcts-") for t in done)   # enqueue's task ids
            task = http_get(f"{base}/api/task/info/{done[0]['uuid']}", auth).json()
            assert task["routing_key"] == "mcts" and task["succeeded"]
        assert flower.poll() is None, "Flower died"
