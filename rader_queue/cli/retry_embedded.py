"""``rader-queue retry`` on a run of the embedded mode (a SQLite store, no broker): the failed
jobs go back to ``queued`` and are run here, with the in-process worker and the embedded model
server, as ``rader-queue run`` runs them."""

from __future__ import annotations

from rich.text import Text
from sqlalchemy import update

from rader_queue.cli.common import console
from rader_queue.cli.embedded import interruptible, process_run, resume_run, use_embedded_settings
from rader_queue.cli.quiet import quiet_third_party
from rader_queue.queue.status import find_run
from rader_queue.store import session_scope
from rader_queue.store.models import Job, JobState


def retry_here(run_name: str, *, failed: bool = True, cancelled: bool = False,
               timeout: float = 3600.0) -> int:
    """Returns the exit code (0: every job of the run done)."""
    quiet_third_party()
    use_embedded_settings(None)
    with session_scope() as session:
        run_id = find_run(session, run_name).id      # unknown run: InputError, nothing started
        count = 0
        states = [state for state, on in ((JobState.FAILED, failed),
                                          (JobState.CANCELLED, cancelled)) if on]
        if states:
            count = session.execute(update(Job).where(
                Job.run_id == run_id, Job.state.in_(states)).values(
                state=JobState.QUEUED, celery_task_id=None, finished_at=None, attempts=0,
                last_error=None)).rowcount
    pending = count + resume_run(run_name)
    console.print(Text(f"run {run_name}: {count} failed/cancelled job(s) re-queued, "
                       f"{pending} to run here"))
    if not pending:
        console.print(Text("nothing to do (use --failed or --cancelled to re-run those jobs)"))
        return 0
    with interruptible(run_name) as stack:
        return process_run(run_name, timeout=timeout, stack=stack).exit_code
