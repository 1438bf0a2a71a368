"""The ``eval`` stage's body: evaluate one model on one benchmark
(:func:`rader_queue.evaluation.runner.run_eval`: score files and the ``eval_results`` rows,
unique by model, benchmark and config hash, so a repeated job rewrites the same rows)."""

from __future__ import annotations

from pathlib import Path

from typing import Any

from pydantic import field_validator

from rader_queue.evaluation.runner import EvalConfig, run_eval
from rader_queue.job_context import JobContext, Outcome
from rader_queue.queue.payloads import Payload, valid_config


class EvalPayload(Payload):
    config: dict[str, Any]
    out_dir: str | None = None

    _config = field_validator("config")(valid_config(EvalConfig, "evaluation config"))


def eval_job(ctx: JobContext) -> Outcome:
    p = ctx.params
    out = str(Path(p.out_dir).resolve()) if p.out_dir else None    # paths in SQL: the worker's
    return Outcome(run_eval(EvalConfig.model_validate(p.config), db_url=ctx.worker.settings.db_url,
                            out_dir=out).summary())
