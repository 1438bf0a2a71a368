"""A :class:`~rader_queue.mcts.SearchResult` to and from SQL.

Writing happens inside the job's final transaction (see ``job_runner``): rows of a previous
attempt of the same problem are removed first, so a redelivered problem starts clean and
there is never a half-written tree marked finished."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from rader_queue.mcts import NodeType, SearchResult
from rader_queue.store.models import (Judgement, Problem, Retrieval, Solution, TreeNode)

# Node fields kept in ``tree_nodes.extra`` (the typed columns hold the rest).
_EXTRA_FIELDS = ("valid_leaf", "sample_rewards", "query", "theorem_name", "theorem_statement",
                 "theorem_preconditions", "theorem_subject", "theorem_raw", "doc_title", "summary",
                 "retrieval_score", "retrieval_rank", "subanswer", "children", "reward_reason")
TREE_TABLES = (TreeNode, Solution, Retrieval)


def clear_tree(session: Session, problem_id: int) -> None:
    for model in TREE_TABLES:
        session.execute(delete(model).where(model.problem_id == problem_id))
    session.execute(delete(Judgement).where(Judgement.problem_id == problem_id,
                                            Judgement.source == "mcts"))


def write_tree(session: Session, problem_id: int, result: SearchResult, *, retriever: str,
               model: str) -> dict[str, int]:
    clear_tree(session, problem_id)
    with_retrieval = {n.node_id for n in result.nodes if _path_has_retrieval(result, n.node_id)}
    session.add_all(TreeNode(
        problem_id=problem_id, node_id=n.node_id, parent_node_id=n.parent_id, node_type=n.type.value,
        depth=n.depth, text=n.text, q=n.q, n=n.n, reward=n.value, terminal=n.terminal,
        rollout_id=n.rollout_id, doc_id=n.doc_id,
        extra={k: getattr(n, k) for k in _EXTRA_FIELDS if getattr(n, k) not in (None, [], False)})
        for n in result.nodes)
    session.add_all(Solution(problem_id=problem_id, kind="rollout", rollout_id=s.rollout_id,
                             node_id=s.node_id, reward=s.reward,
                             has_retrieval=s.node_id in with_retrieval)
                    for s in result.rollout_solutions)
    session.add_all(Solution(problem_id=problem_id, kind="final", rollout_id=-1, node_id=s.node_id,
                             reward=s.reward, has_retrieval=s.node_id in with_retrieval)
                    for s in result.final_solutions)
    session.add_all(Retrieval(problem_id=problem_id, qg_node_id=r.qg_node_id, retriever=retriever,
                              query=r.query, rank=r.rank, doc_id=r.doc_id, score=r.score)
                    for r in result.retrievals)
    session.add_all(Judgement(problem_id=problem_id, qg_node_id=j.qg_node_id, doc_id=j.doc_id,
                              rank=j.rank, label=j.label, reason=j.reason, raw=j.raw, model=model,
                              source="mcts") for j in result.judgements)
    session.execute(update(Problem).where(Problem.id == problem_id)
                    .values(finished_at=dt.datetime.now(dt.timezone.utc)))
    return {"nodes": len(result.nodes), "final_solutions": len(result.final_solutions),
            "retrievals": len(result.retrievals), "judgements": len(result.judgements),
            "correct_final": sum(1 for s in result.final_solutions if s.reward >= 1.0)}


def _path_has_retrieval(result: SearchResult, node_id: int) -> bool:
    return any(n.type is NodeType.RETRIEVAL for n in result.trajectory(node_id))


def load_nodes(session: Session, problem_id: int) -> list[TreeNode]:
    return list(session.scalars(select(TreeNode).where(TreeNode.problem_id == problem_id)
                                .order_by(TreeNode.node_id)))
