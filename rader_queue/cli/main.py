"""``rader-queue``: enqueue per-problem work, run workers, watch progress, inspect results.

Pipeline stages are queues (mcts, judge, querygen, embed, train, eval); the SQL store is the
source of truth; every command is safe to repeat."""

from __future__ import annotations

import logging
import time
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from rader_queue.cli import (cache_commands, dataset_commands, eval_commands, llm_commands,
                             ops_commands, preset_commands, report_commands, retrieval_commands,
                             slurm_commands, train_commands, tree_commands)
from rader_queue.cli.common import (DatabaseUrl, console, err_console, friendly_errors,
                                    use_database)
from rader_queue.cli.db_commands import db_app
from rader_queue.cli.helptext import tidy
from rader_queue.errors import ConfigError, UnknownQueueError
from rader_queue.terminal_text import cell, safe_text

app = typer.Typer(name="rader-queue", no_args_is_help=True, rich_markup_mode="rich",
                  help=__doc__, pretty_exceptions_enable=False)
app.add_typer(db_app, name="db")


@app.callback()
def _global_options(
    database_url: Annotated[Optional[str], typer.Option("--database-url", help="SQL store for any command (before the command's name; default: RADER_DATABASE_URL, else the SQLite file rader_queue.db).")] = None,
) -> None:
    """Options before the command name apply to every command."""
    use_database(database_url)


# ----------------------------------------------------------------------------- enqueue

Rollouts = Annotated[int, typer.Option(min=1, help="MCTS rollouts per problem.")]


@app.command()
@friendly_errors
def enqueue(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="MATH, MATH500, GSM8K, CHAMP, or a path to a .jsonl file / MATH-style folder.")],
    split: Annotated[str, typer.Option(help="Dataset split (MATH, GSM8K).")] = "train",
    limit: Annotated[Optional[int], typer.Option(min=1, help="Only the first N problems.")] = None,
    run: Annotated[Optional[str], typer.Option("--run", help="Run name (default: DATASET-SPLIT).")] = None,
    field: Annotated[Optional[list[str]], typer.Option(help="JSONL field mapping, e.g. --field problem=question --field answer=final.")] = None,
    skip_invalid: Annotated[Optional[bool], typer.Option("--skip-invalid/--strict", help="Skip records without a usable gold answer (default: skip for built-in datasets, strict for files).")] = None,
    rollouts: Rollouts = 16,
    max_depth: Annotated[int, typer.Option(min=1, help="Maximum tree depth.")] = 6,
    ost_samples: Annotated[int, typer.Option(min=1, help="One-step-thought children per expansion.")] = 2,
    crs_samples: Annotated[int, typer.Option(min=1, help="Complete-remaining-steps samples (best kept).")] = 4,
    top_k: Annotated[int, typer.Option(min=1, help="Theorems retrieved per query-generation node.")] = 5,
    retriever: Annotated[str, typer.Option(help="dense, bm25 or hybrid.")] = "dense",
    corpus: Annotated[Optional[str], typer.Option(help="Theorem corpus: theoremqa, champ, or a JSONL path (default: champ for CHAMP, else theoremqa).")] = None,
    hybrid_alpha: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="Dense weight of hybrid retrieval (with --retriever hybrid; default 0.5).")] = None,
    subquestions: Annotated[bool, typer.Option("--subquestions/--no-subquestions", help="rStar A3 sub-questions.")] = False,
    reanswer: Annotated[bool, typer.Option("--reanswer/--no-reanswer", help="rStar A4 re-answer.")] = False,
    rephrase: Annotated[bool, typer.Option("--rephrase/--no-rephrase", help="rStar A5 rephrase.")] = False,
    candidate_theorems: Annotated[bool, typer.Option("--candidate-theorems/--no-candidate-theorems", help="Query generation writes candidate theorems (one QG node each).")] = True,
    self_reflection: Annotated[bool, typer.Option("--self-reflection/--no-self-reflection", help="Judge each retrieved theorem before using it.")] = True,
    llm_judge_fallback: Annotated[bool, typer.Option(help="Ask the model for answer equivalence when the gold check fails.")] = False,
    format_reward: Annotated[bool, typer.Option(help="0.2 reward for a boxed but wrong answer.")] = False,
    seed: Annotated[int, typer.Option(help="Search and sampling seed.")] = 42,
    preset: Annotated[Optional[str], typer.Option("--preset", help="rader-paper or laptop: the preset's search values for every option not given here (`rader-queue preset show NAME`); recorded with the run.")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Enqueue one MCTS task per problem. Idempotent: enqueueing again adds nothing."""
    from rader_queue.pipeline import build_run_config, default_corpus, enqueue_dataset
    from rader_queue.presets import enqueue_values

    use_database(database_url)

    given = dict(rollouts=rollouts, max_depth=max_depth, ost_samples=ost_samples,
                 crs_samples=crs_samples, top_k=top_k, retriever=retriever, corpus=corpus,
                 candidate_theorems=candidate_theorems, self_reflection=self_reflection,
                 llm_judge_fallback=llm_judge_fallback, format_reward=format_reward, seed=seed)
    v, mcts_extra, notes = enqueue_values(ctx, preset, given)
    for note in notes:
        err_console.print(f"[yellow]preset {preset}:[/] {note}")
    config = build_run_config(
        rollouts=v["rollouts"], max_depth=v["max_depth"], ost_samples=v["ost_samples"],
        crs_samples=v["crs_samples"], top_k=v["top_k"], retriever=v["retriever"], corpus=v["corpus"] or default_corpus(dataset),
        hybrid_alpha=hybrid_alpha, enable_subquestion=subquestions, enable_reanswer=reanswer,
        enable_rephrase=rephrase, llm_candidate_theorems=v["candidate_theorems"],
        self_reflection=v["self_reflection"], llm_judge_fallback=v["llm_judge_fallback"],
        format_reward=v["format_reward"], seed=v["seed"], **mcts_extra)
    if preset:
        config["preset"] = preset
    report = enqueue_dataset(dataset, split=split, limit=limit, run_name=run, config=config,
                             fields=field or [], skip_invalid=skip_invalid, echo=console.print)
    console.print(Text.assemble("run ", safe_text(report.run, "bold"),
                                f": {report.problems_new} new problems, {report.jobs_new} new "
                                f"jobs, {report.published} messages published"))


# ----------------------------------------------------------------------------- worker

@app.command()
@friendly_errors
def worker(
    queues: Annotated[str, typer.Option("--queues", "-Q", help="Comma-separated queues: mcts, judge, querygen, embed, train, eval.")] = "mcts,judge,querygen,embed",
    concurrency: Annotated[Optional[int], typer.Option("-c", "--concurrency", help="Problems in flight (threads pool) or processes. Default: RADER_PROBLEMS_IN_FLIGHT, or 1 for train/eval.")] = None,
    pool: Annotated[Optional[str], typer.Option(help="threads (default: asyncio model I/O), prefork, or solo (default for train/eval: one GPU job at a time).")] = None,
    hostname: Annotated[Optional[str], typer.Option("-n", "--hostname", help="Worker name (Flower shows it).")] = None,
    loglevel: Annotated[str, typer.Option("-l", "--loglevel")] = "INFO",
    metrics_port: Annotated[Optional[int], typer.Option("--metrics-port", min=1, max=65535, help="Serve Prometheus metrics on this port (default: RADER_METRICS_PORT; address RADER_METRICS_ADDRESS, default 127.0.0.1).")] = None,
) -> None:
    """Start a Celery worker consuming the given queues (events on, for Flower)."""
    from rader_queue.queue import drain

    drain.install()                         # SIGTERM: stop taking messages, hand back, exit 0
    if metrics_port is not None:
        from rader_queue.settings import get_settings as _settings, install_settings

        install_settings(_settings().model_copy(update={"metrics_port": metrics_port}))
    from rader_queue.queue.app import app as celery_app
    from rader_queue.queue.stages import QUEUES, gpu_queues
    from rader_queue.settings import get_settings

    names = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = [q for q in names if q not in QUEUES]
    if unknown:
        raise UnknownQueueError(f"unknown queue(s) {', '.join(unknown)}; known: {', '.join(QUEUES)}")
    gpu_only = set(names) <= set(gpu_queues())
    pool = pool or ("solo" if gpu_only else "threads")
    if pool not in ("threads", "prefork", "solo"):
        raise ConfigError(f"--pool must be threads, prefork or solo, not {pool!r}")
    concurrency = concurrency or (1 if gpu_only else get_settings().problems_in_flight)
    from rader_queue.cli.endpoint_check import require_generator
    from rader_queue.queue.preflight import worker_preflight

    worker_preflight(concurrency)       # schema revision, broker eviction policy, pool size
    require_generator(names)
    argv = ["worker", "-Q", ",".join(names), "-P", pool, "-c", str(concurrency), "-E",
            "-l", loglevel, "--without-gossip", "--without-mingle"]
    if hostname:
        argv += ["-n", hostname]
    for noisy in ("httpx", "openai", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from rader_queue.queue import worker_hooks  # noqa: F401 - metrics, watchdog, reconciler
    from rader_queue.queue.watchdog import run_worker

    code = run_worker(celery_app, argv)     # non-zero when Celery stopped on an error
    if code:
        raise typer.Exit(code)


# ----------------------------------------------------------------------------- operations

@app.command()
@friendly_errors
def flower(
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP port.")] = 5555,
    address: Annotated[str, typer.Option(help="Listen address (0.0.0.0 only inside a container or behind a proxy).")] = "127.0.0.1",
    url_prefix: Annotated[Optional[str], typer.Option(help="Serve under this path (behind a reverse proxy).")] = None,
) -> None:
    """Flower web monitor on the same broker and key prefix (RADER_QUEUE_PREFIX) as the workers.
    Basic auth is required: FLOWER_BASIC_AUTH=user:password[,user2:password2]."""
    from rader_queue.ops.flower import run_flower
    from rader_queue.queue.app import app as celery_app

    raise typer.Exit(run_flower(celery_app, port=port, address=address, url_prefix=url_prefix))


@app.command()
@friendly_errors
def metrics(
    port: Annotated[Optional[int], typer.Option(min=1, max=65535, help="Serve /metrics on this port until stopped, instead of printing once.")] = None,
    address: Annotated[Optional[str], typer.Option(help="Listen address with --port (default RADER_METRICS_ADDRESS or 127.0.0.1).")] = None,
) -> None:
    """Queue depths (and this process's metrics) in the Prometheus text format; with --port, a
    standalone exporter of the broker's queue depths. Workers serve their own metrics with
    RADER_METRICS_PORT / --metrics-port."""
    from rader_queue.ops import metrics as ops_metrics
    from rader_queue.queue.depth import register_queue_depth

    register_queue_depth()
    if port is None:
        console.out(ops_metrics.exposition().decode(), end="")
        return
    bound = ops_metrics.start_metrics_server(port, address)
    console.print(f"serving metrics on http://{address or ops_metrics.metrics_address()}:{bound}/metrics")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


# ----------------------------------------------------------------------------- status

@app.command()
@friendly_errors
def status(
    run: Annotated[Optional[str], typer.Argument(help="Run name (default: all runs).")] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh until every job has finished.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between refreshes with --watch.")] = 2.0,
    database_url: DatabaseUrl = None,
) -> None:
    """Per stage × state counts, progress, failures with reasons, and token totals."""
    from rader_queue.cli.status_view import show_status

    use_database(database_url, check=True)
    show_status(run, watch=watch, interval=interval)


@app.command()
@friendly_errors
def runs(database_url: DatabaseUrl = None) -> None:
    """List runs with their dataset and problem/job counts."""
    from sqlalchemy import func, select

    from rader_queue.store import session_scope
    from rader_queue.store.models import Job, JobState, Problem, Run

    use_database(database_url, check=True)
    table = Table("run", "dataset", "split", "problems", "done", "failed", "created")
    with session_scope() as s:
        for run in s.scalars(select(Run).order_by(Run.id)):
            problems = s.scalar(select(func.count()).select_from(Problem).where(Problem.run_id == run.id))
            done = s.scalar(select(func.count()).select_from(Job).where(Job.run_id == run.id, Job.state == JobState.DONE))
            failed = s.scalar(select(func.count()).select_from(Job).where(Job.run_id == run.id, Job.state == JobState.FAILED))
            table.add_row(cell(run.name), cell(run.dataset), cell(run.split or ""), str(problems),
                          str(done), str(failed), run.created_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table)


@app.command()
@friendly_errors
def retry(
    run: Annotated[str, typer.Argument(help="Run name.")],
    failed: Annotated[bool, typer.Option("--failed", help="Re-enqueue failed jobs.")] = False,
    cancelled: Annotated[bool, typer.Option("--cancelled", help="Re-enqueue cancelled jobs.")] = False,
    database_url: DatabaseUrl = None,
    embedded: Annotated[Optional[bool], typer.Option("--embedded/--broker", help="Run the jobs here with the in-process worker and embedded model (default for a SQLite store, as `rader-queue run` uses), or publish them to the broker for workers.")] = None,
) -> None:
    """Re-enqueue a run's failed (--failed) and cancelled (--cancelled) jobs, publish any that
    never reached the broker, and publish again orphaned ones (queued without a message, or
    running with an expired lease)."""
    from rader_queue.queue.run_ops import retry_run

    use_database(database_url, check=True)
    from rader_queue.settings import get_settings

    if embedded if embedded is not None else get_settings().db_url.startswith("sqlite"):
        from rader_queue.cli.retry_embedded import retry_here

        code = retry_here(run, failed=failed, cancelled=cancelled)
        if code:
            raise typer.Exit(code)
        return
    counts = retry_run(run, failed=failed, cancelled=cancelled)
    kinds = "/".join(k for k, on in (("failed", failed), ("cancelled", cancelled)) if on) or "failed"
    console.print(f"re-enqueued {counts['reset']} {kinds} job(s); published "
                  f"{counts['published']} message(s); {counts['orphaned']} orphaned job(s) "
                  "published again")


@app.command()
@friendly_errors
def judge(
    run: Annotated[str, typer.Argument(help="Run name (its MCTS problems must have finished).")],
    model: Annotated[str, typer.Option(help="Judge model name, as the endpoint knows it.")],
    base_url: Annotated[Optional[str], typer.Option(help="OpenAI-compatible /v1 URL of the judge (default: RADER_LLM_BASE_URL).")] = None,
) -> None:
    """Re-judge a run's stored retrievals with another model (``judge`` queue). Verdicts are
    stored beside the search's own (judgements.source = 'posthoc')."""
    from rader_queue.pipeline import enqueue_rejudge

    counts = enqueue_rejudge(run, model=model, base_url=base_url)
    console.print(f"{counts['jobs_new']} new judge job(s), {counts['published']} published")


# ----------------------------------------------------------------------------- embedded run

@app.command("run")
@friendly_errors
def run_embedded(
    dataset: Annotated[str, typer.Argument(help="MATH, MATH500, GSM8K, CHAMP, or a path.")],
    limit: Annotated[int, typer.Option(min=1, help="Number of problems.")] = 3,
    split: Annotated[str, typer.Option(help="Dataset split (MATH, GSM8K).")] = "train",
    run: Annotated[Optional[str], typer.Option("--run", help="Run name (default: DATASET-SPLIT).")] = None,
    rollouts: Annotated[int, typer.Option(min=1, help="MCTS rollouts per problem.")] = 2,
    max_depth: Annotated[int, typer.Option(min=1, help="Maximum tree depth (steps from the question to an answer).")] = 4,
    corpus: Annotated[Optional[str], typer.Option(help="Theorem corpus: theoremqa, champ, or a JSONL path (default: champ for CHAMP, else theoremqa).")] = None,
    through: Annotated[str, typer.Option(help="Carry the run on: mcts (stop after the search), dataset (query generation and dataset assembly), train (a short CPU training of the retriever), eval (its CHAMP evaluation against the base model).")] = "mcts",
    all_rewards: Annotated[bool, typer.Option("--all-rewards", help="With --through: keep every trajectory with a retrieval node, not only solved ones.")] = False,
    database_url: DatabaseUrl = None,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds (exit code 1).")] = 3600.0,
    max_tokens: Annotated[Optional[int], typer.Option(min=16, help="Cap every MCTS generation at N tokens (the small CPU model otherwise writes up to 1024 per reply; a larger N keeps the defaults).")] = 160,
    n_threads: Annotated[Optional[int], typer.Option("--n-threads", min=1, help="Threads of the embedded model server (default: cores - 1, at least 1).")] = None,
    engine: Annotated[Optional[str], typer.Option(help="Embedded model server: auto (vllm when scripts/setup_vllm.sh has built .venv-vllm, else llamacpp), llamacpp, or vllm (continuous batching: about 2x faster on the main job even on 2 cores). Default RADER_EMBEDDED_ENGINE, auto.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show third-party warnings and loading bars.")] = False,
) -> None:
    """The embedded one-command mode: SQLite, an in-process broker and worker, the embedded CPU
    model server and the in-process embedder. No Redis, PostgreSQL or GPU needed.

    Re-running the same command resumes the run's unfinished jobs. Exit codes: 0 every job done;
    1 a job failed or timed out; 2 bad input; 3 bad configuration; 4 store error; 130
    interrupted (Ctrl-C)."""
    from rader_queue.cli.embedded import run_embedded as run_it
    from rader_queue.cli.quiet import quiet_third_party

    quiet_third_party(verbose)
    code = run_it(dataset, limit=limit, split=split, run_name=run, rollouts=rollouts,
                  max_depth=max_depth, database_url=database_url, timeout=timeout,
                  max_tokens=max_tokens, corpus=corpus, through=through, n_threads=n_threads,
                  all_rewards=all_rewards, engine=engine)
    if code:
        raise typer.Exit(code)


# ----------------------------------------------------------------------------- stage commands

def _register_stage_commands() -> None:
    """Each stage's commands live in their own module; this is where they join the CLI."""
    app.add_typer(llm_commands.llm_app, name="llm")
    llm_commands.llm_app.add_typer(cache_commands.cache_app, name="cache")   # issue 13
    app.add_typer(retrieval_commands.corpus_app, name="corpus")
    app.command("retrieve")(retrieval_commands.retrieve)
    app.command("tree")(tree_commands.tree)
    app.add_typer(dataset_commands.dataset_app, name="dataset")
    app.command("train")(train_commands.train)
    app.add_typer(eval_commands.eval_app, name="eval")
    app.command("report")(report_commands.report)
    app.add_typer(slurm_commands.slurm_app, name="slurm")
    ops_commands.register(app)      # cancel, delete, reconcile, deadletter (issue 15)
    app.add_typer(preset_commands.preset_app, name="preset")


_register_stage_commands()


def _tidy_help() -> None:
    tidy(app)


_tidy_help()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _tidy_help()     # again: commands registered after import
    app()


if __name__ == "__main__":
    main()
