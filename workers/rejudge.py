"""``judge`` queue: re-judge a problem's stored MCTS retrievals with another model."""

from __future__ import annotations

from rader_queue.queue.app import app
from rader_queue.queue.job_runner import execute
from rader_queue.trees.rejudge import rejudge_problem


@app.task(name="rader.judge.rejudge", bind=True)
def rejudge(self, job_id: int) -> dict:
    return execute(self, job_id, rejudge_problem)
