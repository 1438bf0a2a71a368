"""The interfaces through which model and retriever calls enter the pure MCTS core.

``run_search`` only ever awaits a :class:`Policy`. :class:`LLMPolicy` (``llm_policy.py``)
implements it over a :class:`TextGenerator` and a :class:`TheoremSearch`; tests use scripted
policies. All policy methods must be safe to run concurrently (the search gathers them).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from rader_queue.mcts.nodes import CandidateTheorem, Judgement, PathContext, RetrievedDoc

if TYPE_CHECKING:
    from rader_queue.llm.structured import ReplyFormat


@runtime_checkable
class Policy(Protocol):
    """The actions the search can take. ``ctx`` is the path up to the node being expanded."""

    async def one_step_thoughts(self, ctx: PathContext, n: int) -> list[str]:
        """Up to ``n`` candidate next steps (A1, one request with n samples)."""
        ...

    async def complete_remaining(self, ctx: PathContext, n: int) -> list[str]:
        """Up to ``n`` samples that finish the solution (A2/CRS, one request with n samples)."""
        ...

    async def generate_queries(self, ctx: PathContext) -> list[CandidateTheorem]:
        """Candidate theorems worth retrieving (QG); one QG node is made per candidate."""
        ...

    async def retrieve(self, query: str, exclude_doc_ids: Collection[str], k: int) -> list[RetrievedDoc]:
        """The top ``k`` theorems for ``query``, none of whose ids is in ``exclude_doc_ids``."""
        ...

    async def summarize(self, doc: RetrievedDoc) -> str:
        """A plain-language summary of a retrieved theorem."""
        ...

    async def judge_relevance(self, ctx: PathContext, summary: str, doc: RetrievedDoc) -> Judgement:
        """Self-reflection: is this theorem useful for the partial solution in ``ctx``?"""
        ...

    async def reward(self, ctx: PathContext, answer_text: str) -> float:
        """Reward in [0, 1] of a solution text that ends the path ``ctx``."""
        ...


@runtime_checkable
class RStarPolicy(Policy, Protocol):
    """The optional rStar actions A3/A4/A5; needed only when their config flags are on."""

    async def propose_subquestions(self, ctx: PathContext, n: int) -> list[tuple[str, str]]:
        """Up to ``n`` (sub-question, sub-answer) pairs (A3)."""
        ...

    async def reanswer_subquestion(self, ctx: PathContext) -> str:
        """A fresh answer to the last sub-question on the path (A4)."""
        ...

    async def rephrase_question(self, ctx: PathContext) -> str:
        """The question restated as a list of its conditions (A5)."""
        ...


@runtime_checkable
class TextGenerator(Protocol):
    """An async chat-completion client (implemented in ``rader_queue.llm.generator``)."""

    async def generate(self, messages: list[dict], *, n: int = 1, max_tokens: int = 256,
                       temperature: float = 0.8, top_p: float = 0.95, stop: list[str] | None = None,
                       seed: int | None = None, stage: str = "mcts",
                       reply_format: ReplyFormat | None = None) -> list[str]:
        """``n`` completions of the chat ``messages``; ``reply_format`` is a hint a server may
        enforce (:mod:`rader_queue.llm.structured`)."""
        ...


@runtime_checkable
class TheoremSearch(Protocol):
    """A synchronous theorem index; the policy calls it through ``asyncio.to_thread``."""

    def search(self, query: str, k: int = 5, exclude: Collection[str] = ()) -> list[tuple[str, float]]:
        """(doc_id, score) pairs, best first, without the ids in ``exclude``."""
        ...

    def document(self, doc_id: str) -> tuple[str, str]:
        """(title, text) of one theorem."""
        ...
