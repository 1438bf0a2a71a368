"""Retrieval-augmented MCTS over one math problem (spec §S1.2–S1.3, rStar backbone §3.1).

``run_search`` is pure: every model or retriever call goes through the awaited
:class:`~rader_queue.mcts.policy.Policy`. Each search owns its node-id counter and its
``random.Random(config.seed)``, so concurrent searches never share state.

Determinism: the calls of one expansion are gathered, and child nodes are created only
after the gather, in a fixed order (OST samples, CRS, QG candidates, sub-questions,
re-answer, rephrase; RT children in retrieval-rank order). Given the same seed and the
same policy outputs the tree is identical, whatever order the calls finish in.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from rader_queue.errors import ConfigError, InputError
from rader_queue.mcts.config import MCTSConfig
from rader_queue.mcts.nodes import (Judgement, Node, NodeType, PathContext, RetrievedDoc,
                                    ost_reaches_answer, subquestion_reaches_answer)
from rader_queue.mcts.policy import Policy
from rader_queue.mcts.results import (FinalSolution, JudgementRecord, RetrievalRecord, RolloutSolution,
                                      SearchResult)

UNVISITED_UCT = 999.0


def uct_value(q: float, n: int, parent_n: int, c: float) -> float:
    """UCT = Q/N + c·sqrt(ln N_parent / N); an unvisited child scores ``UNVISITED_UCT``."""
    if n == 0:
        return UNVISITED_UCT
    return q / n + c * math.sqrt(math.log(parent_n) / n)


@dataclass
class _Draft:
    """A child computed by an expansion but not yet given an id."""

    type: NodeType
    text: str
    valid_leaf: bool = False
    value: float | None = None
    fields: dict[str, Any] = field(default_factory=dict)


_RSTAR_METHODS = {"enable_subquestion": "propose_subquestions",
                  "enable_reanswer": "reanswer_subquestion",
                  "enable_rephrase": "rephrase_question"}


class _Search:
    """State of one search: its tree, id counter (``len(nodes)``), RNG and records."""

    def __init__(self, question: str, policy: Policy, config: MCTSConfig) -> None:
        self.question, self.policy, self.config = question, policy, config
        self.rng = random.Random(config.seed)
        self.nodes: list[Node] = []
        self.rollout_solutions: list[RolloutSolution] = []
        self.judgements: list[JudgementRecord] = []
        self.retrievals: list[RetrievalRecord] = []
        self.root = self._add(None, _Draft(NodeType.USER_QUESTION, question), rollout_id=None)

    # ------------------------------------------------------------------ tree bookkeeping
    def _add(self, parent: Node | None, draft: _Draft, rollout_id: int | None) -> Node:
        depth = 0 if parent is None else parent.depth + 1
        node = Node(node_id=len(self.nodes), parent_id=None if parent is None else parent.node_id,
                    type=draft.type, depth=depth, text=draft.text, rollout_id=rollout_id,
                    value=float(draft.value) if draft.valid_leaf and draft.value is not None else None,
                    reward_reason=getattr(draft.value, "reason", None) if draft.valid_leaf else None,
                    valid_leaf=draft.valid_leaf,
                    **draft.fields)
        node.terminal = draft.valid_leaf or depth >= self.config.max_depth
        self.nodes.append(node)
        if parent is not None:
            parent.children.append(node.node_id)
        return node

    def _path(self, node: Node) -> list[Node]:
        path = [node]
        while path[-1].parent_id is not None:
            path.append(self.nodes[path[-1].parent_id])
        return path[::-1]

    def _context(self, node: Node) -> PathContext:
        path = self._path(node)
        return PathContext(
            question=self.question,
            steps=tuple((n.type, n.step_text) for n in path[1:]),
            node_id=node.node_id, depth=node.depth,
            theorem_ids=tuple(n.doc_id for n in path if n.type is NodeType.RETRIEVAL and n.doc_id))

    def _qg_allowed(self, node: Node) -> bool:
        if not self.config.enable_qg:
            return False
        used = sum(1 for n in self._path(node) if n.type is NodeType.QUERY_GENERATION)
        return used < self.config.effective_qg_budget

    # ------------------------------------------------------------------ MCTS loop
    async def run(self) -> SearchResult:
        for rollout_id in range(self.config.rollouts):
            await self._rollout(rollout_id)
        finals = [FinalSolution(n.node_id, n.rollout_id, n.type, float(n.value or 0.0))
                  for n in self.nodes if n.valid_leaf]
        return SearchResult(self.question, self.config.model_dump(), self.nodes, self.rollout_solutions,
                            finals, self.judgements, self.retrievals)

    async def _rollout(self, rollout_id: int) -> None:
        path = self._select(self.config.exploration_weight_at(rollout_id))
        node = path[-1]
        while not node.terminal:                       # expand, then simulate
            if not node.expanded:
                await self._expand(node, rollout_id)
                if node.terminal:                      # the expansion produced no children
                    break
            node = self.nodes[self.rng.choice(node.children)]
            path.append(node)
        reward = float(node.value or 0.0) if node.valid_leaf else 0.0
        for visited in path:
            visited.q += reward
            visited.n += 1
        self.rollout_solutions.append(RolloutSolution(rollout_id, node.node_id, reward))

    def _select(self, c: float) -> list[Node]:
        node = self.root
        path = [node]
        while node.expanded and node.children:
            unexplored = [cid for cid in node.children if self.nodes[cid].n == 0]
            if unexplored:
                path.append(self.nodes[self.rng.choice(unexplored)])
                return path
            parent = node
            node = max((self.nodes[cid] for cid in parent.children),
                       key=lambda ch: uct_value(ch.q, ch.n, parent.n, c))
            path.append(node)
        return path

    # ------------------------------------------------------------------ expansion
    async def _expand(self, node: Node, rollout_id: int) -> None:
        """Create all children of ``node`` (spec §S1.2); a node left without any becomes terminal."""
        ctx = self._context(node)
        cfg = self.config
        kind = node.type
        qg = self._qg_allowed(node)
        drafts: list[_Draft]
        if kind is NodeType.USER_QUESTION:
            drafts = await self._actions(node, ctx, ost=True, crs=True, qg=qg,
                                         subq=cfg.enable_subquestion, rephrase=cfg.enable_rephrase)
        elif kind is NodeType.OST:
            drafts = await self._actions(node, ctx, ost=True, qg=qg)
            if not drafts:
                drafts = await self._actions(node, ctx, crs=True)
        elif kind is NodeType.QUERY_GENERATION:
            drafts = await self._retrieval_children(node, ctx)
            if not drafts:
                drafts = await self._actions(node, ctx, ost=True, crs=True)
        elif kind is NodeType.RETRIEVAL:
            drafts = await self._actions(node, ctx, ost=True, crs=True)
        elif kind in (NodeType.REPHRASED_QUESTION, NodeType.RE_SUBANSWER):
            drafts = await self._actions(node, ctx, ost=True, crs=True, qg=qg, subq=cfg.enable_subquestion)
        elif kind is NodeType.SUBQUESTION:
            drafts = await self._actions(node, ctx, ost=True, crs=True, qg=qg, subq=cfg.enable_subquestion,
                                         reanswer=cfg.enable_reanswer)
        else:                                          # CRS: always terminal
            drafts = []
        for draft in drafts:
            self._add(node, draft, rollout_id)
        node.expanded = True
        if not node.children:
            node.terminal = True

    async def _actions(self, node: Node, ctx: PathContext, *, ost: bool = False, crs: bool = False,
                       qg: bool = False, subq: bool = False, reanswer: bool = False,
                       rephrase: bool = False) -> list[_Draft]:
        """Run the chosen actions concurrently; concatenate their drafts in a fixed order."""
        calls: list[Awaitable[list[_Draft]]] = []
        if ost:
            calls.append(self._ost_drafts(ctx))
        if crs:
            calls.append(self._crs_drafts(ctx))
        if qg:
            calls.append(self._qg_drafts(ctx))
        if subq:
            calls.append(self._subquestion_drafts(ctx))
        if reanswer:
            calls.append(self._reanswer_drafts(node, ctx))
        if rephrase:
            calls.append(self._rephrase_drafts(ctx))
        results = await asyncio.gather(*calls)
        return [draft for group in results for draft in group]

    async def _leaf_values(self, ctx: PathContext, texts: list[str | None]) -> list[float | None]:
        """Rewards of the texts that end a solution (None entries are skipped)."""
        async def score(text: str | None) -> float | None:
            if text is None:
                return None
            value = await self.policy.reward(ctx, text)     # a float; a Reward also has .reason
            return value if isinstance(value, float) else float(value)
        return list(await asyncio.gather(*(score(t) for t in texts)))

    async def _ost_drafts(self, ctx: PathContext) -> list[_Draft]:
        n = self.config.ost_samples
        texts = _clean(await self.policy.one_step_thoughts(ctx, n))[:n]
        values = await self._leaf_values(ctx, [t if ost_reaches_answer(t) else None for t in texts])
        return [_Draft(NodeType.OST, t, valid_leaf=v is not None, value=v) for t, v in zip(texts, values)]

    async def _crs_drafts(self, ctx: PathContext) -> list[_Draft]:
        """One CRS child: the best-rewarded of the samples (first one on ties) and its reward."""
        n = self.config.crs_samples
        samples = _clean(await self.policy.complete_remaining(ctx, n))[:n]
        if not samples:
            return []
        values = await self._leaf_values(ctx, list(samples))  # type: ignore[arg-type]
        rewards = [float(v) for v in values]  # type: ignore[arg-type]
        best = max(range(len(samples)), key=lambda i: (rewards[i], -i))
        return [_Draft(NodeType.CRS, samples[best], valid_leaf=True, value=values[best],
                       fields={"sample_rewards": rewards})]

    async def _qg_drafts(self, ctx: PathContext) -> list[_Draft]:
        drafts = []
        for cand in await self.policy.generate_queries(ctx):
            query = cand.query.strip()
            if not query:
                continue
            drafts.append(_Draft(NodeType.QUERY_GENERATION, query, fields={
                "query": query, "theorem_name": cand.name, "theorem_statement": cand.statement,
                "theorem_preconditions": cand.preconditions, "theorem_subject": cand.subject,
                "theorem_raw": cand.raw}))
        return drafts

    async def _subquestion_drafts(self, ctx: PathContext) -> list[_Draft]:
        n = self.config.subquestion_samples
        pairs = [(q.strip(), a.strip()) for q, a in await self.policy.propose_subquestions(ctx, n)  # type: ignore[attr-defined]
                 if q and q.strip()][:n]
        values = await self._leaf_values(ctx, [a if subquestion_reaches_answer(q) else None for q, a in pairs])
        return [_Draft(NodeType.SUBQUESTION, q, valid_leaf=v is not None, value=v, fields={"subanswer": a})
                for (q, a), v in zip(pairs, values)]

    async def _reanswer_drafts(self, node: Node, ctx: PathContext) -> list[_Draft]:
        answer = (await self.policy.reanswer_subquestion(ctx) or "").strip()  # type: ignore[attr-defined]
        if not answer:
            return []
        final = subquestion_reaches_answer(node.text)
        [value] = await self._leaf_values(ctx, [answer if final else None])
        return [_Draft(NodeType.RE_SUBANSWER, node.text, valid_leaf=final, value=value,
                       fields={"subanswer": answer})]

    async def _rephrase_drafts(self, ctx: PathContext) -> list[_Draft]:
        text = (await self.policy.rephrase_question(ctx) or "").strip()  # type: ignore[attr-defined]
        return [_Draft(NodeType.REPHRASED_QUESTION, text)] if text else []

    # ------------------------------------------------------------------ retrieval (QG -> RT)
    async def _retrieval_children(self, node: Node, ctx: PathContext) -> list[_Draft]:
        """Retrieve top-k for the QG query, summarize and judge every doc concurrently, and
        make one RT draft per doc judged relevant.

        A verdict that could not be parsed (label None) is recorded as such and the doc is
        *not* accepted: an RT node claims the theorem is useful, which an unreadable reply
        does not support. With ``self_reflection`` off every retrieved doc is accepted.
        """
        query = node.query or node.text
        exclude = set(ctx.theorem_ids)
        docs: list[RetrievedDoc] = []
        for doc in await self.policy.retrieve(query, tuple(ctx.theorem_ids), self.config.top_k):
            if doc.doc_id in exclude:                  # never re-retrieve a theorem on the path
                continue
            exclude.add(doc.doc_id)
            docs.append(doc)
            if len(docs) == self.config.top_k:
                break
        for doc in docs:
            self.retrievals.append(RetrievalRecord(node.node_id, query, doc.rank, doc.doc_id, float(doc.score)))

        async def assess(doc: RetrievedDoc) -> tuple[str, Judgement | None]:
            summary = (await self.policy.summarize(doc) or "").strip()
            if not self.config.self_reflection:
                return summary, None
            return summary, await self.policy.judge_relevance(ctx, summary, doc)

        results = await asyncio.gather(*(assess(doc) for doc in docs))
        drafts = []
        for doc, (summary, verdict) in zip(docs, results):
            if verdict is not None:
                self.judgements.append(JudgementRecord(node.node_id, doc.doc_id, doc.rank, verdict.label,
                                                       verdict.reason, verdict.raw))
                if verdict.label is not True:
                    continue
            drafts.append(_Draft(NodeType.RETRIEVAL, summary or doc.title or doc.doc_id, fields={
                "doc_id": doc.doc_id, "doc_title": doc.title, "summary": summary,
                "retrieval_score": float(doc.score), "retrieval_rank": doc.rank}))
        return drafts


def _clean(texts: list[str] | None) -> list[str]:
    """Drop empty samples: an empty step adds nothing to a path."""
    return [t.strip() for t in texts or [] if isinstance(t, str) and t.strip()]


async def run_search(question: str, policy: Policy, config: MCTSConfig | None = None) -> SearchResult:
    """Run ``config.rollouts`` MCTS rollouts over ``question`` and return the whole tree."""
    config = config or MCTSConfig()
    if not isinstance(question, str) or not question.strip():
        raise InputError("the question must be a non-empty string", field="question")
    for flag, method in _RSTAR_METHODS.items():
        if getattr(config, flag) and not callable(getattr(policy, method, None)):
            raise ConfigError(f"mcts config field {flag!r} is on but the policy "
                              f"{type(policy).__name__} has no {method}()")
    return await _Search(question, policy, config).run()
