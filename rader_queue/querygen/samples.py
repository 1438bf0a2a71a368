"""Trajectories → samples: one (QG node, RT node) pair of a stored tree with its positive and
hard negatives.

A trajectory is the path root → final solution leaf (``solutions``, kind ``final``). Those
with at least one retrieval node, and a terminal reward of at least ``min_reward``, give one
sample per RT node on them: the positive is the RT node's theorem (``doc_id``, whose original
corpus text is used downstream), the hard negatives are the theorems the self-reflection of
the same QG node rejected (``judgements`` joined on problem and QG node, source ``mcts``).
Several trajectories through one RT node give one sample carrying the best reward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from rader_queue.mcts import NodeType
from rader_queue.store.models import Judgement, Problem, Solution, TreeNode

THEOREM_STEP = "A theorem that helps here: {summary}"


@dataclass(frozen=True)
class Sample:
    problem_id: int
    source_id: str
    question: str
    qg_node_id: int
    rt_node_id: int
    doc_id: str
    negative_doc_ids: tuple[str, ...]
    steps: tuple[str, ...]              # partial solution before the QG node, one line a step
    qg_query: str
    trajectory_reward: float
    solution_node_ids: tuple[int, ...]

    @property
    def partial_solution(self) -> str:
        return "\n".join(self.steps)

    @property
    def qcot(self) -> str:
        """The question followed by the partial solution up to the node before the QG node."""
        return "\n".join([self.question.strip(), *self.steps]) if self.steps else self.question.strip()


@dataclass
class StoredTree:
    problem: Problem
    nodes: dict[int, TreeNode]
    finals: list[Solution]
    judgements: list[Judgement]


def load_tree(session: Session, problem_id: int) -> StoredTree:
    problem = session.get(Problem, problem_id)
    nodes = {n.node_id: n for n in session.scalars(
        select(TreeNode).where(TreeNode.problem_id == problem_id))}
    finals = list(session.scalars(select(Solution).where(
        Solution.problem_id == problem_id, Solution.kind == "final").order_by(Solution.node_id)))
    judgements = list(session.scalars(select(Judgement).where(
        Judgement.problem_id == problem_id, Judgement.source == "mcts")
        .order_by(Judgement.qg_node_id, Judgement.rank, Judgement.doc_id)))
    return StoredTree(problem, nodes, finals, judgements)


def path_to(nodes: dict[int, TreeNode], node_id: int) -> list[TreeNode]:
    """Root → ``node_id``."""
    path: list[TreeNode] = []
    current: int | None = node_id
    while current is not None:
        node = nodes[current]
        path.append(node)
        current = node.parent_node_id
        if len(path) > len(nodes):
            raise ValueError(f"cycle in the stored tree at node {node_id}")
    return path[::-1]


def render_step(node: TreeNode) -> str | None:
    """A node as a line of a partial solution (None: not part of the solution text)."""
    kind = node.node_type
    extra = node.extra or {}
    if kind in (NodeType.USER_QUESTION.value, NodeType.QUERY_GENERATION.value,
                NodeType.REPHRASED_QUESTION.value):
        return None
    if kind == NodeType.RETRIEVAL.value:
        summary = (extra.get("summary") or node.text or "").strip()
        return THEOREM_STEP.format(summary=summary) if summary else None
    text = (node.text or "").strip()
    if kind in (NodeType.SUBQUESTION.value, NodeType.RE_SUBANSWER.value) and extra.get("subanswer"):
        text = f"{text}\n{extra['subanswer'].strip()}"
    return text or None


def negatives_for(judgements: Sequence[Judgement], qg_node_id: int, positives: set[str],
                  unparsed_as_negative: bool) -> tuple[str, ...]:
    """Theorems the self-reflection of ``qg_node_id`` rejected, by rank; never a positive."""
    accepted = {j.doc_id for j in judgements if j.qg_node_id == qg_node_id and j.label is True}
    out: list[str] = []
    for j in judgements:
        if j.qg_node_id != qg_node_id or j.doc_id in positives or j.doc_id in accepted:
            continue
        if j.label is False or (j.label is None and unparsed_as_negative):
            if j.doc_id not in out:
                out.append(j.doc_id)
    return tuple(out)


def extract_samples(tree: StoredTree, *, min_reward: float | None = 1.0,
                    unparsed_as_negative: bool = False) -> list[Sample]:
    """Every (QG, RT) sample of the tree's qualifying trajectories, sorted by (QG, RT)."""
    found: dict[tuple[int, int], dict] = {}
    for solution in tree.finals:
        if min_reward is not None and solution.reward < min_reward:
            continue
        if solution.node_id not in tree.nodes:
            continue
        path = path_to(tree.nodes, solution.node_id)
        for i, node in enumerate(path):
            if node.node_type != NodeType.RETRIEVAL.value or not node.doc_id or i == 0:
                continue
            qg = path[i - 1]
            if qg.node_type != NodeType.QUERY_GENERATION.value:
                continue
            key = (qg.node_id, node.node_id)
            entry = found.setdefault(key, {"qg": qg, "rt": node, "reward": solution.reward,
                                           "before": path[:i - 1], "solutions": []})
            entry["reward"] = max(entry["reward"], solution.reward)
            entry["solutions"].append(solution.node_id)
    problem = tree.problem
    samples = []
    for (qg_id, rt_id), entry in sorted(found.items()):
        rt, qg = entry["rt"], entry["qg"]
        steps = tuple(s for s in (render_step(n) for n in entry["before"]) if s)
        negatives = negatives_for(tree.judgements, qg_id, {rt.doc_id}, unparsed_as_negative)
        samples.append(Sample(
            problem_id=problem.id, source_id=problem.source_id, question=problem.text,
            qg_node_id=qg_id, rt_node_id=rt_id, doc_id=rt.doc_id, negative_doc_ids=negatives,
            steps=steps, qg_query=(qg.extra or {}).get("query") or qg.text,
            trajectory_reward=float(entry["reward"]),
            solution_node_ids=tuple(sorted(set(entry["solutions"])))))
    return samples


def load_samples(session: Session, problem_id: int, *, min_reward: float | None = 1.0,
                 unparsed_as_negative: bool = False) -> list[Sample]:
    return extract_samples(load_tree(session, problem_id), min_reward=min_reward,
                           unparsed_as_negative=unparsed_as_negative)
