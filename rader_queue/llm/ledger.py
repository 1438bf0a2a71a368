"""The cost ledger: one :class:`CallRecord` per ``Generator.generate`` call.

:class:`Ledger` buffers records in memory (the small ``add`` protocol the generator uses). A
worker flushes them into ``llm_calls`` in the same transaction that writes its results
(``ledger.flush(session, run_id, problem_id)``), so a redelivered task never double-counts: the
records land exactly when the results do.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field

from sqlalchemy.orm import Session

from rader_queue.store.models import LLMCall


@dataclass
class CallRecord:
    stage: str
    model: str
    n: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cache_hit: bool = False
    attempts: int = 1
    error: str | None = None
    run_id: int | None = None
    problem_id: int | None = None
    finish_reason: str | None = None     # e.g. "stop", "length", "length,stop" (issue 13)

    def row(self, run_id: int | None = None, problem_id: int | None = None) -> dict:
        out = asdict(self)
        out["run_id"] = run_id if run_id is not None else self.run_id
        out["problem_id"] = problem_id if problem_id is not None else self.problem_id
        return out


@dataclass
class Totals:
    calls: int = 0
    cache_hits: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    attempts: int = 0
    by_stage: dict[str, int] = field(default_factory=dict)


class Ledger:
    """In-memory records; thread- and task-safe appends; flushed by the caller's transaction."""

    def __init__(self) -> None:
        self.records: list[CallRecord] = []
        self._lock = threading.Lock()

    async def add(self, record: CallRecord) -> None:
        with self._lock:
            self.records.append(record)

    def totals(self) -> Totals:
        t = Totals()
        with self._lock:
            records = list(self.records)
        for r in records:
            t.calls += 1
            t.cache_hits += r.cache_hit
            t.errors += r.error is not None
            t.prompt_tokens += r.prompt_tokens
            t.completion_tokens += r.completion_tokens
            t.latency_s += r.latency_s
            t.attempts += r.attempts
            t.by_stage[r.stage] = t.by_stage.get(r.stage, 0) + 1
        return t

    def flush(self, session: Session, run_id: int | None = None,
              problem_id: int | None = None) -> int:
        """Add every buffered record to ``session`` (the caller commits) and clear the buffer.
        Returns the number of rows added."""
        with self._lock:
            records, self.records = self.records, []
        session.add_all([LLMCall(**r.row(run_id, problem_id)) for r in records])
        return len(records)

