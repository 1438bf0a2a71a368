"""Extraction, query generation and the query judge for a whole run in this process (no broker):
what ``rader-queue dataset build --local`` and the embedded mode use for small runs. Same
functions, same rows and keys as the queued stages; the LLM calls of all problems run
concurrently on the shared event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from rader_queue.llm.ledger import Ledger
from rader_queue.querygen import generation
from rader_queue.querygen.options import QuerygenOptions, row_key
from rader_queue.querygen.samples import load_samples
from rader_queue.querygen.store import (apply_verdicts, existing_keys, finished_problems, make_env,
                                        rows_to_judge, write_rows)
from rader_queue.queue import runtime
from rader_queue.queue.status import find_run
from rader_queue.store import session_scope

Progress = Callable[[str, int, int], None]      # (phase, done, total)


@dataclass
class LocalReport:
    problems: int = 0
    samples: int = 0
    rows_new: dict[str, int] = field(default_factory=dict)
    dropped: int = 0
    judged: int = 0
    judge_rejected: int = 0
    missing_docs: list[str] = field(default_factory=list)


def run_local(run_name: str, options: QuerygenOptions, *, progress: Progress | None = None,
              generator=None, worker=None) -> LocalReport:
    """Write the run's query rows (and verdicts with ``options.judge``) in-process. Queries come
    from the ``querygen`` stage's endpoint and verdicts from the ``judge`` stage's (both
    ``generator`` when given), through ``worker`` (default: this process's context)."""
    tick = progress or (lambda phase, done, total: None)
    with session_scope() as session:
        run = find_run(session, run_name)
        run_id, config = run.id, dict(run.config or {})
        problems = [(p.id, p.source_id) for p in finished_problems(session, run_id)]
    llm = options.judge or any(t in options.types for t in ("qllmq", "qlexical"))
    ledger = Ledger()
    if worker is None:
        from rader_queue import context

        worker = context.current()
    query_gen = generator or (worker.generator("querygen") if llm else None)
    judge_gen = generator or (worker.generator("judge") if options.judge else None)
    view = query_gen.bind(ledger=ledger, run_id=run_id, problem_id=None) if llm else None
    env = make_env(run_id, config, options, generator=view,
                   need_dense="qlexical" in options.types, worker=worker)
    report = LocalReport(problems=len(problems))
    tick("querygen", 0, len(problems))

    def load(problem_id: int):
        with session_scope() as session:
            samples = load_samples(session, problem_id, min_reward=options.min_reward,
                                   unparsed_as_negative=options.unparsed_as_negative)
            keys = generation.llm_keys(samples) + [row_key("qlexical", s.doc_id) for s in samples]
            return samples, existing_keys(session, run_id, keys)

    async def problem(problem_id: int) -> list[dict]:
        samples, skip = await asyncio.to_thread(load, problem_id)
        report.samples += len(samples)
        rows = [r for r in generation.static_rows(env, samples) if r["query_type"] in options.types]
        if "qllmq" in options.types:
            rows += await generation.llm_query_rows(env, samples, skip)
        if "qlexical" in options.types:
            rows += await generation.lexical_rows(env, samples, skip)
        return rows

    async def all_problems() -> list[dict]:
        out: list[dict] = []
        tasks = [asyncio.ensure_future(problem(pid)) for pid, _ in problems]
        for done, task in enumerate(asyncio.as_completed(tasks), 1):
            out += await task
            tick("querygen", done, len(problems))
        return out

    rows = runtime.run(all_problems())
    rows.sort(key=lambda r: r["key"])
    with session_scope() as session:
        for qtype in options.types:
            report.rows_new[qtype] = write_rows(session, [r for r in rows if r["query_type"] == qtype])
        ledger.flush(session, run_id, None)
    report.dropped = sum(1 for r in rows if not r["kept"])
    if options.judge:
        with session_scope() as session:
            pending = rows_to_judge(session, run_id, query_types=options.types)
        tick("judge", 0, len(pending))
        judge_env = replace(env, generator=judge_gen.bind(ledger=ledger, run_id=run_id,
                                                          problem_id=None))
        updates = runtime.run(generation.judge_rows(judge_env, pending))
        tick("judge", len(pending), len(pending))
        with session_scope() as session:
            apply_verdicts(session, updates)
            ledger.flush(session, run_id, None)
        report.judged = len(updates)
        report.judge_rejected = sum(1 for u in updates if u["judge_label"] is False)
    report.missing_docs = sorted(env.missing_docs)
    return report
