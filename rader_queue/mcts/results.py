"""What one search returns: the tree, the leaf of each rollout, the valid solutions, and the
retrieval and self-reflection records of every QG node. All of it is JSON-able via ``to_dict()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rader_queue.mcts.nodes import Node, NodeType


@dataclass(frozen=True)
class RolloutSolution:
    """The leaf that rollout ``rollout_id`` ended in, and the reward it backed up."""

    rollout_id: int
    node_id: int
    reward: float


@dataclass(frozen=True)
class FinalSolution:
    """A valid solution leaf (CRS, answering OST, final sub-question) of the final tree."""

    node_id: int
    rollout_id: int | None
    type: NodeType
    reward: float


@dataclass(frozen=True)
class JudgementRecord:
    """A self-reflection verdict on one retrieved theorem of one QG node (label None =
    unparseable reply, treated as not relevant)."""

    qg_node_id: int
    doc_id: str
    rank: int
    label: bool | None
    reason: str
    raw: str


@dataclass(frozen=True)
class RetrievalRecord:
    """One of the top-k theorems retrieved for a QG node's query."""

    qg_node_id: int
    query: str
    rank: int
    doc_id: str
    score: float


def _record_dict(record: Any) -> dict[str, Any]:
    out = {}
    for name in record.__dataclass_fields__:
        value = getattr(record, name)
        out[name] = value.value if isinstance(value, NodeType) else value
    return out


@dataclass
class SearchResult:
    """Everything one search produced. ``nodes`` are in id order (``nodes[i].node_id == i``)."""

    question: str
    config: dict[str, Any]
    nodes: list[Node]
    rollout_solutions: list[RolloutSolution] = field(default_factory=list)
    final_solutions: list[FinalSolution] = field(default_factory=list)
    judgements: list[JudgementRecord] = field(default_factory=list)
    retrievals: list[RetrievalRecord] = field(default_factory=list)

    def node(self, node_id: int) -> Node:
        return self.nodes[node_id]

    def trajectory(self, node_id: int) -> list[Node]:
        """The nodes from the root down to ``node_id``."""
        path = []
        current: int | None = node_id
        while current is not None:
            node = self.nodes[current]
            path.append(node)
            current = node.parent_id
        return path[::-1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "config": dict(self.config),
            "nodes": [n.to_dict() for n in self.nodes],
            "rollout_solutions": [_record_dict(r) for r in self.rollout_solutions],
            "final_solutions": [_record_dict(r) for r in self.final_solutions],
            "judgements": [_record_dict(r) for r in self.judgements],
            "retrievals": [_record_dict(r) for r in self.retrievals],
        }
