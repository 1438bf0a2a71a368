"""The ``eval`` stage's body: evaluate one model on one benchmark
(:func:`rader_queue.evaluation.runner.run_eval`: score files and the ``eval_results`` rows,
unique by model, benchmark and config hash, so a repeated job rewrites the same rows)."""

from __future__ import annotations

from pathlib import Path

from rader_queue.queue.job_runner import JobContext, Outcome
from rader_queue.settings import get_settings


def eval_job(ctx: JobContext) -> Outcome:
    from rader_queue.evaluation.runner import EvalConfig, run_eval

    p = ctx.params
    out = str(Path(p.out_dir).resolve()) if p.out_dir else None    # paths in SQL: the worker's
    return Outcome(run_eval(EvalConfig(**p.config), db_url=get_settings().db_url,
                            out_dir=out).summary())
