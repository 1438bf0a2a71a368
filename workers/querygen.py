"""``querygen`` queue: trajectory extraction (qcot, qquestion) and LLM query generation (qllmq,
qlexical), one job per finished problem (and type)."""

from __future__ import annotations

from rader_queue.queue.app import app
from rader_queue.queue.job_runner import execute
from rader_queue.querygen import tasks


def publish_judge_jobs(result: dict) -> None:
    """A finished job that added judge jobs publishes them (after its transaction committed)."""
    if result.get("judge_jobs") and result.get("run_id") is not None:
        from rader_queue.querygen.enqueue import publish

        publish(result["run_id"], stages=(tasks.JUDGE,))


@app.task(name="rader.querygen.extract", bind=True)
def extract(self, job_id: int) -> dict:
    result = execute(self, job_id, tasks.extract)
    publish_judge_jobs(result)
    return result


@app.task(name="rader.querygen.generate", bind=True)
def generate(self, job_id: int) -> dict:
    result = execute(self, job_id, tasks.generate)
    publish_judge_jobs(result)
    return result
