"""``rader-queue report``: a static HTML report of one run, built from the SQL store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from rader_queue.cli.common import console, friendly_errors
from rader_queue.terminal_text import safe_text


@friendly_errors
def report(
    run: Annotated[str, typer.Argument(help="Run name (as shown by `rader-queue status`).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the report into (created; its problems/ pages and plots/ are replaced).")] = Path("report"),
    database_url: Annotated[Optional[str], typer.Option(help="SQL store (default: RADER_DATABASE_URL).")] = None,
    sample_rows: Annotated[int, typer.Option(min=0, help="Dataset rows shown per query type.")] = 5,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Processes rendering problem pages (default: by CPU count and run size).")] = None,
) -> None:
    """Write a static HTML report of RUN into OUT: open OUT/index.html in a browser.

    The report shows the run's configuration, jobs per stage and state, the LLM cost ledger and
    the failed jobs with their reasons; one page per problem with its MCTS tree (collapsible,
    coloured by node type and reward, Q/N on every node, each query-generation node's top-k
    theorems with the self-reflection verdicts, gold-answer paths highlighted); the datasets
    built from the run; and charts of rewards, tree shape, tokens, training loss and
    evaluation. Nothing is served or fetched: the folder can be copied anywhere."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress

    from rader_queue.report import build_report
    from rader_queue.store.db import require_schema

    require_schema(database_url)
    from rader_queue.queue.status import find_run
    from rader_queue.store import session_scope

    with session_scope(database_url) as session:
        find_run(session, run)          # an unknown run: one line, and no folder created
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("problem pages", total=None)
        result = build_report(run, out, database_url=database_url, sample_rows=sample_rows,
                              workers=workers,
                              progress=lambda done, total: bar.update(task, completed=done,
                                                                      total=total))
    console.print(Text.assemble("report of ", safe_text(run, "bold"), safe_text(
        f": {result.problems} problems, {result.nodes} tree nodes, built in "
        f"{result.seconds:.1f} s → {result.index}")), highlight=False)
