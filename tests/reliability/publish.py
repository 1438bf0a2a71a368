"""Publishing jobs' broker messages from a test to a broker of the test's choosing.

``rader_queue.queue.app.app`` is configured once, at import, from the settings of that moment;
a test that points ``RADER_BROKER_URL`` at a private redis-server (or changes the key prefix)
publishes through a fresh app built from the settings as they are now."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import select

from rader_queue.store import session_scope
from rader_queue.store.models import Job, Run


@contextmanager
def sender(stage: str = "mcts") -> Iterator[Callable[[int], str]]:
    """``send(job_id) -> task id`` on the broker and prefix of the current environment."""
    from rader_queue.queue.app import create_app
    from rader_queue.queue.publish import send_job
    from rader_queue.settings import get_settings

    get_settings.cache_clear()
    app = create_app(get_settings())

    def send(job_id: int) -> str:
        return send_job(app, stage, job_id)

    try:
        yield send
    finally:
        app.close()


def job_rows(run_name: str, db_url: str | None = None) -> list[dict]:
    """Every job of the run: id, state, attempts, worker, started_at, finished_at, last_error."""
    with session_scope(db_url) as s:
        rows = s.execute(select(Job.id, Job.state, Job.attempts, Job.worker, Job.started_at,
                                Job.finished_at, Job.last_error)
                         .join(Run, Run.id == Job.run_id).where(Run.name == run_name)
                         .order_by(Job.id)).all()
    return [r._asdict() for r in rows]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
