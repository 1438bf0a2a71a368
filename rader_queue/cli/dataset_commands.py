"""``rader-queue dataset …``: from a finished MCTS run to a versioned training dataset.

    rader-queue dataset querygen RUN [--types …] [--judge]      enqueue extraction/generation/judge
    rader-queue dataset build RUN --name NAME [--local] [--hf]  assemble (and export) a version
    rader-queue dataset list [NAME]                              versions and their counts
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from rader_queue.cli.common import console, friendly_errors, use_database
from rader_queue.cli.dataset_view import empty_reason, print_counts
from rader_queue.errors import ConfigError
from rader_queue.querygen.options import QUERY_TYPES
from rader_queue.terminal_text import cell, escaped

dataset_app = typer.Typer(no_args_is_help=True, help="Training data: query generation over a "
                          "finished MCTS run, and versioned Tevatron datasets.")

RunArg = Annotated[str, typer.Argument(help="Name of a run whose MCTS jobs have finished.")]
TypesOpt = Annotated[str, typer.Option("--types", help=f"Comma-separated query types: {', '.join(QUERY_TYPES)}.")]
AllRewards = Annotated[bool, typer.Option("--all-rewards", help="Use every trajectory with a retrieval node, not only those whose terminal reward is 1.")]
SeedOpt = Annotated[Optional[int], typer.Option(help="Seed of model requests and samples (default: the run's seed).")]


@dataset_app.command("querygen")
@friendly_errors
def querygen(
    run: RunArg,
    types: TypesOpt = ",".join(QUERY_TYPES),
    judge: Annotated[bool, typer.Option("--judge/--no-judge", help="Judge every generated query (judge queue); rejected rows are kept but left out of datasets.")] = False,
    all_rewards: AllRewards = False,
    seed: SeedOpt = None,
    unparsed_as_negative: Annotated[bool, typer.Option(help="Count theorems whose self-reflection verdict was unreadable as hard negatives.")] = False,
    preset: Annotated[Optional[str], typer.Option("--preset", help="rader-paper or laptop: the preset's qllmq overlap filter (rader-paper: none) and qlexical round trip.")] = None,
) -> None:
    """Enqueue the extraction (querygen queue), query-generation and judge jobs of RUN.
    Idempotent: asking again adds nothing; workers: ``rader-queue worker -Q querygen,judge``."""
    from rader_queue.querygen import QuerygenOptions, enqueue_querygen

    extra = {}
    if preset:
        from rader_queue.presets import get_preset

        values = get_preset(preset).dataset
        extra = {"max_overlap": values.max_overlap, "lexical_top": values.lexical_top}
    options = QuerygenOptions(types=types, judge=judge, min_reward=None if all_rewards else 1.0,
                              seed=seed, unparsed_as_negative=unparsed_as_negative, **extra)
    report = enqueue_querygen(run, options)
    jobs = ", ".join(f"{n} {stage}" for stage, n in report.jobs_new.items())
    console.print(f"run [bold]{escaped(report.run)}[/]: {report.problems} finished problems; new jobs: {jobs}; "
                  f"{report.published} messages published")


@dataset_app.command("build")
@friendly_errors
def build(
    run: RunArg,
    name: Annotated[str, typer.Option("--name", help="Dataset name; each new content gets the next version.")],
    types: TypesOpt = ",".join(QUERY_TYPES),
    out: Annotated[str, typer.Option("--out", help="Folder of the exported files.")] = "rader_datasets",
    all_rewards: AllRewards = False,
    seed: SeedOpt = None,
    hf: Annotated[bool, typer.Option("--hf", help="Also save a Hugging Face dataset (save_to_disk).")] = False,
    local: Annotated[bool, typer.Option("--local", help="Generate the query rows in this process first (small runs; no workers needed).")] = False,
    judge: Annotated[bool, typer.Option("--judge", help="With --local: judge the generated queries too.")] = False,
    min_negatives: Annotated[Optional[int], typer.Option(min=1, help="Distinct negatives per row (train_group_size - 1; default 11): self-reflection rejections first, then BM25 ranks 31-50, then the dense top-k.")] = None,
    max_overlap: Annotated[Optional[float], typer.Option(help="With --local: drop qllmq queries sharing more than this share of words with the theorem (default 0.6; the paper preset has no such filter).")] = None,
    no_overlap_filter: Annotated[bool, typer.Option("--no-overlap-filter", help="With --local: keep qllmq queries whatever their overlap with the theorem.")] = False,
    preset: Annotated[Optional[str], typer.Option("--preset", help="rader-paper or laptop: the preset's dataset values (explicit options win).")] = None,
    database_url: Annotated[Optional[str], typer.Option("--database-url", help="SQL store (default: RADER_DATABASE_URL, else the SQLite file rader_queue.db).")] = None,
) -> None:
    """Assemble RUN's query rows into a versioned dataset: SQL rows plus a Tevatron JSONL
    (query_id, query, positive_passages, negative_passages). Same content → same version."""
    if judge and not local:
        raise ConfigError("--judge applies with --local; for queued runs use "
                          "`rader-queue dataset querygen RUN --judge`")

    from rader_queue.queue.status import find_run
    from rader_queue.store import session_scope

    use_database(database_url, check=True)
    with session_scope() as session:
        find_run(session, run)            # an unknown run fails before the model starts
    with ExitStack() as stack:
        from rader_queue import context

        stack.callback(context.shutdown)    # the clients this command's generators opened
        if local:   # query generation calls the model: the embedded one unless one is configured
            from rader_queue.cli.endpoint_check import embedded_generator_if_unset
            from rader_queue.cli.quiet import quiet_third_party

            quiet_third_party()
            embedded_generator_if_unset(stack)
        report = _build(run, name, types, out, all_rewards, seed, hf, local, judge,
                        min_negatives, max_overlap, no_overlap_filter, preset)
    print_counts(report)
    if not report.counts.get("all", 0):
        _say_why_empty(run, all_rewards)


def _say_why_empty(run_name: str, all_rewards: bool) -> None:
    from sqlalchemy import distinct, func, select

    from rader_queue.store import session_scope
    from rader_queue.store.models import Problem, Run, Solution
    with session_scope() as session:
        run_id = session.scalar(select(Run.id).where(Run.name == run_name))
        problems = session.scalar(select(func.count()).select_from(Problem).where(Problem.run_id == run_id))
        solved = session.scalar(select(func.count(distinct(Solution.problem_id))).where(
            Solution.problem_id.in_(select(Problem.id).where(Problem.run_id == run_id)),
            Solution.reward >= 1.0))
    console.print(Text(empty_reason(problems, solved, all_rewards), style="yellow"))


def _build(run, name, types, out, all_rewards, seed, hf, local, judge, min_negatives,
           max_overlap, no_overlap_filter, preset):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from rader_queue.presets import get_preset
    from rader_queue.querygen import QuerygenOptions
    from rader_queue.training_data import BuildOptions, build_dataset

    min_reward = None if all_rewards else 1.0
    values = get_preset(preset).dataset if preset else None
    overlap = None if no_overlap_filter else max_overlap
    if overlap is None and not no_overlap_filter:
        overlap = values.max_overlap if values else QuerygenOptions().max_overlap
    from_preset = {"dense_top": values.dense_top, "topup_ranks": values.topup_ranks} if values else {}
    options = BuildOptions(types=types, min_reward=min_reward, seed=seed, preset=preset,
                           min_negatives=min_negatives or (values.min_negatives if values else 11),
                           **from_preset)
    qg = QuerygenOptions(types=options.types, judge=judge, min_reward=min_reward, seed=seed,
                         max_overlap=overlap, **({"lexical_top": values.lexical_top} if values else {})
                         ) if local else None
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        bars: dict[str, int] = {}

        def tick(phase: str, done: int, total: int) -> None:
            if phase not in bars:
                bars[phase] = progress.add_task(phase, total=max(total, 1))
            progress.update(bars[phase], completed=done if total else 1, total=max(total, 1))

        return build_dataset(run, name, options, out_dir=out, hf=hf, querygen=qg, progress=tick)


@dataset_app.command("list")
@friendly_errors
def list_datasets(name: Annotated[Optional[str], typer.Argument(help="Only this dataset name.")] = None) -> None:
    """Dataset versions with their run and per-type counts."""
    from sqlalchemy import select

    from rader_queue.store import session_scope
    from rader_queue.store.models import Dataset

    table = Table("name", "version", "run", "counts", "created", "path")
    with session_scope() as session:
        stmt = select(Dataset).order_by(Dataset.name, Dataset.version)
        if name:
            stmt = stmt.where(Dataset.name == name)
        for d in session.scalars(stmt):
            counts = " ".join(f"{k}={v}" for k, v in (d.counts or {}).items())
            table.add_row(cell(d.name), str(d.version), cell((d.config or {}).get("run", "")),
                          cell(counts), d.created_at.strftime("%Y-%m-%d %H:%M"), cell(d.path or ""))
    console.print(table)
