"""``mcts`` queue: one task per problem."""

from __future__ import annotations

from rader_queue.queue.app import app
from rader_queue.queue.job_runner import JobContext, Outcome, execute


def placeholder_step(ctx: JobContext) -> Outcome:
    return Outcome({"placeholder": True, "problem": ctx.problem_source_id,
                    "chars": len(ctx.problem_text or "")})


@app.task(name="rader.mcts.solve", bind=True)
def solve(self, job_id: int) -> dict:
    return execute(self, job_id, placeholder_step)
