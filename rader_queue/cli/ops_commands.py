"""Operator commands of the delivery guarantee (issue 15): ``cancel``, ``delete``,
``reconcile`` and ``deadletter list|show|drop``. Registered in :mod:`rader_queue.cli.main`."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Optional

import typer

from rader_queue.cli.common import console, friendly_errors
from rader_queue.errors import InputError

deadletter_app = typer.Typer(no_args_is_help=True, help="Messages no worker can run (poison): "
                             "list, show and drop them.")


@friendly_errors
def cancel(run: Annotated[str, typer.Argument(help="Run name.")],
           stage: Annotated[Optional[str], typer.Option(help="Only this stage's jobs.")] = None) -> None:
    """Cancel a run's queued and running jobs; workers drop their messages without work."""
    from rader_queue.queue.run_ops import cancel_run

    console.print(f"cancelled {cancel_run(run, stage)} job(s)")


@friendly_errors
def delete(run: Annotated[str, typer.Argument(help="Run name.")],
           yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False) -> None:
    """Delete a run: its rows (problems, jobs, trees, …) and its waiting broker messages."""
    from rader_queue.queue.run_ops import delete_run

    if not yes and not typer.confirm(f"delete run {run!r} and everything it produced?"):
        raise typer.Exit(1)
    counts = delete_run(run)
    console.print(f"deleted run {run}: {counts['jobs']} job(s), {counts['messages']} waiting "
                  "message(s)")


@friendly_errors
def reconcile(run: Annotated[Optional[str], typer.Option(help="Only this run's jobs.")] = None,
              grace: Annotated[Optional[float], typer.Option(help="Seconds a queued job's message may be in flight (default RADER_RECONCILE_GRACE_S).")] = None) -> None:
    """One reconciler pass now: publish queued jobs that have no message, release and publish
    jobs whose lease expired."""
    from rader_queue.queue.reconcile import reconcile_once
    from rader_queue.queue.status import find_run
    from rader_queue.store import session_scope

    run_id = None
    if run:
        with session_scope() as session:
            run_id = find_run(session, run).id
    console.print(reconcile_once(force=True, run_id=run_id, grace_s=grace).line(),
                  markup=False, highlight=False, soft_wrap=True)


@deadletter_app.command("list")
@friendly_errors
def deadletter_list(limit: Annotated[int, typer.Option(min=1)] = 50) -> None:
    """Newest first: id, time, queue, task and reason."""
    from rader_queue.queue import deadletter

    entries = deadletter.entries(limit)
    for e in entries:
        when = dt.datetime.fromtimestamp(e.get("time") or 0, dt.timezone.utc)
        console.print(f"{e.get('id')}  {when:%Y-%m-%d %H:%M:%S}  {e.get('queue')}  "
                      f"{e.get('task') or '-'}  {e.get('reason')}", markup=False,
                      highlight=False, soft_wrap=True)
    console.print(f"{deadletter.count()} dead-letter message(s)")


@deadletter_app.command("show")
@friendly_errors
def deadletter_show(entry_id: Annotated[str, typer.Argument(help="Entry id (from list).")]) -> None:
    """One entry as JSON, raw message included."""
    from rader_queue.queue import deadletter

    entry = deadletter.find(entry_id)
    if entry is None:
        raise InputError(f"no dead-letter entry {entry_id!r}")
    console.print(json.dumps(entry, indent=2), markup=False, highlight=False, soft_wrap=True)


@deadletter_app.command("drop")
@friendly_errors
def deadletter_drop(entry_id: Annotated[Optional[str], typer.Argument(help="Entry id.")] = None,
                    all_: Annotated[bool, typer.Option("--all", help="Drop every entry.")] = False) -> None:
    """Remove one entry, or all with --all."""
    from rader_queue.queue import deadletter

    if not entry_id and not all_:
        raise InputError("give an entry id or --all")
    n = deadletter.drop(None if all_ else entry_id)
    if entry_id and not all_ and n == 0:
        raise InputError(f"no dead-letter entry {entry_id!r}")
    console.print(f"dropped {n} dead-letter message(s)")


def register(app: typer.Typer) -> None:
    app.command()(cancel)
    app.command()(delete)
    app.command()(reconcile)
    app.add_typer(deadletter_app, name="deadletter")
