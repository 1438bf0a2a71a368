"""The embedded one-command mode (``rader-queue run``): the whole pipeline path in one process.

SQLite instead of PostgreSQL, Celery's in-memory broker with an in-process worker instead of
Redis and worker processes, the embedded CPU model server instead of vLLM, the in-process MiniLM
embedder. The code path is the production one: the same tasks, the same SQL writes."""

from __future__ import annotations

import os
import time
from contextlib import ExitStack

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rader_queue.cli.common import console
from rader_queue.errors import RaderError


TOKEN_LIMITS = ("max_tokens_ost", "max_tokens_crs", "max_tokens_qg", "max_tokens_summary",
                "max_tokens_reflection")


def capped_tokens(cap: int | None) -> dict[str, int]:
    """MCTS generation limits lowered to ``cap`` (a 135M model on a CPU rambles to the limit)."""
    if cap is None:
        return {}
    from rader_queue.mcts import MCTSConfig

    defaults = MCTSConfig()
    return {name: min(getattr(defaults, name), cap) for name in TOKEN_LIMITS}


def run_embedded(dataset: str, *, limit: int, split: str, run_name: str | None, rollouts: int,
                 max_depth: int, database_url: str | None, timeout: float,
                 concurrency: int = 8, max_tokens: int | None = None,
                 engine: str = "llamacpp") -> None:
    from celery.contrib.testing.worker import start_worker

    from rader_queue.cli.status_view import render
    from rader_queue.pipeline import build_run_config, enqueue_dataset
    from rader_queue.queue import app as app_module
    from rader_queue.queue.status import run_status
    from rader_queue.settings import get_settings
    from rader_queue.queue.run_names import validate_run_name
    from rader_queue.store import session_scope, upgrade

    if run_name is not None:
        validate_run_name(run_name)     # before the database is touched
    if database_url:
        os.environ["RADER_DATABASE_URL"] = database_url
    os.environ["RADER_BROKER_URL"] = "memory://localhost/"
    get_settings.cache_clear()
    settings = get_settings()
    app_module.use_settings(settings)
    upgrade()
    with ExitStack() as stack:
        if engine not in ("llamacpp", "vllm"):
            raise RaderError(f"--engine must be llamacpp or vllm, not {engine!r}")
        if _needs_model_server() and not settings.llm_base_url and engine == "vllm":
            from rader_queue.llm.embedded_vllm import vllm_server

            console.print("starting the embedded model server (SmolLM2-135M-Instruct, vLLM CPU)…")
            server = stack.enter_context(vllm_server())
            os.environ["RADER_LLM_BASE_URL"] = server.base_url
            os.environ["RADER_LLM_MODEL"] = server.model
            os.environ["RADER_LLM_STRUCTURED_OUTPUTS"] = "vllm"       # readable verdicts
            get_settings.cache_clear()
        elif _needs_model_server() and not settings.llm_base_url:
            from rader_queue.llm.embedded_server import embedded_server

            console.print("starting the embedded model server (SmolLM2-135M-Instruct, CPU)…")
            server = stack.enter_context(embedded_server(port=0))
            os.environ["RADER_LLM_BASE_URL"] = server.base_url
            os.environ["RADER_LLM_MODEL"] = server.model
            os.environ["RADER_LLM_STRUCTURED_OUTPUTS"] = "llamacpp"   # readable verdicts
            get_settings.cache_clear()
        config = build_run_config(rollouts=rollouts, max_depth=max_depth,
                                  **capped_tokens(max_tokens))
        stack.enter_context(start_worker(app_module.app, pool="threads", concurrency=concurrency,
                                         perform_ping_check=False, loglevel="WARNING",
                                         shutdown_timeout=30.0))
        report = enqueue_dataset(dataset, split=split, limit=limit, run_name=run_name,
                                 config=config, echo=console.print)
        console.print(f"run [bold]{report.run}[/]: {report.jobs_new} new job(s) "
                      f"({report.published} published) on the in-process worker")
        started = time.monotonic()
        deadline, next_line = started + timeout, started + 30
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as progress:
            bar = progress.add_task("problems", total=None)
            while True:
                with session_scope() as session:
                    status = run_status(session, report.run)
                total = sum(s.total for s in status.stages)
                finished = sum(s.finished for s in status.stages)
                progress.update(bar, total=total, completed=finished)
                if status.complete:
                    break
                now = time.monotonic()
                if now > deadline:
                    raise RaderError(f"run {report.run} did not finish within {timeout:.0f} s")
                if not console.is_terminal and now >= next_line:  # logs get a line, not a bar
                    console.print(f"{finished}/{total} problems finished after {now - started:.0f} s")
                    next_line = now + 30
                time.sleep(0.5)
    console.print(render(status))


def _needs_model_server() -> bool:
    """The MCTS task talks to a generator once the MCTS stage is wired in."""
    from rader_queue.queue.app import WORKER_MODULES

    import importlib

    return getattr(importlib.import_module("workers.mcts"), "NEEDS_GENERATOR", False) and \
        "workers.mcts" in WORKER_MODULES
