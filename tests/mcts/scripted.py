"""A deterministic, scriptable Policy for the MCTS tests.

Every action has a default script (outputs that depend only on the context, so the tree is
a function of the seed) and can be overridden with a callable. Optional random sleeps make
the gathered calls finish in a shuffled order; in-flight counters record concurrency.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Collection
from typing import Any

from rader_queue.mcts.nodes import CandidateTheorem, Judgement, NodeType, PathContext, RetrievedDoc
from rader_queue.mcts.reward import gold_reward

GOLD = "42"


def default_ost(ctx: PathContext, n: int) -> list[str]:
    return [f"step at depth {ctx.depth + 1} from node {ctx.node_id} sample {i}" for i in range(n)]


def default_crs(ctx: PathContext, n: int) -> list[str]:
    # Only one sample of the request is right; its position depends on the depth.
    right = ctx.depth % n
    return [f"so the answer is \\boxed{{{GOLD if i == right else 7}}}" for i in range(n)]


def default_queries(ctx: PathContext) -> list[CandidateTheorem]:
    return [CandidateTheorem(name=f"Theorem {chr(65 + i)}", statement=f"statement {i} at node {ctx.node_id}")
            for i in range(2)]


def make_corpus(size: int = 8) -> list[RetrievedDoc]:
    return [RetrievedDoc(doc_id=f"d{i}", title=f"T{i}", text=f"text {i}", score=1.0 - i / 100, rank=i)
            for i in range(1, size + 1)]


class ScriptedPolicy:
    """Scripted implementation of :class:`rader_queue.mcts.policy.Policy`."""

    def __init__(self, *, ost: Callable[[PathContext, int], list[str]] = default_ost,
                 crs: Callable[[PathContext, int], list[str]] = default_crs,
                 queries: Callable[[PathContext], list[CandidateTheorem]] = default_queries,
                 corpus: list[RetrievedDoc] | None = None, honour_exclude: bool = True,
                 verdicts: dict[str, Any] | Callable[[PathContext, str, RetrievedDoc], Judgement] | None = None,
                 reward: Callable[[PathContext, str], float] | None = None,
                 delay_seed: int | None = None, fixed_delay: float = 0.0) -> None:
        self.ost, self.crs, self.queries = ost, crs, queries
        self.corpus = corpus if corpus is not None else make_corpus()
        self.honour_exclude = honour_exclude
        self.verdicts = verdicts
        self.reward_fn = reward or (lambda ctx, text: gold_reward(text, GOLD))
        self.delay_rng = random.Random(delay_seed) if delay_seed is not None else None
        self.fixed_delay = fixed_delay
        self.calls: list[tuple[str, Any]] = []
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()
        self.group_in_flight: dict[str, int] = defaultdict(int)
        self.group_max: dict[str, int] = defaultdict(int)

    async def _enter(self, name: str, payload: Any, group: str | None = None) -> None:
        self.calls.append((name, payload))
        self.in_flight[name] += 1
        self.max_in_flight[name] = max(self.max_in_flight[name], self.in_flight[name])
        if group:
            self.group_in_flight[group] += 1
            self.group_max[group] = max(self.group_max[group], self.group_in_flight[group])
        delay = self.fixed_delay + (self.delay_rng.uniform(0, 0.003) if self.delay_rng else 0.0)
        await asyncio.sleep(delay)

    def _leave(self, name: str, group: str | None = None) -> None:
        self.in_flight[name] -= 1
        if group:
            self.group_in_flight[group] -= 1

    async def one_step_thoughts(self, ctx: PathContext, n: int) -> list[str]:
        await self._enter("one_step_thoughts", ctx, "expansion")
        try:
            return self.ost(ctx, n)
        finally:
            self._leave("one_step_thoughts", "expansion")

    async def complete_remaining(self, ctx: PathContext, n: int) -> list[str]:
        await self._enter("complete_remaining", ctx, "expansion")
        try:
            return self.crs(ctx, n)
        finally:
            self._leave("complete_remaining", "expansion")

    async def generate_queries(self, ctx: PathContext) -> list[CandidateTheorem]:
        await self._enter("generate_queries", ctx, "expansion")
        try:
            return self.queries(ctx)
        finally:
            self._leave("generate_queries", "expansion")

    async def retrieve(self, query: str, exclude_doc_ids: Collection[str], k: int) -> list[RetrievedDoc]:
        await self._enter("retrieve", (query, tuple(exclude_doc_ids), k))
        try:
            excluded = set(exclude_doc_ids) if self.honour_exclude else set()
            return [d for d in self.corpus if d.doc_id not in excluded][:k]
        finally:
            self._leave("retrieve")

    async def summarize(self, doc: RetrievedDoc) -> str:
        await self._enter("summarize", doc.doc_id)
        try:
            return f"summary of {doc.doc_id}"
        finally:
            self._leave("summarize")

    async def judge_relevance(self, ctx: PathContext, summary: str, doc: RetrievedDoc) -> Judgement:
        await self._enter("judge_relevance", (ctx.node_id, doc.doc_id))
        try:
            if callable(self.verdicts):
                return self.verdicts(ctx, summary, doc)
            label = True if self.verdicts is None else self.verdicts.get(doc.doc_id, False)
            return Judgement(label=label, reason=f"reason for {doc.doc_id}", raw=f"Relevant: {label}")
        finally:
            self._leave("judge_relevance")

    async def reward(self, ctx: PathContext, answer_text: str) -> float:
        await self._enter("reward", answer_text)
        try:
            return float(self.reward_fn(ctx, answer_text))
        finally:
            self._leave("reward")

    def count(self, name: str) -> int:
        return sum(1 for call, _ in self.calls if call == name)


def qg_count(ctx: PathContext) -> int:
    return sum(1 for kind, _ in ctx.steps if kind is NodeType.QUERY_GENERATION)
