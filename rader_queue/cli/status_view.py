"""``rader-queue status``: a table per stage × state, or live progress bars with ``--watch``.

``--watch`` refreshes until every job of the run has finished (done or failed) and then exits.
On a terminal it redraws one live view; when the output is a pipe or a log file it prints one
line per stage whenever its counts change, then the full final view."""

from __future__ import annotations

import datetime as dt
import time

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from rader_queue.cli.common import console
from rader_queue.queue import heartbeats
from rader_queue.queue.reconcile import delivery_summary
from rader_queue.queue.status import RunStatus, StageProgress, run_status
from rader_queue.store import session_scope
from rader_queue.store.models import JobState
from rader_queue.terminal_text import cell, clean, escaped


def rate_text(rate: float) -> str:
    """Jobs per second, minute or hour, whichever reads without a row of zeros."""
    if rate >= 1:
        return f"{rate:.1f}/s"
    if rate * 60 >= 1:
        return f"{rate * 60:.1f}/min"
    return f"{rate * 3600:.1f}/h"


class SmoothEta:
    """An ETA that moves smoothly between refreshes: each new estimate is blended with the
    previous one counted down by the time that passed, so one early or late job does not make it
    jump by hours."""

    def __init__(self, weight: float = 0.2) -> None:
        self.weight = weight
        self.last: dict[str, tuple[float, float]] = {}   # stage -> (monotonic time, eta)

    def __call__(self, stage: StageProgress, raw: float | None, now: float | None = None) -> float | None:
        now = time.monotonic() if now is None else now
        if raw is None or raw == 0:
            self.last.pop(stage.stage, None)
            return raw
        if stage.stage in self.last:
            then, eta = self.last[stage.stage]
            raw = self.weight * raw + (1 - self.weight) * max(eta - (now - then), 0.0)
        self.last[stage.stage] = (now, raw)
        return raw


def render(status: RunStatus, eta: SmoothEta | None = None) -> Group:
    title = f"run {status.run.name}" if status.run else "all runs"
    table = Table(title=Text(clean(f"{title}: {status.problems} problems", one_line=True)),
                  title_justify="left")
    table.add_column("stage")
    for state in JobState.ALL:
        table.add_column(state, justify="right")
    table.add_column("total", justify="right")
    table.add_column("rate", justify="right")
    progress = Progress(TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[detail]}"), console=console)
    for stage in status.stages:
        rate = stage_rate(stage)
        table.add_row(cell(stage.stage), *[str(stage.counts.get(s, 0)) for s in JobState.ALL],
                      str(stage.total), rate_text(rate) if rate else "-")
        progress.add_task(escaped(stage.stage, one_line=True), total=stage.total,
                          completed=stage.finished, detail=progress_detail(stage, eta))
    parts: list = [table, progress]
    tokens = status.tokens
    parts.append(f"LLM (finished jobs): {tokens['calls']} calls "
                 f"({tokens['cache_hits']} cache hits), {tokens['prompt']:,} prompt + "
                 f"{tokens['completion']:,} completion tokens")
    if status.failures:
        failures = Table("stage", "failures", "reason", title="failures", title_justify="left")
        for stage, reason, count in status.failures:
            failures.add_row(cell(stage), str(count), cell(reason, limit=200))
        parts.append(failures)
    return Group(*parts)


def stage_rate(stage: StageProgress, now: dt.datetime | None = None) -> float | None:
    """Jobs finished per second: over first start → now while the stage still has work (so a
    stall shows as a falling rate), over first start → last finish once it is complete."""
    if stage.finished == stage.total:
        return stage.rate_per_s()
    if not stage.first_start or stage.finished == 0:
        return None
    seconds = ((now or dt.datetime.now(dt.timezone.utc)) - stage.first_start).total_seconds()
    return stage.finished / seconds if seconds > 0 else None


def eta_s(stage: StageProgress, now: dt.datetime | None = None) -> float | None:
    remaining = stage.total - stage.finished
    if remaining <= 0:
        return 0.0
    rate = stage_rate(stage, now)
    return remaining / rate if rate else None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    return str(dt.timedelta(seconds=int(round(seconds))))


def progress_detail(stage: StageProgress, smooth: SmoothEta | None = None) -> str:
    """``done 3 · failed 1 · running 2 · 0.4/s · ETA 0:00:12`` for one stage."""
    c = stage.counts
    parts = [f"done {c.get(JobState.DONE, 0)}"]
    if c.get(JobState.FAILED, 0):
        parts.append(f"[red]failed {c[JobState.FAILED]}[/]")
    if c.get(JobState.RUNNING, 0):
        parts.append(f"running {c[JobState.RUNNING]}")
    rate = stage_rate(stage)
    parts.append(rate_text(rate) if rate else "-/s")
    if stage.finished == stage.total:
        parts.append("finished")
    else:
        raw = eta_s(stage)
        parts.append(f"ETA {_duration(smooth(stage, raw) if smooth else raw)}")
    return " · ".join(parts)


def progress_line(stage: StageProgress, smooth: SmoothEta | None = None) -> str:
    """One plain line per stage for non-terminal output (logs, pipes)."""
    detail = progress_detail(stage, smooth).replace("[red]", "").replace("[/]", "")
    return f"{clean(stage.stage, one_line=True):>9} {stage.finished}/{stage.total} {detail}"


def show_status(run: str | None, *, watch: bool = False, interval: float = 2.0) -> None:
    def snapshot() -> RunStatus:
        with session_scope() as session:
            return run_status(session, run)

    def finished(status: RunStatus) -> bool:
        return bool(status.stages) and status.complete

    status = snapshot()
    if not watch:
        console.print(render(status))
        _print_workers()

        console.print(delivery_summary(), markup=False, highlight=False, soft_wrap=True)
        return
    smooth = SmoothEta()
    if not console.is_terminal:
        # A pipe or a log: a Live view would only print at the end. Print changes as lines.
        last: dict[str, tuple] = {}
        while True:
            for stage in status.stages:
                key = tuple(sorted(stage.counts.items()))
                if last.get(stage.stage) != key:
                    last[stage.stage] = key
                    stamp = dt.datetime.now().strftime("%H:%M:%S")
                    console.print(f"[{stamp}] {progress_line(stage, smooth)}", markup=False,
                                  highlight=False, soft_wrap=True)
            live = _live_line()
            if live and live != last.get("\0live"):
                last["\0live"] = live
                stamp = dt.datetime.now().strftime("%H:%M:%S")
                console.print(f"[{stamp}] {live}", markup=False, highlight=False, soft_wrap=True)
            if finished(status):
                break
            time.sleep(interval)
            status = snapshot()
        console.print(render(status))
        _print_workers()
        return
    def view(status: RunStatus) -> Group:
        line = _live_line()
        return Group(render(status, smooth), Text(line)) if line else render(status, smooth)

    with Live(view(status), console=console, refresh_per_second=4) as live:
        while not finished(status):
            time.sleep(interval)
            status = snapshot()
            live.update(view(status))


def _print_workers() -> None:
    """Live workers and their event-loop lag, from the heartbeats (issue 13)."""
    line = heartbeats.workers_line()
    if line:
        console.print(line, markup=False, highlight=False)
    live = _live_line()
    if live:
        console.print(live, markup=False, highlight=False)


def _live_line() -> str | None:
    """LLM counters of the running jobs, from the workers' heartbeats (issue 17): the ledger
    above counts finished jobs only."""
    return heartbeats.live_line()
