"""Case 8: planted secrets never leak.

Planted: the generator API key (``RADER_LLM_API_KEY``), a database password (in
``RADER_DATABASE_URL``; PostgreSQL here uses trust auth, so it is accepted and ignored — enough
to see where the URL travels), a Redis password (a private redis-server with ``requirepass``,
in ``RADER_BROKER_URL``) and Flower's basic-auth password (``FLOWER_BASIC_AUTH``).

Then, end to end: ``db upgrade``, ``enqueue``, a worker finishing the run, ``status``, ``runs``,
``metrics``, Flower (``rader-queue flower``) with the worker, and two error paths that print
the URLs (the store unreachable, the broker unreachable). None of the secrets may appear in:
the CLI's stdout/stderr, the worker/Flower/LLM-server logs, any text/JSON column of any SQL
table, any key or value under the run's Redis prefix (message bodies base64-decoded), or
Flower's HTTP API (workers, tasks, task info, queue lengths) and pages."""

from __future__ import annotations

import base64
import json
import secrets as pysecrets

import httpx
import pytest
from sqlalchemy import JSON, String, Text, select

from rader_queue.store import session_scope
from rader_queue.store.models import Base
from rader_queue.testing.queue_load import TRIVIAL_MCTS
from tests.ops.conftest import cli, free_port, http_get, process, wait_for, wait_ready
from tests.reliability.conftest import figure, job_states, worker_env

SECRETS = {
    "llm api key": "sk-planted-" + pysecrets.token_hex(12),
    "database password": "pgpw" + pysecrets.token_hex(10),
    "redis password": "redispw" + pysecrets.token_hex(10),
    "flower password": "flowerpw" + pysecrets.token_hex(10),
    "wrong llm api key": "sk-wrong-" + pysecrets.token_hex(12),   # the server quotes it in 401s
}


def _redis_dump(client) -> str:
    """Every key and value in the server, message bodies decoded."""
    out = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        values: list = {"string": lambda: [client.get(key)],
                        "list": lambda: client.lrange(key, 0, -1),
                        "hash": lambda: [b for kv in client.hgetall(key).items() for b in kv],
                        "set": lambda: list(client.smembers(key)),
                        "zset": lambda: client.zrange(key, 0, -1)}.get(kind, lambda: [])()
        out.append(key.decode(errors="replace"))
        for value in values:
            text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            out.append(text)
            try:                       # kombu envelope: {"body": base64(JSON), ...}
                envelope = json.loads(text)
                message = envelope[0] if isinstance(envelope, list) else envelope
                out.append(base64.b64decode(message["body"]).decode(errors="replace"))
            except Exception:  # noqa: BLE001 - not an envelope
                pass
    return "\n".join(out)


def _sql_dump() -> tuple[str, int]:
    """Every text and JSON column of every table, as text; and the number of values read."""
    out, values = [], 0
    with session_scope() as s:
        for table in Base.metadata.sorted_tables:
            cols = [c for c in table.columns if isinstance(c.type, (String, Text, JSON))]
            if not cols:
                continue
            for row in s.execute(select(*cols)):
                values += len(cols)
                out.append(" ".join(json.dumps(v, default=str) for v in row))
    return "\n".join(out), values


@pytest.mark.slow
def test_planted_secrets_never_leak(rader_env, private_redis, sim_llm, tmp_path):
    redis = private_redis(password=SECRETS["redis password"])
    db_url = rader_env["RADER_DATABASE_URL"].replace(
        "://postgres@", f"://postgres:{SECRETS['database password']}@")
    assert SECRETS["database password"] in db_url and SECRETS["redis password"] in redis.url
    llm_url = sim_llm(time_scale=0.0, api_key=SECRETS["llm api key"])   # 401 unless it is sent
    env = worker_env(rader_env, RADER_DATABASE_URL=db_url, RADER_BROKER_URL=redis.url,
                     RADER_LLM_BASE_URL=llm_url, RADER_LLM_API_KEY=SECRETS["llm api key"],
                     FLOWER_BASIC_AUTH=f"ops:{SECRETS['flower password']}",
                     RADER_METRICS_ADDRESS="127.0.0.1")
    channels: dict[str, str] = {}

    def run_cli(name: str, *args: str, env_=env, ok: bool = True) -> None:
        out = cli(list(args), env_, timeout=180)
        assert (out.returncode == 0) == ok, (name, out.returncode, out.stdout, out.stderr)
        channels[f"cli {name}"] = out.stdout + out.stderr

    run_cli("db upgrade", "db", "upgrade")
    assert "postgres:***@" in channels["cli db upgrade"]          # shown, redacted
    run_cli("enqueue", "enqueue", "MATH", "--split", "test", "--limit", "3", "--run", "secrets",
            *TRIVIAL_MCTS)
    channels["redis after enqueue"] = _redis_dump(redis.client())
    assert "rader.mcts.solve" in channels["redis after enqueue"]   # the messages were read

    port = free_port()
    base, auth = f"http://127.0.0.1:{port}", ("ops", SECRETS["flower password"])
    flower_log, worker_log = tmp_path / "flower.log", tmp_path / "worker.log"
    with process(["flower", "--port", str(port), "--address", "127.0.0.1"], env,
                 flower_log) as flower:
        wait_for(lambda: http_get(f"{base}/api/workers", auth).status_code == 200, 120,
                 "Flower to answer", log=flower_log, proc=flower)
        with process(["worker", "-Q", "mcts", "-c", "2", "--pool", "threads", "-n",
                      "secrets@%h", "-l", "DEBUG"], env, worker_log) as worker:
            wait_ready(worker_log, worker)
            wait_for(lambda: job_states("secrets").get("done", 0) == 3, 180,
                     "the 3 jobs to finish", log=worker_log, proc=worker)
            workers = wait_for(lambda: [n for n in http_get(f"{base}/api/workers?refresh=1",
                                                            auth, timeout=30).json()
                                        if n.startswith("secrets@")], 120, "Flower's worker list",
                               log=flower_log)
            channels["flower /api/workers?refresh=1"] = http_get(
                f"{base}/api/workers?refresh=1", auth, timeout=30).text
        # A worker with a wrong key: the server's 401 quotes the key; the job fails for good.
        run_cli("enqueue 401", "enqueue", "MATH", "--split", "test", "--limit", "1", "--run",
                "secrets-401", "--seed", "7", *TRIVIAL_MCTS)      # another seed: no cache hits
        wrong = {**env, "RADER_LLM_API_KEY": SECRETS["wrong llm api key"]}
        with process(["worker", "-Q", "mcts", "-c", "2", "--pool", "threads", "-n",
                      "secrets401@%h", "-l", "DEBUG"], wrong, worker_log) as worker:
            wait_for(lambda: job_states("secrets-401").get("failed", 0) == 1, 180,
                     "the wrong-key job to fail", log=worker_log, proc=worker)
        tasks = wait_for(lambda: (lambda t: t if len(t) == 4 else None)(
            [t for t in http_get(f"{base}/api/tasks", auth).json().values()
             if t.get("state") == "SUCCESS"]), 60, "Flower's 4 tasks", log=flower_log)
        urls = ["/api/workers?status=1", "/api/tasks", "/api/task/types", "/api/queues/length",
                "/", "/workers", "/tasks", "/broker", f"/worker/{workers[0]}",
                *[f"/api/task/info/{t['uuid']}" for t in tasks],
                *[f"/task/{t['uuid']}" for t in tasks]]
        for url in urls:
            response = httpx.get(base + url, auth=auth, timeout=30)
            assert response.status_code == 200, (url, response.status_code)
            channels[f"flower {url}"] = response.text
        assert "stats" in channels["flower /api/workers?refresh=1"]   # full worker info
        assert "Incorrect API key provided" in channels["flower /api/tasks"], \
            channels["flower /api/tasks"]                     # the 401 reached Flower
        run_cli("status", "status", "secrets")
        run_cli("status 401", "status", "secrets-401")
        assert "AuthenticationError" in channels["cli status 401"]    # the reason, in a table
        run_cli("runs", "runs")
        run_cli("metrics", "metrics")
    channels["worker log"] = worker_log.read_text(errors="replace")
    channels["flower log"] = flower_log.read_text(errors="replace")
    channels["llm server log"] = (tmp_path / "llm.log").read_text(errors="replace")
    channels["redis after the run"] = _redis_dump(redis.client())
    channels["sql"], sql_values = _sql_dump()
    # Error paths print the URLs they could not reach: redacted.
    dead = free_port()
    run_cli("status, store down", "status", "secrets", ok=False,
            env_={**env, "RADER_DATABASE_URL": db_url.replace("127.0.0.1:5432", f"127.0.0.1:{dead}")})
    assert "postgres:***@" in channels["cli status, store down"]
    run_cli("enqueue, broker down", "enqueue", "MATH", "--split", "test", "--limit", "4",
            "--run", "secrets", *TRIVIAL_MCTS, ok=False,
            env_={**env, "RADER_BROKER_URL": redis.url.replace(f":{redis.port}/", f":{dead}/")})
    assert "broker unreachable at redis://:***@" in channels["cli enqueue, broker down"]

    (tmp_path / "channels.json").write_text(json.dumps(channels, indent=1))   # for post-mortems
    leaks = [(what, where) for where, text in channels.items()
             for what, secret in SECRETS.items() if secret in text]
    size = sum(len(t) for t in channels.values())
    figure("secrets", f"{len(SECRETS)} planted secrets × {len(channels)} channels "
           f"({size / 1e6:.1f} MB of logs, CLI output, {sql_values:,} SQL values, Redis keys and "
           f"values, {len(urls) + 1} Flower responses; a 401 quoting the key): {len(leaks)} leaks")
    assert not leaks, leaks
