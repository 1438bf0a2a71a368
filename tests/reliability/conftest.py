"""Helpers of the reliability suite: real worker processes, the simulated LLM server, private
Redis servers and PostgreSQL databases, and checks over every table.

Every case prints one ``FIGURE <case>: ...`` line (run with ``-s`` to see them, or set
``RADER_TEST_FIGURES=FILE`` to collect them in a file)."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rader_queue.ports import free_port  # noqa: F401 (tests import it from here)
from rader_queue.store import session_scope
from rader_queue.store.models import Base, Job, JobState, Problem, Run, TreeNode
from tests.process_helpers import ROOT, kill, start_process, wait_for

# Small MCTS runs: 3 rollouts, depth 4, BM25 (workers start in seconds; dense retrieval is not
# what these tests are about).
SMALL_MCTS = dict(retriever="bm25", rollouts=3, max_depth=4, ost_samples=2, crs_samples=2, top_k=3)


def figure(name: str, text_: str) -> str:
    """Print one FIGURE line; with ``RADER_TEST_FIGURES=FILE`` also append it there (a whole
    run's figures in one file, whatever pytest captured)."""
    line = f"FIGURE {name}: {text_}"
    print("\n" + line, flush=True)
    if os.environ.get("RADER_TEST_FIGURES"):
        with open(os.environ["RADER_TEST_FIGURES"], "a", encoding="utf-8") as out:
            out.write(line + "\n")
    return line


def worker_env(base: dict[str, str], **overrides: object) -> dict[str, str]:
    """Worker environment: the test's settings plus fast-failure knobs."""
    env = {
        **base,
        "RADER_VISIBILITY_TIMEOUT_S": "20",
        "RADER_TASK_HARD_TIME_LIMIT_S": "15",
        "RADER_TASK_MAX_RETRIES": "2",
        "RADER_LLM_MAX_RETRIES": "3",
        "RADER_LLM_TIMEOUT_S": "10",
        "RADER_LLM_BACKOFF_BASE_S": "0.2",
        "RADER_LLM_BACKOFF_CAP_S": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def worker_command(queues: str = "mcts", concurrency: int = 4, name: str | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "rader_queue.cli.main", "worker", "-Q", queues, "-c",
           str(concurrency), "--pool", "threads", "-l", "INFO"]
    if name:
        cmd += ["-n", name]
    return cmd


@contextmanager
def worker(env: dict[str, str], log: Path, *, concurrency: int = 4, name: str | None = None):
    proc = start_process(worker_command(concurrency=concurrency, name=name), env, log)
    try:
        yield proc
    finally:
        kill(proc, 15)


def cli(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rader_queue.cli.main", *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=timeout)


def job_states(run_name: str, db_url: str | None = None) -> dict[str, int]:
    with session_scope(db_url) as s:
        rows = s.execute(select(Job.state, func.count()).join(Run, Run.id == Job.run_id)
                         .where(Run.name == run_name).group_by(Job.state)).all()
    return {state: count for state, count in rows}


def wait_states(run_name: str, want: dict[str, int], timeout: float, log: Path | None = None,
                db_url: str | None = None) -> None:
    wait_for(lambda: all(job_states(run_name, db_url).get(k, 0) == v for k, v in want.items()),
             timeout, interval=1.0, what=f"{run_name}: {want} (now {job_states(run_name, db_url)})",
             log_path=log)


def natural_key_duplicates(db_url: str | None = None) -> dict[str, int]:
    """Rows in excess of one per natural key (every UNIQUE constraint and unique column of
    every table), table by table. UNIQUE constraints make this 0 by construction; the check
    guards against a key being dropped or never declared."""
    out: dict[str, int] = {}
    with session_scope(db_url) as s:
        for table in Base.metadata.sorted_tables:
            keys = [list(c.columns) for c in table.constraints
                    if c.__class__.__name__ == "UniqueConstraint"]
            keys += [[c] for c in table.columns if c.unique]
            for cols in keys:
                sub = select(*cols, func.count().label("c")).group_by(*cols).having(func.count() > 1).subquery()
                extra = s.scalar(select(func.coalesce(func.sum(sub.c.c - 1), 0)))
                out[f"{table.name}({','.join(c.name for c in cols)})"] = int(extra or 0)
    return out


def run_consistency(run_name: str, db_url: str | None = None) -> dict[str, int]:
    """No half-written tree: problems.finished_at set ⇔ job done ⇔ tree rows present."""
    with session_scope(db_url) as s:
        run_id = s.scalar(select(Run.id).where(Run.name == run_name))
        rows = s.execute(
            select(Problem.id, Problem.finished_at, Job.state,
                   select(func.count()).select_from(TreeNode)
                   .where(TreeNode.problem_id == Problem.id).scalar_subquery())
            .join(Job, Job.problem_id == Problem.id).where(Problem.run_id == run_id)).all()
    bad = {"finished_without_done": 0, "done_without_tree": 0, "tree_without_done": 0,
           "finished_without_tree": 0}
    for _pid, finished, state, nodes in rows:
        done = state == JobState.DONE
        bad["finished_without_done"] += bool(finished) and not done
        bad["done_without_tree"] += done and nodes == 0
        bad["tree_without_done"] += nodes > 0 and not done
        bad["finished_without_tree"] += bool(finished) and nodes == 0
    return bad


def signatures(run_name: str, db_url: str | None = None) -> dict[str, list]:
    """Each problem's stored tree as comparable tuples (to compare trees across runs)."""
    from rader_queue.trees.persist import load_nodes

    with session_scope(db_url) as s:
        run_id = s.scalar(select(Run.id).where(Run.name == run_name))
        problems = s.execute(select(Problem.source_id, Problem.id).where(Problem.run_id == run_id)).all()
        return {source: [(n.node_id, n.parent_node_id, n.node_type, n.depth, n.text, round(n.q, 9),
                          n.n, n.reward, n.terminal, n.doc_id) for n in load_nodes(s, pid)]
                for source, pid in problems}


@pytest.fixture
def sim_llm(tmp_path):
    """Start simulated LLM servers: ``url = sim_llm(time_scale=0.05, port=None, **faults)``."""
    from rader_queue.testing.simulated_llm import simulated_server

    stack = []

    def start(port: int | None = None, **kwargs):
        cm = simulated_server(port or free_port(), log_path=tmp_path / "llm.log", **kwargs)
        url = cm.__enter__()
        stack.append(cm)
        return url

    yield start
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


@pytest.fixture
def pg_url():
    """Every reliability test gets a database of its own (this overrides the session-wide one):
    the workers these tests start run the reconciler, which scans the whole database, so in a
    shared one they re-published every job earlier tests left queued or leased under this test's
    queue prefix and worked through them first (the takeover test timed out behind them in CI)."""
    from rader_queue.store import upgrade
    from tests.conftest import create_pg_database, drop_pg_database

    url = create_pg_database()
    upgrade(url)
    yield url
    drop_pg_database(url)


@pytest.fixture
def own_pg_url():
    """A migrated database of the test's own: a reference run, a database behind a proxy, or a
    run that must not find other tests' responses in the shared cache (``llm_cache``)."""
    from rader_queue.store import upgrade
    from tests.conftest import create_pg_database, drop_pg_database

    url = create_pg_database("rader_own")
    upgrade(url)
    yield url
    drop_pg_database(url)


class RedisServer:
    """A private redis-server (its own port and directory), stopped and started at will."""

    def __init__(self, directory: Path, port: int | None = None, password: str | None = None):
        self.dir, self.port, self.password = directory, port or free_port(), password
        self.proc: subprocess.Popen | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
               "--appendonly", "yes", "--appendfsync", "always", "--save", "",
               "--logfile", str(self.dir / "redis.log")]
        if self.password:
            cmd += ["--requirepass", self.password]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for(self.ping, 30, interval=0.1, what=f"redis-server on {self.port}")

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password,
                           socket_timeout=5)

    def ping(self) -> bool:
        try:
            return bool(self.client().ping())
        except Exception:  # noqa: BLE001
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()       # redis saves the AOF on SIGTERM
            self.proc.wait(30)
        self.proc = None


@pytest.fixture
def private_redis(tmp_path):
    servers: list[RedisServer] = []

    def make(password: str | None = None) -> RedisServer:
        server = RedisServer(tmp_path / f"redis{len(servers)}", password=password)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
