"""``eval`` queue: ``rader.eval.run`` evaluates one model on one benchmark. Decodes an
EvalConfig dict and calls :func:`rader_queue.evaluation.runner.run_eval`, which writes the score
files and the ``eval_results``/``eval_query_results`` rows (unique by model, benchmark and
config hash, so a redelivered task rewrites the same rows)."""

from __future__ import annotations

from pathlib import Path

from rader_queue.errors import ConfigError, InputError, TaskFailed
from rader_queue.queue.app import app
from rader_queue.settings import get_settings


@app.task(name="rader.eval.run", bind=True, acks_late=True)
def eval_task(self, config: dict, out_dir: str | None = None) -> dict:
    from rader_queue.evaluation.runner import EvalConfig, run_eval

    try:
        cfg = EvalConfig.model_validate(config)
        out = str(Path(out_dir).resolve()) if out_dir else None  # paths in SQL: the worker's
        return run_eval(cfg, db_url=get_settings().db_url, out_dir=out).summary()
    except (ConfigError, InputError) as exc:
        raise TaskFailed(f"eval {config.get('model')!r} on {config.get('benchmark')!r}: {exc}") from exc
