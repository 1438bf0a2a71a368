"""Solving one problem as a job: the run's config → an :class:`LLMPolicy` over the worker's
``mcts`` generator and retriever (:class:`rader_queue.context.WorkerContext`) → ``run_search`` on the worker's event loop → rows to persist."""

from __future__ import annotations

import logging
import time

from rader_queue.errors import TaskFailed
from rader_queue.llm.ledger import Ledger
from rader_queue.mcts import LLMPolicy, MCTSConfig, run_search
from rader_queue.queue import runtime
from rader_queue.job_context import JobContext, Outcome
from rader_queue.trees.persist import write_tree

log = logging.getLogger("rader_queue.mcts")


def solve_problem(ctx: JobContext) -> Outcome:
    if not ctx.problem_text or ctx.problem_id is None:
        raise TaskFailed(f"job {ctx.job_id} has no problem attached")
    config = MCTSConfig.model_validate(ctx.run_config.get("mcts") or {})
    kind = ctx.run_config.get("retriever", "dense")
    theorems = ctx.worker.retriever(ctx.run_config.get("corpus", "theoremqa"), kind,
                                    float(ctx.run_config.get("hybrid_alpha", 0.5)))
    ledger = Ledger()
    generator = ctx.worker.generator("mcts").bind(ledger=ledger, run_id=ctx.run_id,
                                           problem_id=ctx.problem_id)
    policy = LLMPolicy(generator, theorems, ctx.gold_answer or "", config)
    started = time.monotonic()
    log.info("problem %s: search starts (%d problems in flight, %d requests in flight)",
             ctx.problem_source_id, runtime.in_flight() + 1, generator.in_flight)
    result = runtime.run(run_search(ctx.problem_text, policy, config))
    seconds = time.monotonic() - started
    totals = ledger.totals()
    summary = {"problem": ctx.problem_source_id, "seconds": round(seconds, 3), "calls": totals.calls,
               "cache_hits": totals.cache_hits, "prompt_tokens": totals.prompt_tokens,
               "completion_tokens": totals.completion_tokens}

    def persist(session) -> None:
        summary.update(write_tree(session, ctx.problem_id, result, retriever=kind,
                                  model=generator.model))
        ledger.flush(session, ctx.run_id, ctx.problem_id)

    log.info("problem %s: %d nodes in %.1fs, %d calls", ctx.problem_source_id, len(result.nodes),
             seconds, totals.calls)
    return Outcome(summary, persist)
