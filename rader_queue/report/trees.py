"""The MCTS tree of one problem as the report draws it.

Rows of ``tree_nodes`` become a nested :class:`ViewNode` tree; each query-generation node
carries its top-k retrieved theorems with the self-reflection verdict on each, each retrieval
node the query that found its theorem, and the nodes on a path to a final solution that matched
the gold answer are marked ``gold``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from rader_queue.report.data import TreeRows

GOLD_REWARD = 1.0
QG_TYPE = "query_generation"
RT_TYPE = "retrieval"


@dataclass
class Retrieved:
    rank: int
    doc_id: str
    score: float
    label: bool | None = None
    judged: bool = False
    reason: str = ""
    judge_source: str = ""


@dataclass
class ViewNode:
    node_id: int
    parent_id: int | None
    type: str
    depth: int
    text: str
    q: float
    n: int
    reward: float | None
    terminal: bool
    rollout_id: int | None
    doc_id: str | None
    extra: dict[str, Any]
    children: list[ViewNode] = field(default_factory=list)
    gold: bool = False
    solution_reward: float | None = None
    query: str | None = None
    retrieved: list[Retrieved] = field(default_factory=list)
    judgement: Retrieved | None = None
    top_k: list[Retrieved] = field(default_factory=list)

    @property
    def value(self) -> float | None:
        """What the node is coloured by: its reward when it has one, else its mean value Q/N."""
        if self.reward is not None:
            return self.reward
        return self.q / self.n if self.n else None

    @property
    def preview(self) -> str:
        text = " ".join(self.text.split())
        return text if len(text) <= 110 else text[:107] + "…"


@dataclass
class SolutionPath:
    node_id: int
    reward: float
    has_retrieval: bool
    gold: bool
    steps: list[ViewNode]


@dataclass
class TreeView:
    roots: list[ViewNode]
    nodes: dict[int, ViewNode]
    solutions: list[SolutionPath]
    rollouts: int

    @property
    def size(self) -> int:
        return len(self.nodes)

    @property
    def max_depth(self) -> int:
        return max((n.depth for n in self.nodes.values()), default=0)

    @property
    def solved(self) -> bool:
        return any(s.gold for s in self.solutions)

    @property
    def best_reward(self) -> float | None:
        return max((s.reward for s in self.solutions), default=None)

    @cached_property
    def open_ids(self) -> set[int]:
        """Nodes drawn open on load: the shortest path to the gold answer, if any."""
        first = self.solutions[0] if self.solutions and self.solutions[0].gold else None
        return {n.node_id for n in first.steps[:-1]} if first else set()

    def walk(self) -> Iterator[tuple[str, ViewNode]]:
        """Depth-first ("open", node) … ("close", node) events, children in id order."""
        stack: list[tuple[str, ViewNode]] = [("open", r) for r in reversed(self.roots)]
        while stack:
            kind, node = stack.pop()
            yield kind, node
            if kind == "open":
                stack.append(("close", node))
                stack.extend(("open", c) for c in reversed(node.children))

    def type_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node in self.nodes.values():
            counts[node.type] = counts.get(node.type, 0) + 1
        return counts


def build_tree(rows: TreeRows) -> TreeView:
    nodes: dict[int, ViewNode] = {}
    for r in rows.nodes:
        nodes[r.node_id] = ViewNode(
            r.node_id, r.parent_node_id, r.node_type, r.depth, r.text or "", float(r.q or 0.0),
            int(r.n or 0), r.reward, bool(r.terminal), r.rollout_id, r.doc_id,
            r.extra if isinstance(r.extra, dict) else {})
    roots: list[ViewNode] = []
    for node in nodes.values():  # rows come in node_id order, so children stay ordered
        parent = nodes.get(node.parent_id) if node.parent_id is not None else None
        (parent.children if parent is not None else roots).append(node)
    _attach_retrievals(nodes, rows)
    solutions = _solutions(nodes, rows)
    rollouts = len({s.rollout_id for s in rows.solutions if s.kind == "rollout"})
    return TreeView(roots, nodes, solutions, rollouts)


def _attach_retrievals(nodes: dict[int, ViewNode], rows: TreeRows) -> None:
    for r in rows.retrievals:
        qg = nodes.get(r.qg_node_id)
        if qg is None:
            continue
        qg.retrieved.append(Retrieved(r.rank, r.doc_id, float(r.score)))
        if qg.query is None:
            qg.query = r.query
    for j in rows.judgements:
        qg = nodes.get(j.qg_node_id)
        if qg is None:
            continue
        hit = next((x for x in qg.retrieved if x.doc_id == j.doc_id), None)
        if hit is None:
            hit = Retrieved(j.rank or 0, j.doc_id, float("nan"))
            qg.retrieved.append(hit)
        if not hit.judged or j.source == "mcts":
            hit.label, hit.reason, hit.judged, hit.judge_source = j.label, j.reason or "", True, j.source
    for node in nodes.values():
        if node.type == QG_TYPE and node.query is None:
            node.query = node.extra.get("query") or node.text
        if node.type == RT_TYPE:
            parent = nodes.get(node.parent_id) if node.parent_id is not None else None
            if parent is not None:
                node.query = parent.query or parent.extra.get("query")
                node.top_k = parent.retrieved
                node.judgement = next((x for x in parent.retrieved if x.doc_id == node.doc_id),
                                      None)


def _solutions(nodes: dict[int, ViewNode], rows: TreeRows) -> list[SolutionPath]:
    out = []
    for s in rows.solutions:
        if s.kind != "final" or s.node_id not in nodes:
            continue
        steps = _path(nodes, s.node_id)
        gold = float(s.reward) >= GOLD_REWARD
        nodes[s.node_id].solution_reward = float(s.reward)
        if gold:
            for step in steps:
                step.gold = True
        out.append(SolutionPath(s.node_id, float(s.reward), bool(s.has_retrieval), gold, steps))
    out.sort(key=lambda p: (-p.reward, len(p.steps), p.node_id))
    return out


def _path(nodes: dict[int, ViewNode], node_id: int) -> list[ViewNode]:
    path: list[ViewNode] = []
    current: int | None = node_id
    while current is not None and current in nodes and len(path) <= len(nodes):
        path.append(nodes[current])
        current = nodes[current].parent_id
    return path[::-1]
