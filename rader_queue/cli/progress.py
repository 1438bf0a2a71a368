"""Progress of an embedded run as a person reads it: one bar per stage plus a live line (problems
in flight, LLM calls and tokens/s from this process's own counters, the last event), and at the
end a summary of what the run found and what to run next.

Data strings (problem ids, error reasons) are printed through :class:`rich.text.Text`, never as
markup."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy import distinct, func, select

from rader_queue.cli.common import console
from rader_queue.cli.outcome import Outcome
from rader_queue.queue.status import run_status
from rader_queue.store import session_scope
from rader_queue.store.models import JobState, Judgement, LLMCall, Problem, Run, Solution, TreeNode


def llm_counters() -> tuple[int, int]:
    """(calls, completion tokens) of every generator call of this process so far, including
    the jobs still running (read from the in-process Prometheus counters)."""
    try:
        from rader_queue.ops.metrics import REGISTRY
    except ImportError:  # pragma: no cover - metrics are part of the package
        return 0, 0
    calls = tokens = 0.0
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name == "rader_llm_calls_total":
                calls += sample.value
            elif sample.name == "rader_llm_completion_tokens_total":
                tokens += sample.value
    return int(calls), int(tokens)


class Rate:
    """Tokens per second over the last ``window_s`` seconds (a smoothed, live rate)."""

    def __init__(self, window_s: float = 20.0) -> None:
        self.window_s = window_s
        self.samples: collections.deque[tuple[float, int]] = collections.deque()

    def add(self, value: int, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        self.samples.append((now, value))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.window_s:
            self.samples.popleft()
        (t0, v0), (t1, v1) = self.samples[0], self.samples[-1]
        return (v1 - v0) / (t1 - t0) if t1 > t0 else 0.0


class RunProgress:
    """Polls the run's status in SQL until every job of ``stages`` (default: all) finished."""

    def __init__(self, run_name: str, stages: tuple[str, ...] | None = None,
                 interval_s: float = 0.5, line_every_s: float = 15.0) -> None:
        self.run_name, self.stages = run_name, stages
        self.interval_s, self.line_every_s = interval_s, line_every_s
        self.rate = Rate()
        self.base_calls, self.base_tokens = llm_counters()
        self.last_event = "waiting for the first result"
        self.seen: dict[str, tuple[int, int]] = {}

    def snapshot(self):
        with session_scope() as session:
            status = run_status(session, self.run_name)
        if self.stages:
            status.stages = [s for s in status.stages if s.stage in self.stages]
        return status

    def detail(self, status) -> Text:
        calls, tokens = llm_counters()
        calls, tokens = calls - self.base_calls, tokens - self.base_tokens
        rate = self.rate.add(tokens)
        running = sum(s.counts.get(JobState.RUNNING, 0) for s in status.stages)
        for stage in status.stages:
            now = (stage.counts.get(JobState.DONE, 0), stage.counts.get(JobState.FAILED, 0))
            before = self.seen.get(stage.stage, (0, 0))
            if now != before and stage.stage in self.seen:
                verb = "failed" if now[1] > before[1] else "done"
                self.last_event = f"{stage.stage} job {verb} ({now[0]} done, {now[1]} failed)"
            self.seen[stage.stage] = now
        return Text(f"in flight {running} · LLM {calls} calls, {tokens:,} tokens, "
                    f"{rate:.0f} tokens/s · last: {self.last_event}")

    def view(self, progress: Progress, bars: dict, status) -> Group:
        for stage in status.stages:
            if stage.stage not in bars:
                bars[stage.stage] = progress.add_task(stage.stage, total=stage.total)
            progress.update(bars[stage.stage], total=stage.total, completed=stage.finished)
        return Group(progress, self.detail(status))

    def wait(self, timeout: float, watch: Callable[[], None] | None = None):
        """Show progress until every job has finished or ``timeout`` passes; ``watch`` is
        called on every poll and may raise to stop waiting (a dead model server)."""
        started = time.monotonic()
        deadline, next_line = started + timeout, started + self.line_every_s
        progress = Progress(TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=console)
        bars: dict[str, int] = {}
        status = self.snapshot()
        timed_out = False
        live = Live(self.view(progress, bars, status), console=console, refresh_per_second=4,
                    transient=False) if console.is_terminal else None
        try:
            if live:
                live.start()
            while not (status.stages and status.complete):
                if watch is not None:
                    watch()
                now = time.monotonic()
                if now > deadline:
                    timed_out = True
                    break
                if live:
                    live.update(self.view(progress, bars, status))
                elif now >= next_line:         # logs and pipes get a line, not a bar
                    done = sum(s.finished for s in status.stages)
                    total = sum(s.total for s in status.stages)
                    line = Text(f"[{now - started:.0f} s] {done}/{total} jobs finished · ")
                    console.print(line + self.detail(status), soft_wrap=True)
                    next_line = now + self.line_every_s
                time.sleep(self.interval_s)
                status = self.snapshot()
            if live:
                live.update(self.view(progress, bars, status))
        finally:
            if live:
                live.stop()
        failed = sum(s.counts.get("failed", 0) for s in status.stages)
        done = sum(s.counts.get("done", 0) for s in status.stages)
        total = sum(s.total for s in status.stages)
        if timed_out:
            console.print(Text(f"run {self.run_name}: {total - done - failed} job(s) unfinished "
                               f"after the --timeout of {timeout:.0f} s", style="red"))
        for stage, reason, count in status.failures[:5]:
            console.print(Text(f"{stage}: {count} failed: {reason[:300]}", style="red"),
                          soft_wrap=True)
        return Outcome(self.run_name, total, done, failed, timed_out,
                       wall_s=time.monotonic() - started)


def summary(run_name: str, wall_s: float) -> Table:
    """Solved / unsolved problems, retrieval nodes, positives and hard negatives, cost."""
    with session_scope() as s:
        run_id = s.scalar(select(Run.id).where(Run.name == run_name))
        problems = s.scalar(select(func.count()).select_from(Problem).where(Problem.run_id == run_id))
        in_run = select(Problem.id).where(Problem.run_id == run_id)
        solved = s.scalar(select(func.count(distinct(Solution.problem_id))).where(
            Solution.problem_id.in_(in_run), Solution.reward >= 1.0))
        positive_paths = s.scalar(select(func.count()).select_from(Solution).where(
            Solution.problem_id.in_(in_run), Solution.reward >= 1.0,
            Solution.has_retrieval.is_(True)))
        retrieval = s.scalar(select(func.count()).select_from(TreeNode).where(
            TreeNode.problem_id.in_(in_run), TreeNode.node_type == "retrieval"))
        positives = s.scalar(select(func.count()).select_from(Judgement).where(
            Judgement.problem_id.in_(in_run), Judgement.label.is_(True)))
        negatives = s.scalar(select(func.count()).select_from(Judgement).where(
            Judgement.problem_id.in_(in_run), Judgement.label.is_(False)))
        calls, completion = s.execute(select(func.count(), func.sum(LLMCall.completion_tokens))
                                      .where(LLMCall.run_id == run_id)).one()
    table = Table(title=f"run {run_name}", title_justify="left", show_header=False)
    table.add_column(justify="right")
    table.add_column()
    table.add_row("problems", f"{solved} solved, {problems - solved} unsolved (of {problems})")
    table.add_row("retrieval nodes", str(retrieval))
    table.add_row("theorems judged", f"{positives} relevant, {negatives} rejected (hard negatives)")
    table.add_row("positives", f"{positive_paths} solved trajectory(ies) used a retrieved theorem")
    table.add_row("LLM", f"{calls} calls, {int(completion or 0):,} completion tokens")
    table.add_row("wall time", f"{wall_s:.0f} s ({wall_s / max(problems, 1):.0f} s per problem)")
    return table


def next_commands(run_name: str, first_problem: str = "0") -> Text:
    """One command per line (printed with soft wrap: each stays one line to copy)."""
    return Text("next:\n"
                f"  rader-queue tree {run_name} {first_problem}      # a problem's search tree\n"
                f"  rader-queue report {run_name}      # HTML report in ./report\n"
                f"  rader-queue dataset build {run_name} --name {run_name} --local"
                "      # training rows")
