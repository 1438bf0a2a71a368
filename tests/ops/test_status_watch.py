"""``rader-queue status RUN --watch`` during a small real run: it shows the stage at 0/N, then
progress, failures with their reasons and token totals, and exits by itself when the run is
complete."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest

from rader_queue.cli.status_view import eta_s, progress_line, stage_rate
from rader_queue.queue.status import StageProgress
from tests.ops.conftest import CLI, ROOT, cli, enqueue_args, full_env, stop, wait_for, process, \
    wait_ready, worker_args


def failure_reason(run: str) -> str:
    from sqlalchemy import select

    from rader_queue.store import session_scope
    from rader_queue.store.models import Job, Run

    with session_scope() as s:
        return s.scalars(select(Job.last_error).join(Run, Run.id == Job.run_id)
                         .where(Run.name == run, Job.state == "failed")).first()


def test_rate_and_eta_come_from_the_live_rate():
    now = dt.datetime(2026, 1, 1, 12, 0, 10, tzinfo=dt.timezone.utc)
    stage = StageProgress("mcts", {"done": 2, "failed": 1, "running": 2, "queued": 5},
                          first_start=now - dt.timedelta(seconds=10),
                          last_finish=now - dt.timedelta(seconds=5))
    assert stage_rate(stage, now) == 0.3                  # 3 finished in 10 s (not 3 in 5 s)
    assert round(eta_s(stage, now)) == 23                  # 7 left at 0.3/s
    line = progress_line(stage)
    assert line.split()[:2] == ["mcts", "3/10"] and "failed 1" in line and "ETA" in line
    done = StageProgress("mcts", {"done": 4}, first_start=now - dt.timedelta(seconds=8),
                         last_finish=now - dt.timedelta(seconds=4))
    assert stage_rate(done, now) == 1.0 and eta_s(done, now) == 0
    assert "finished" in progress_line(done)


@pytest.mark.slow
def test_watch_follows_a_run_and_exits_when_it_completes(ops_env, unique, tmp_path):
    run = f"watch-{unique}"
    out = cli(enqueue_args(run, limit=3), ops_env)
    assert out.returncode == 0, out.stderr
    watch_log = tmp_path / "watch.log"
    worker_log = tmp_path / "worker.log"
    with open(watch_log, "wb") as sink:
        watch = subprocess.Popen([*CLI, "status", run, "--watch", "--interval", "0.5"], cwd=ROOT,
                                 env=full_env(ops_env), stdout=sink, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    try:
        # nothing consumes the queue yet: the watch shows 0 of 3 and keeps waiting
        wait_for(lambda: "mcts 0/3" in watch_log.read_text(), 120, "the 0/3 line",
                 log=watch_log, proc=watch)
        assert watch.poll() is None
        with process(worker_args(f"ops-watch-{unique}"), ops_env, worker_log) as worker:
            wait_ready(worker_log, worker)
            try:
                rc = watch.wait(240)
            except subprocess.TimeoutExpired:
                raise AssertionError("status --watch did not exit after the run completed:\n"
                                     + watch_log.read_text()[-3000:]) from None
    finally:
        stop(watch)
    text = watch_log.read_text()
    assert rc == 0, text
    assert "mcts 3/3" in text and "failed 3" in text and "finished" in text
    assert "failures" in text and failure_reason(run).split()[0] in text   # jobs.last_error
    assert "prompt" in text and "completion tokens" in text    # token totals
    assert "Traceback" not in text
