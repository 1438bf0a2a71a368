"""Read-only views of progress in SQL: per stage × state counts, failures, token totals."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import Integer, func, select
from sqlalchemy.orm import Session

from rader_queue.errors import InputError
from rader_queue.store.db import as_utc
from rader_queue.store.models import Job, JobState, LLMCall, Problem, Run


@dataclass
class StageProgress:
    stage: str
    counts: dict[str, int] = field(default_factory=dict)
    first_start: dt.datetime | None = None
    last_finish: dt.datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def finished(self) -> int:
        return (self.counts.get(JobState.DONE, 0) + self.counts.get(JobState.FAILED, 0)
                + self.counts.get(JobState.CANCELLED, 0))

    def rate_per_s(self) -> float | None:
        if not self.first_start or not self.last_finish or self.finished == 0:
            return None
        seconds = (self.last_finish - self.first_start).total_seconds()
        return self.finished / seconds if seconds > 0 else None


@dataclass
class RunStatus:
    run: Run | None
    stages: list[StageProgress]
    failures: list[tuple[str, str, int]]  # (stage, reason, count)
    problems: int
    tokens: dict[str, int]

    @property
    def complete(self) -> bool:
        return all(s.finished == s.total for s in self.stages)


def find_run(session: Session, name: str) -> Run:
    run = session.scalars(select(Run).where(Run.name == name)).one_or_none()
    if run is None:
        known = session.scalars(select(Run.name).order_by(Run.id.desc()).limit(10)).all()
        raise InputError(f"no run named {name!r}" + (f"; recent runs: {', '.join(known)}" if known else ""))
    return run


def run_status(session: Session, run_name: str | None = None) -> RunStatus:
    run = find_run(session, run_name) if run_name else None
    where = [Job.run_id == run.id] if run else []
    rows = session.execute(
        select(Job.stage, Job.state, func.count(), func.min(Job.started_at), func.max(Job.finished_at))
        .where(*where).group_by(Job.stage, Job.state)).all()
    stages: dict[str, StageProgress] = {}
    for stage, state, count, started, finished in rows:
        progress = stages.setdefault(stage, StageProgress(stage))
        progress.counts[state] = count
        if started and (progress.first_start is None or as_utc(started) < progress.first_start):
            progress.first_start = as_utc(started)
        if finished and (progress.last_finish is None or as_utc(finished) > progress.last_finish):
            progress.last_finish = as_utc(finished)
    failures = session.execute(
        select(Job.stage, Job.last_error, func.count()).where(*where, Job.state == JobState.FAILED)
        .group_by(Job.stage, Job.last_error).order_by(func.count().desc()).limit(20)).all()
    problems = session.scalar(select(func.count()).select_from(Problem)
                              .where(*([Problem.run_id == run.id] if run else [])))
    call_where = [LLMCall.run_id == run.id] if run else []
    prompt, completion, calls, hits = session.execute(
        select(func.coalesce(func.sum(LLMCall.prompt_tokens), 0),
               func.coalesce(func.sum(LLMCall.completion_tokens), 0), func.count(),
               func.coalesce(func.sum(func.cast(LLMCall.cache_hit, _int_type())), 0))
        .where(*call_where)).one()
    from rader_queue.queue.stages import order

    ordered = sorted(stages.values(), key=lambda s: order(s.stage))
    return RunStatus(run, ordered, [(s, r or "", c) for s, r, c in failures], problems or 0,
                     {"prompt": int(prompt), "completion": int(completion), "calls": int(calls),
                      "cache_hits": int(hits)})


def _int_type():
    return Integer
