"""The stage registry (rader_queue.queue.stages) is the one table of stages, tasks and queues:

* the Celery app's tasks, routes and queues are exactly the registry's;
* no other module names a task (a ``"rader.<stage>.<verb>"`` literal);
* ``rader-queue retry`` publishes the failed jobs of every stage, ``judge_queries`` included,
  each to its stage's queue with its stage's task (a real CLI process, real Redis);
* a job whose payload does not fit its stage's model fails at once, classified, on a real
  worker process, for every stage.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import redis
from sqlalchemy import select

from rader_queue.queue import stages
from rader_queue.store import insert_ignore, session_scope
from rader_queue.store.models import Job, JobState, Problem, Run
from tests.process_helpers import ROOT, wait_for
from tests.reliability.conftest import cli, worker_env

TASK_LITERAL = re.compile(r"""["']rader\.[a-z_]+\.[a-z_]+["']""")

# A payload each stage's model accepts (what the retry test re-publishes).
GOOD = {
    "mcts": {},
    "judge": {"model": "judge-model"},
    "extract": {"options": {}},
    "querygen": {"options": {}, "query_type": "qllmq"},
    "judge_queries": {"options": {}, "query_type": "qcot"},
    "embed": {"corpus": "champ", "shard": 0, "num_shards": 1},
    "train": {"dataset": "rows.jsonl", "output_dir": "out", "name": "ckpt", "config": {}},
    "eval": {"config": {"model": "bm25", "benchmark": "champ"}},
}
# A payload each stage's model refuses, and the field the failure must name.
BAD = {
    "mcts": (["not", "an", "object"], "valid dictionary"),
    "judge": ({"model": "", "unexpected": 1}, "unexpected"),
    "extract": ({"options": {"no_such_option": True}}, "options"),
    "querygen": ({"options": {}, "query_type": "qcot"}, "query_type"),
    "judge_queries": ({"options": {}, "query_type": "qnope"}, "query_type"),
    "embed": ({"corpus": "champ", "shard": 2, "num_shards": 2}, "num_shards"),
    "train": ({"dataset": "rows.jsonl", "output_dir": "out", "name": "ckpt",
               "config": {"no_such_option": 1}}, "config"),
    "eval": ({"config": {"model": "bm25"}}, "config"),
}


def test_every_stage_has_payload_examples():
    assert set(GOOD) == set(BAD) == set(stages.STAGE_NAMES)
    for name, payload in GOOD.items():
        stages.get(name).validate(payload)


def test_celery_app_tasks_routes_and_queues_are_the_registry(rader_env):
    from rader_queue.queue.app import app

    app.loader.import_default_modules()     # what a starting worker does: the app's `include`
    registered = {name for name in app.tasks if not name.startswith("celery.")}
    assert registered == {s.task for s in stages.STAGES}
    assert [q.name for q in app.conf.task_queues] == list(stages.QUEUES)
    for stage in stages.STAGES:
        assert app.amqp.router.route({}, stage.task)["queue"].name == stage.queue, stage.name
        assert stages.for_task(stage.task) is stage


def test_no_module_but_the_registry_names_a_task():
    registry = ROOT / "rader_queue" / "queue" / "stages.py"
    offenders = []
    for folder in ("rader_queue", "workers"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == registry:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if TASK_LITERAL.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "task names outside the registry:\n" + "\n".join(offenders)
    # and the registry names each task once, with a queue the app declares
    assert len({s.task for s in stages.STAGES}) == len(stages.STAGES)


def _run_with_jobs(payloads: dict[str, dict], state: str) -> tuple[str, dict[str, int]]:
    """A run with one problem and one job per stage in ``state``; returns (run, stage → id)."""
    name = f"registry-{uuid.uuid4().hex[:8]}"
    with session_scope() as s:
        s.add(Run(name=name, dataset="test", config={}, config_hash="x"))
        s.flush()
        run = s.scalars(select(Run).where(Run.name == name)).one()
        s.add(Problem(run_id=run.id, source_id="p0", position=0, text="1+1?", gold_answer="2"))
        s.flush()
        problem_id = s.scalar(select(Problem.id).where(Problem.run_id == run.id))
        insert_ignore(s, Job, [
            {"run_id": run.id, "problem_id": problem_id, "stage": stage,
             "idempotency_key": f"{stage}:{name}", "state": state, "payload": payload,
             "last_error": "earlier failure" if state == JobState.FAILED else None}
            for stage, payload in payloads.items()], ["idempotency_key"])
        ids = dict(s.execute(select(Job.stage, Job.id).where(Job.run_id == run.id)).all())
    return name, ids


def _waiting(client: redis.Redis, prefix: str, queue: str) -> list[dict]:
    return [json.loads(item) for item in client.lrange(prefix + queue, 0, -1)]


def test_retry_publishes_failed_jobs_of_every_stage(rader_env, redis_client):
    run, ids = _run_with_jobs(GOOD, JobState.FAILED)
    out = cli("retry", run, "--failed", "--broker", env=rader_env)
    assert out.returncode == 0, out.stdout + out.stderr
    n = len(stages.STAGES)
    assert f"re-enqueued {n} failed job(s); published {n} message(s)" in out.stdout, out.stdout
    prefix = rader_env["RADER_QUEUE_PREFIX"]
    for stage in stages.STAGES:
        messages = {m["headers"]["id"]: m["headers"]["task"]
                    for m in _waiting(redis_client, prefix, stage.queue)}
        assert messages.get(f"{stage.name}-{ids[stage.name]}") == stage.task, (stage.name, messages)
    with session_scope() as s:
        states = dict(s.execute(select(Job.stage, Job.state).where(Job.id.in_(ids.values()))).all())
    assert states == {stage: JobState.QUEUED for stage in stages.STAGE_NAMES}
    # status and cancel see every stage's jobs too
    status = cli("status", run, env=rader_env)
    assert status.returncode == 0, status.stderr
    for stage in stages.STAGE_NAMES:
        assert stage in status.stdout, (stage, status.stdout)
    cancelled = cli("cancel", run, "--stage", "judge_queries", env=rader_env)
    assert cancelled.returncode == 0 and "cancelled 1 job(s)" in cancelled.stdout, cancelled.stdout
    unknown = cli("cancel", run, "--stage", "no_such_stage", env=rader_env)
    assert unknown.returncode != 0 and "unknown stage 'no_such_stage'" in unknown.stderr


def test_malformed_payload_fails_classified_on_every_stage(rader_env, tmp_path):
    from rader_queue.queue.enqueue import publish_pending

    run, ids = _run_with_jobs({stage: payload for stage, (payload, _) in BAD.items()},
                              JobState.QUEUED)
    with session_scope() as s:
        run_id = s.scalar(select(Run.id).where(Run.name == run))
    assert sum(publish_pending(run_id, stage) for stage in stages.STAGE_NAMES) == len(BAD)
    log = tmp_path / "worker.log"
    env = worker_env(rader_env)
    from tests.process_helpers import running
    from tests.reliability.conftest import worker_command

    def failed() -> dict[str, tuple[int, str]]:
        with session_scope() as s:
            rows = s.execute(select(Job.stage, Job.attempts, Job.last_error).where(
                Job.run_id == run_id, Job.state == JobState.FAILED)).all()
        return {stage: (attempts, error) for stage, attempts, error in rows}

    def states() -> dict[str, str]:
        with session_scope() as s:
            return dict(s.execute(select(Job.stage, Job.state).where(Job.run_id == run_id)).all())

    with running(worker_command(",".join(stages.QUEUES), concurrency=2), env, log) as proc:
        try:
            wait_for(lambda: len(failed()) == len(BAD), 240, what="every malformed job failed")
        except AssertionError:
            raise AssertionError(f"job states {states()}; worker log:\n"
                                 f"{log.read_text(errors='replace')[-6000:]}") from None
        assert proc.poll() is None, Path(log).read_text()[-3000:]
    for stage, (attempts, error) in failed().items():
        field = BAD[stage][1]
        assert attempts == 1, (stage, attempts, error)          # permanent: never retried
        assert error.startswith(f"PayloadError: {stage} job payload is malformed: "), error
        assert field in error, (stage, error)


def test_celery_command_line_entry_point_has_every_stage_task():
    """`celery -A workers worker` (Celery's own CLI, Flower) finds the app with every stage's
    task, in a fresh interpreter."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = ("import workers; "
            "print(' '.join(sorted(t for t in workers.app.tasks if not t.startswith('celery.'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert set(out.stdout.split()) == {s.task for s in stages.STAGES}
