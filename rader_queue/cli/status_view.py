"""``rader-queue status``: a table per stage × state, or live progress bars with ``--watch``."""

from __future__ import annotations

import time

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from rader_queue.cli.common import console
from rader_queue.queue.status import RunStatus, run_status
from rader_queue.store import session_scope
from rader_queue.store.models import JobState


def render(status: RunStatus) -> Group:
    title = f"run {status.run.name}" if status.run else "all runs"
    table = Table(title=f"{title}: {status.problems} problems", title_justify="left")
    table.add_column("stage")
    for state in JobState.ALL:
        table.add_column(state, justify="right")
    table.add_column("total", justify="right")
    table.add_column("rate/s", justify="right")
    progress = Progress(TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=console)
    for stage in status.stages:
        rate = stage.rate_per_s()
        table.add_row(stage.stage, *[str(stage.counts.get(s, 0)) for s in JobState.ALL],
                      str(stage.total), f"{rate:.2f}" if rate else "-")
        progress.add_task(stage.stage, total=stage.total, completed=stage.finished,
                          rate=f"{rate:.2f}/s" if rate else "")
    parts: list = [table, progress]
    tokens = status.tokens
    parts.append(f"LLM: {tokens['calls']} calls ({tokens['cache_hits']} cache hits), "
                 f"{tokens['prompt']:,} prompt + {tokens['completion']:,} completion tokens")
    if status.failures:
        failures = Table("stage", "failures", "reason", title="failures", title_justify="left")
        for stage, reason, count in status.failures:
            failures.add_row(stage, str(count), reason[:200])
        parts.append(failures)
    return Group(*parts)


def show_status(run: str | None, *, watch: bool = False, interval: float = 2.0) -> None:
    def snapshot() -> RunStatus:
        with session_scope() as session:
            return run_status(session, run)

    status = snapshot()
    if not watch:
        console.print(render(status))
        return
    with Live(render(status), console=console, refresh_per_second=4) as live:
        while not status.complete or not status.stages:
            time.sleep(interval)
            status = snapshot()
            live.update(render(status))
