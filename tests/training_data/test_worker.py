"""The queued path: ``dataset querygen`` writes extract / querygen / judge jobs, a real worker
process consumes the querygen and judge queues, and ``dataset build`` assembles the rows."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from rader_queue.querygen import QuerygenOptions, enqueue_querygen
from rader_queue.queue.status import find_run
from rader_queue.store import session_scope
from rader_queue.store.models import GeneratedQuery, Job, JobState
from rader_queue.training_data import BuildOptions, build_dataset, validate_jsonl
from tests.process_helpers import running, wait_for, worker_cmd

STAGES = ("extract", "querygen", "judge_queries")


def _jobs(run_id):
    with session_scope() as s:
        return dict(((stage, state), n) for stage, state, n in s.execute(
            select(Job.stage, Job.state, func.count()).where(Job.run_id == run_id,
                                                            Job.stage.in_(STAGES))
            .group_by(Job.stage, Job.state)).all())


@pytest.mark.slow
def test_worker_runs_querygen_and_judge_jobs(qg_env, scripted_run, tmp_path):
    types = ("qcot", "qquestion", "qllmq")
    options = QuerygenOptions(types=types, judge=True)
    report = enqueue_querygen(scripted_run, options)
    assert report.jobs_new == {"extract": 3, "querygen": 3, "judge_queries": 0}
    assert report.published == 6
    log = tmp_path / "worker.log"
    # extract adds qcot + qquestion judge jobs per problem, each qllmq job one: 9 in all
    expected = {("extract", JobState.DONE): 3, ("querygen", JobState.DONE): 3,
                ("judge_queries", JobState.DONE): 9}
    with running(worker_cmd("querygen,judge", concurrency=4), qg_env, log):
        wait_for(lambda: _jobs(report.run_id) == expected, timeout=100, what="querygen jobs",
                 log_path=log)
    again = enqueue_querygen(scripted_run, options)
    assert sum(again.jobs_new.values()) == 0 and again.published == 0

    with session_scope() as s:
        run = find_run(s, scripted_run)
        rows = list(s.scalars(select(GeneratedQuery).where(GeneratedQuery.run_id == run.id)))
    assert {r.query_type for r in rows} == set(types)
    assert all(r.judge_label is not None for r in rows if r.kept)

    built = build_dataset(scripted_run, "queued", BuildOptions(types=types), out_dir=tmp_path)
    assert all(built.counts[t] > 0 for t in types)
    assert validate_jsonl(built.jsonl_path) == built.counts["all"]
