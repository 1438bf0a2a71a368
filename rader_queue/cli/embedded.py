"""The embedded one-command mode (``rader-queue run``): the whole pipeline path in one process.

SQLite instead of PostgreSQL, Celery's in-memory broker with an in-process worker instead of
Redis and worker processes, the embedded CPU model server instead of vLLM, the in-process MiniLM
embedder. The code path is the production one: the same tasks, the same SQL writes.

Order of work: every input is checked (dataset, corpus, options) and the jobs are written to SQL
before anything slow starts (model server, worker). Jobs of the run that an earlier, interrupted
command left ``queued`` or ``running`` (its process is gone) are published again, so re-running
the same command resumes. Ctrl-C (or SIGTERM) stops within seconds: the model server is stopped
and the process exits 130 without waiting for the searches in flight, whose jobs stay in SQL for
the next run.

Exit codes (:data:`EXIT_OK` …): 0 every job done; 1 a job failed or the run timed out; 2 bad
input; 3 bad configuration; 4 store error; 5 broker error; 7 the model server this process
started died mid-run (the run stops at once instead of retrying a dead endpoint; the same
command resumes); 130 interrupted.
"""

from __future__ import annotations

import os
import signal
import sys
from contextlib import ExitStack
from typing import Any

from rich.text import Text

from rader_queue.cli.common import console
from rader_queue.cli.outcome import EXIT_INTERRUPTED, EXIT_JOBS_FAILED, EXIT_OK, Outcome  # noqa: F401

TOKEN_LIMITS = ("max_tokens_ost", "max_tokens_crs", "max_tokens_qg", "max_tokens_summary",
                "max_tokens_reflection")
THROUGH = ("mcts", "dataset", "train", "eval")
ENGINES = ("auto", "llamacpp", "vllm")


def capped_tokens(cap: int | None) -> dict[str, int]:
    """MCTS generation limits lowered to ``cap`` (a 135M model on a CPU rambles to the limit)."""
    if cap is None:
        return {}
    from rader_queue.mcts import MCTSConfig

    defaults = MCTSConfig()
    return {name: min(getattr(defaults, name), cap) for name in TOKEN_LIMITS}


def use_embedded_settings(database_url: str | None, settings: Any = None) -> Any:
    """``settings`` (default: this process's) pointed at the run's SQLite store (or
    ``database_url``) and the in-memory broker, installed as this process's settings and the
    Celery app's; returns them."""
    from pydantic import SecretStr

    from rader_queue.queue import app as app_module
    from rader_queue.settings import get_settings, install_settings

    update: dict[str, Any] = {"broker_url": SecretStr("memory://localhost/")}
    if database_url:
        update["database_url"] = SecretStr(database_url)
    settings = install_settings((settings or get_settings()).model_copy(update=update))
    app_module.use_settings(settings)
    return settings


def run_embedded(dataset: str, *, limit: int, split: str, run_name: str | None, rollouts: int,
                 max_depth: int, database_url: str | None, timeout: float,
                 concurrency: int = 8, max_tokens: int | None = None, corpus: str | None = None,
                 through: str = "mcts", n_threads: int | None = None,
                 all_rewards: bool = False, engine: str | None = None) -> int:
    """``rader-queue run``; returns the exit code."""
    from rader_queue.queue.run_names import validate_run_name

    if run_name is not None:
        validate_run_name(run_name)     # before the database is touched
    engine = resolve_engine(engine)
    from rader_queue.pipeline import build_run_config, default_corpus, enqueue_loaded, load_checked
    from rader_queue.store import upgrade

    if through not in THROUGH:
        from rader_queue.errors import ConfigError

        raise ConfigError(f"--through must be one of {', '.join(THROUGH)}, not {through!r}")
    settings = use_embedded_settings(database_url)
    if not settings.llm_base_url:       # the run's config names the model that will serve it
        from rader_queue.llm.embedded_server import MODEL_ALIAS
        from rader_queue.settings import install_settings

        install_settings(settings.model_copy(update={"llm_model": MODEL_ALIAS}))
    # 1. every input, before anything slow or anything written
    loaded = load_checked(dataset, split=split, limit=limit, echo=console.print)
    config = build_run_config(rollouts=rollouts, max_depth=max_depth,
                              corpus=corpus or default_corpus(dataset), **capped_tokens(max_tokens))
    # 2. the jobs, in SQL (the store is migrated first: a new SQLite file gets its schema)
    upgrade()
    name = loaded.run_name(run_name)
    resumed = resume_run(name)
    report = enqueue_loaded(loaded, run_name=run_name, config=config)
    from rich.text import Text

    console.print(Text.assemble("run ", (report.run, "bold"), f": {report.problems_new} new "
                                f"problem(s), {report.jobs_new} new job(s)"
                                + (f", {resumed} resumed" if resumed else "")))
    with interruptible(report.run) as stop:
        outcome = process_run(report.run, timeout=timeout, concurrency=concurrency,
                              n_threads=n_threads, stack=stop, engine=engine)
        from rader_queue.cli.progress import next_commands, summary

        console.print(summary(report.run, outcome.wall_s))
        if through == "mcts":
            console.print(next_commands(report.run), soft_wrap=True)
        if through != "mcts" and not outcome.exit_code:
            from rader_queue.cli.through import carry_on

            return carry_on(report.run, through, all_rewards=all_rewards, stack=stop)
    return outcome.exit_code


def resolve_engine(engine: str | None) -> str:
    """The embedded model server to start: ``engine`` (else ``RADER_EMBEDDED_ENGINE``); ``auto``
    is vLLM's CPU build when its virtualenv exists (scripts/setup_vllm.sh) and llama.cpp
    otherwise. bench_generator on 2 cores: vLLM 2.1x llama.cpp's tokens/s at 8 requests in
    flight, and the main job in about half the time (server start included)."""
    from rader_queue.errors import ConfigError
    from rader_queue.settings import get_settings

    settings = get_settings()
    engine = engine or settings.embedded_engine
    if engine not in ENGINES:
        raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine == "auto":
        from rader_queue.llm.embedded_vllm import vllm_python

        try:
            engine = "vllm" if vllm_python(settings).is_file() else "llamacpp"
        except ConfigError:                 # no vLLM virtualenv: what setup.sh installed
            engine = "llamacpp"
    return engine


def resume_run(run_name: str, stage: str | None = None) -> int:
    """Make the run's unfinished jobs publishable again: ``queued`` jobs lose their (in-memory,
    now gone) broker message id, ``running`` jobs whose process no longer exists go back to
    ``queued``. Returns how many jobs will be published again. Nothing for an unknown run."""
    from sqlalchemy import select, update

    from rader_queue.queue.lease import holder_is_dead
    from rader_queue.store import session_scope
    from rader_queue.store.models import Job, JobState, Run

    with session_scope() as session:
        run_id = session.scalar(select(Run.id).where(Run.name == run_name))
        if run_id is None:
            return 0
        where = [Job.run_id == run_id] + ([Job.stage == stage] if stage else [])
        running = session.execute(select(Job.id, Job.worker).where(
            *where, Job.state == JobState.RUNNING)).all()
        orphans = [job_id for job_id, worker in running if holder_is_dead(worker)]
        if orphans:
            session.execute(update(Job).where(Job.id.in_(orphans)).values(
                state=JobState.QUEUED, celery_task_id=None, lease_until=None))
        queued = session.execute(update(Job).where(
            *where, Job.state == JobState.QUEUED, Job.celery_task_id.is_not(None)).values(
            celery_task_id=None)).rowcount
    return len(orphans) + queued


def start_model_server(stack: ExitStack, n_threads: int | None = None,
                       engine: str = "llamacpp") -> Any:
    """Start the embedded model server (llama.cpp, or vLLM's CPU build) unless an endpoint is
    configured; returns this process's settings, which then name the server as the ``default``
    endpoint. The response cache knows the server by its model file, not by its port (a new
    one every run), so a re-run or a resumed run replays the same model's answers."""
    from rader_queue.settings import get_settings, install_settings

    settings = get_settings()
    if settings.llm_base_url:
        return settings
    if engine == "vllm":
        from rader_queue.llm.embedded_vllm import vllm_server

        console.print("starting the embedded model server (SmolLM2-135M-Instruct, vLLM CPU)…")
        server = stack.enter_context(vllm_server())
        dialect, identity = "vllm", f"embedded:vllm:{server.model}"
    else:
        from rader_queue.llm.embedded_server import embedded_server

        console.print("starting the embedded model server (SmolLM2-135M-Instruct, CPU)…")
        server = stack.enter_context(embedded_server(port=0, n_threads=n_threads))
        dialect, identity = "llamacpp", f"embedded:llamacpp:{server.gguf.name}"
    _SERVERS.append(server)
    return install_settings(settings.model_copy(update={
        "llm_base_url": server.base_url, "llm_model": server.model,
        "llm_structured_outputs": dialect,                    # readable verdicts
        "llm_cache_endpoint": identity}))


def start_in_process_worker(stack: ExitStack, settings: Any, concurrency: int = 8) -> None:
    """The Celery worker threads of this process, with a worker context built from ``settings``
    (its HTTP clients are closed when ``stack`` closes)."""
    from celery.contrib.testing.worker import start_worker

    from rader_queue import context
    from rader_queue.queue import app as app_module

    worker = context.WorkerContext(settings)
    previous = context.install(worker)

    def close_context() -> None:
        context.install(previous)
        worker.close()

    stack.callback(close_context)      # after the worker below has stopped

    stack.enter_context(start_worker(app_module.app, pool="threads", concurrency=concurrency,
                                     perform_ping_check=False, loglevel="WARNING",
                                     shutdown_timeout=5.0))


def process_run(run_name: str, *, timeout: float, concurrency: int = 8,
                n_threads: int | None = None, stack: ExitStack | None = None,
                stages: tuple[str, ...] | None = None, engine: str = "llamacpp") -> Outcome:
    """Start the model server (when the run's stages need one) and the in-process worker,
    publish the run's pending jobs, and show progress until every job has finished."""
    from rader_queue.cli.progress import RunProgress
    from rader_queue.queue import stages as registry
    from rader_queue.queue.enqueue import publish_pending
    from rader_queue.queue.status import run_status
    from rader_queue.store import session_scope

    own = stack is None
    stack = stack or ExitStack()
    try:
        settings = start_model_server(stack, n_threads, engine)
        start_in_process_worker(stack, settings, concurrency)
        with session_scope() as session:
            status = run_status(session, run_name)
            run_id = status.run.id
        present = {s.stage for s in status.stages}
        for stage in stages or [s for s in registry.STAGE_NAMES if s in present]:
            publish_pending(run_id, stage)
        return RunProgress(run_name, stages=stages).wait(timeout, watch=check_servers)
    finally:
        if own:
            stack.close()


class interruptible:
    """Ctrl-C / SIGTERM: say what happens, stop the model server and exit 130 at once (the
    in-process worker's threads are not waited for; their jobs stay in SQL and the next run of
    the same command resumes them)."""

    def __init__(self, run_name: str) -> None:
        self.run_name = run_name
        self.stack = ExitStack()

    def __enter__(self) -> ExitStack:
        def on_term(signum, _frame):
            raise KeyboardInterrupt

        self._previous = signal.signal(signal.SIGTERM, on_term)
        return self.stack

    def __exit__(self, exc_type, exc, tb) -> bool:
        from rader_queue.errors import ModelServerExited

        signal.signal(signal.SIGTERM, self._previous)
        if exc_type is not None and issubclass(exc_type, ModelServerExited):
            # the worker's threads are retrying a dead port: do not wait for them either
            from rader_queue.cli.common import EXIT_CODES, err_console

            err_console.print(Text(f"error: {exc}", style="red"), soft_wrap=True)
            _stop_servers(self.stack)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_CODES[ModelServerExited])
        if exc_type is not KeyboardInterrupt:
            self.stack.close()
            return False
        signal.signal(signal.SIGINT, signal.SIG_IGN)     # a second Ctrl-C must not cut this short
        console.print(f"\n[yellow]interrupted[/]: stopping; the unfinished jobs of run "
                      f"{self.run_name} stay in the store. Run the same command again to resume.")
        _stop_servers(self.stack)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)


def check_servers() -> None:
    """Raise :class:`ModelServerExited` when a model server this process started has died:
    its jobs would otherwise retry a dead port until their attempts run out."""
    from rader_queue.errors import ModelServerExited
    from rader_queue.llm.exit_status import describe_exit

    for server in _SERVERS:
        if not server.alive():
            raise ModelServerExited(
                f"the embedded model server exited during the run: "
                f"{describe_exit(server.process.returncode)}. The run's unfinished jobs stay in "
                f"the store; run the same command again to resume. Its log "
                f"({server.log_path}) ends with:\n{server.log_tail(1500)}")


def _stop_servers(stack: ExitStack) -> None:
    """Stop the model servers this process started, without waiting for the worker's threads."""
    while _SERVERS:
        _SERVERS.pop().stop(timeout_s=3.0)


_SERVERS: list = []     # embedded model servers started by this process (stopped on Ctrl-C)
