"""Tree nodes of the rader-queue MCTS and the small records that policies hand back.

Everything here is plain data: no model calls, no I/O. ``to_dict()`` methods return
JSON-able dicts (enums become their string values).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class NodeType(str, Enum):
    """Kinds of node in the search tree (spec §S1.1).

    ``SUBQUESTION``, ``RE_SUBANSWER`` and ``REPHRASED_QUESTION`` are the rStar actions
    A3/A4/A5; they only appear when the matching ``MCTSConfig.enable_*`` flag is on.
    """

    USER_QUESTION = "user_question"
    OST = "ost"                      # one-step thought (A1)
    CRS = "crs"                      # complete remaining steps / direct answer (A2)
    QUERY_GENERATION = "query_generation"
    RETRIEVAL = "retrieval"
    SUBQUESTION = "subquestion"
    RE_SUBANSWER = "re_subanswer"
    REPHRASED_QUESTION = "rephrased_question"


@dataclass(frozen=True)
class CandidateTheorem:
    """One theorem that the query-generation action proposes as useful for the problem."""

    name: str
    statement: str
    preconditions: str = ""
    subject: str = ""
    raw: str = ""

    @property
    def query(self) -> str:
        """The retrieval query built from this candidate (name and statement)."""
        parts = []
        if self.name:
            parts.append(f"Theorem Name: {self.name}")
        if self.statement:
            parts.append(f"Theorem Statement: {self.statement}")
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "statement": self.statement, "preconditions": self.preconditions,
                "subject": self.subject, "raw": self.raw}


@dataclass(frozen=True)
class RetrievedDoc:
    """One theorem returned by the retriever; ``rank`` counts from 1."""

    doc_id: str
    title: str
    text: str
    score: float
    rank: int

    def to_dict(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "title": self.title, "text": self.text,
                "score": self.score, "rank": self.rank}


@dataclass(frozen=True)
class Judgement:
    """A self-reflection verdict on one retrieved theorem.

    ``label`` is True (relevant), False (not relevant) or None when the model's reply could
    not be parsed. The search treats None as *not relevant* and records it as such.
    """

    label: bool | None
    reason: str = ""
    raw: str = ""


_TERMINAL_OST = re.compile(r"\\boxed|answer is", re.IGNORECASE)


def ost_reaches_answer(text: str) -> bool:
    """True when a one-step thought states a final answer (``\\boxed`` or "answer is")."""
    return bool(_TERMINAL_OST.search(text))


_FINAL_SUBQUESTION = re.compile(r"^\s*now\s+we\s+can\s+answer", re.IGNORECASE)


def subquestion_reaches_answer(subquestion: str) -> bool:
    """True when an rStar sub-question is the final one ("Now we can answer ...")."""
    return bool(_FINAL_SUBQUESTION.search(subquestion))


@dataclass
class Node:
    """One node of the search tree of one problem.

    ``node_id`` is unique within one search (assigned by that search's own counter, in a
    deterministic order). ``q``/``n`` are the MCTS statistics; ``value`` is the reward of a
    valid leaf (``valid_leaf``) and None elsewhere. ``children`` holds child ids once the
    node is ``expanded``.
    """

    node_id: int
    parent_id: int | None
    type: NodeType
    depth: int
    text: str
    rollout_id: int | None = None
    q: float = 0.0
    n: int = 0
    value: float | None = None
    terminal: bool = False
    valid_leaf: bool = False
    expanded: bool = False
    children: list[int] = field(default_factory=list)
    # why a valid leaf got its ``value`` (e.g. "different numbers", "check exceeded 5 s")
    reward_reason: str | None = None
    # CRS: reward of every sample of the request; ``text``/``value`` are the best one.
    sample_rewards: list[float] | None = None
    # QUERY_GENERATION
    query: str | None = None
    theorem_name: str | None = None
    theorem_statement: str | None = None
    theorem_preconditions: str | None = None
    theorem_subject: str | None = None
    theorem_raw: str | None = None
    # RETRIEVAL (``text`` holds the summary as well)
    doc_id: str | None = None
    doc_title: str | None = None
    summary: str | None = None
    retrieval_score: float | None = None
    retrieval_rank: int | None = None
    # SUBQUESTION / RE_SUBANSWER
    subanswer: str | None = None

    @property
    def step_text(self) -> str:
        """The text a prompt shows for this node as a step of a partial solution."""
        if self.type in (NodeType.SUBQUESTION, NodeType.RE_SUBANSWER) and self.subanswer:
            return f"{self.text}\n{self.subanswer}"
        return self.text

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, Enum):
                value = value.value
            elif isinstance(value, list):
                value = list(value)
            out[name] = value
        return out


@dataclass(frozen=True)
class PathContext:
    """What a policy sees when asked to act at one node.

    ``steps`` are the nodes below the root on the path to (and including) ``node_id``, as
    ``(NodeType, text)`` pairs: OST/CRS text, QG queries, theorem summaries for RT nodes.
    ``theorem_ids`` are the doc ids already retrieved on the path.
    """

    question: str
    steps: tuple[tuple[NodeType, str], ...] = ()
    node_id: int = 0
    depth: int = 0
    theorem_ids: tuple[str, ...] = ()

    @property
    def effective_question(self) -> str:
        """The question, or its rephrasing when the path contains a REPHRASED_QUESTION."""
        for kind, text in self.steps:
            if kind is NodeType.REPHRASED_QUESTION:
                return text
        return self.question
