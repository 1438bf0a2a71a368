"""Printing a stored tree (``rader-queue tree RUN PROBLEM``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from rich.text import Text
from rich.tree import Tree

from rader_queue.terminal_text import clean

from rader_queue.errors import InputError
from rader_queue.queue.status import find_run
from rader_queue.store.models import Judgement, Problem, Solution, TreeNode
from rader_queue.trees.persist import load_nodes

COLOURS = {"user_question": "bold", "ost": "cyan", "crs": "magenta", "query_generation": "yellow",
           "retrieval": "green"}


def find_problem(session: Session, run_name: str, problem: str) -> Problem:
    run = find_run(session, run_name)
    row = session.scalars(select(Problem).where(Problem.run_id == run.id,
                                                Problem.source_id == problem)).one_or_none()
    if row is None and problem.isdigit():
        row = session.scalars(select(Problem).where(Problem.run_id == run.id)
                              .order_by(Problem.position).offset(int(problem)).limit(1)).one_or_none()
    if row is None:
        raise InputError(f"run {run_name!r} has no problem {problem!r} (use its source id, "
                         "e.g. test/algebra/1.json, or its position 0, 1, …)")
    return row


def render_tree(session: Session, problem: Problem, width: int = 90) -> Tree:
    nodes = load_nodes(session, problem.id)
    if not nodes:
        raise InputError(f"problem {problem.source_id!r} has no tree yet (its MCTS job has not finished)")
    correct = {s.node_id for s in session.scalars(
        select(Solution).where(Solution.problem_id == problem.id, Solution.kind == "final",
                               Solution.reward >= 1.0))}
    verdicts: dict[int, list[Judgement]] = {}
    for j in session.scalars(select(Judgement).where(Judgement.problem_id == problem.id)):
        verdicts.setdefault(j.qg_node_id, []).append(j)
    by_parent: dict[int | None, list[TreeNode]] = {}
    for node in nodes:
        by_parent.setdefault(node.parent_node_id, []).append(node)

    def label(node: TreeNode) -> Text:
        # Node text, doc ids and judge reasons are model/dataset data: Text, cleaned, no markup.
        reward = "" if node.reward is None else f" reward={node.reward:g}"
        extra = f" doc={clean(node.doc_id, one_line=True)}" if node.doc_id else ""
        colour = COLOURS.get(node.node_type, "white")
        text = Text.assemble((clean(f"#{node.node_id} {node.node_type}", one_line=True), colour),
                             f" Q={node.q:g} N={node.n}{reward}{extra}")
        if node.node_id in correct:
            text.append(" ✓ gold", "bold green")
        text.append(": " + clean(node.text, one_line=True)[:width])
        for j in sorted(verdicts.get(node.node_id, []), key=lambda j: j.rank or 0):
            verdict = {True: "relevant", False: "rejected", None: "unparseable"}[j.label]
            text.append(f"\n    judged {clean(j.doc_id, one_line=True)}: {verdict} — "
                        f"{clean(j.reason, one_line=True)[:60]}")
        return text

    root = by_parent[None][0]
    tree = Tree(label(root), highlight=False)

    def add(parent_tree: Tree, node: TreeNode) -> None:
        for child in by_parent.get(node.node_id, []):
            add(parent_tree.add(label(child), highlight=False), child)

    add(tree, root)
    return tree
