"""``mcts`` queue: one retrieval-augmented MCTS per problem."""

from __future__ import annotations

from rader_queue.queue.app import app
from rader_queue.queue.job_runner import execute
from rader_queue.trees.solve import solve_problem


@app.task(name="rader.mcts.solve", bind=True)
def solve(self, job_id: int) -> dict:
    return execute(self, job_id, solve_problem)
