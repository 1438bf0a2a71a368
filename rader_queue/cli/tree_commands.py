"""``rader-queue tree``: print one problem's search tree."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.text import Text

from rader_queue.cli.common import console, friendly_errors, use_database
from rader_queue.terminal_text import safe_text


@friendly_errors
def tree(
    run: Annotated[str, typer.Argument(help="Run name.")],
    problem: Annotated[str, typer.Argument(help="Problem source id (e.g. test/algebra/1.json) or position (0, 1, …).")],
    width: Annotated[int, typer.Option(help="Characters of node text shown.")] = 90,
    database_url: Annotated[Optional[str], typer.Option("--database-url", help="SQL store (default: RADER_DATABASE_URL, else the SQLite file rader_queue.db).")] = None,
) -> None:
    """Print a problem's MCTS tree: node type, Q, N, reward, text head, judgements; ✓ marks
    solutions that reached the gold answer."""
    from rader_queue.store import session_scope
    from rader_queue.trees.view import find_problem, render_tree

    use_database(database_url, check=True)
    with session_scope() as session:
        row = find_problem(session, run, problem)
        console.print(Text.assemble(safe_text(row.source_id, "bold"), " gold answer: ",
                                    safe_text(row.gold_answer)))
        console.print(render_tree(session, row, width))
