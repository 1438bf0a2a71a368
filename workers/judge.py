"""``judge`` queue: relevance judgements after the search.

``rader.judge.queries``: does the positive theorem help answer each generated query of one
problem and type? Rejected rows stay in ``generated_queries`` with ``judge_label`` False."""

from __future__ import annotations

from rader_queue.queue.app import app
from rader_queue.queue.job_runner import execute
from rader_queue.querygen import tasks


@app.task(name="rader.judge.queries", bind=True)
def judge_queries(self, job_id: int) -> dict:
    return execute(self, job_id, tasks.judge)
