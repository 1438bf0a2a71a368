"""Post-hoc relevance judgements (``judge`` queue): re-judge the theorems an MCTS run
retrieved, with another model, through the same judgement code the search uses
(:meth:`LLMPolicy.summarize` + :meth:`LLMPolicy.judge_relevance`). The model is the ``judge``
stage's endpoint, or the one the job's payload names; its client is the worker's, shared by
every job and closed at shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from rader_queue.errors import TaskFailed
from rader_queue.llm.ledger import Ledger
from rader_queue.mcts import LLMPolicy, MCTSConfig, NodeType, PathContext, RetrievedDoc
from rader_queue.queue import runtime
from rader_queue.job_context import JobContext, Outcome
from rader_queue.store import insert_ignore, session_scope
from rader_queue.store.models import Judgement, Retrieval, TreeNode

# What a path step shows a prompt, per node type (RT nodes show their summary).
_STEP_TYPES = {t.value: t for t in NodeType}


def _context(nodes: dict[int, TreeNode], qg_node_id: int, question: str) -> PathContext:
    path = []
    current: int | None = qg_node_id
    while current is not None:
        path.append(nodes[current])
        current = nodes[current].parent_node_id
    path.reverse()
    steps = tuple((_STEP_TYPES[n.node_type], (n.extra or {}).get("summary") or n.text)
                  for n in path[1:])
    theorem_ids = tuple(n.doc_id for n in path if n.doc_id)
    return PathContext(question=question, steps=steps, node_id=qg_node_id,
                       depth=path[-1].depth, theorem_ids=theorem_ids)


def rejudge_problem(ctx: JobContext) -> Outcome:
    # the ``judge`` stage's endpoint (RADER_STAGE_ENDPOINTS), or the model/server the job names
    shared = ctx.worker.generator("judge", model=ctx.payload.get("model"),
                                  base_url=ctx.payload.get("base_url"))
    model = shared.model
    with session_scope() as session:
        nodes = {n.node_id: n for n in session.scalars(
            select(TreeNode).where(TreeNode.problem_id == ctx.problem_id))}
        retrieved = session.scalars(select(Retrieval).where(Retrieval.problem_id == ctx.problem_id)
                                    .order_by(Retrieval.qg_node_id, Retrieval.rank)).all()
        session.expunge_all()
    if not nodes:
        raise TaskFailed(f"problem {ctx.problem_source_id} has no stored tree to re-judge")
    corpus = ctx.worker.retriever(ctx.run_config.get("corpus", "theoremqa"), "bm25")
    ledger = Ledger()
    generator = shared.bind(ledger=ledger, run_id=ctx.run_id, problem_id=ctx.problem_id)
    config = MCTSConfig.model_validate(ctx.run_config.get("mcts") or {})
    policy = LLMPolicy(generator, corpus, ctx.gold_answer or "?", config, stage="judge")

    async def judge_all() -> list[dict[str, Any]]:
        async def one(r: Retrieval) -> dict[str, Any]:
            title, text = await asyncio.to_thread(corpus.document, r.doc_id)
            doc = RetrievedDoc(doc_id=r.doc_id, title=title, text=text, score=r.score, rank=r.rank)
            path = _context(nodes, r.qg_node_id, ctx.problem_text or "")
            verdict = await policy.judge_relevance(path, await policy.summarize(doc), doc)
            return {"problem_id": ctx.problem_id, "qg_node_id": r.qg_node_id, "doc_id": r.doc_id,
                    "rank": r.rank, "label": verdict.label, "reason": verdict.reason,
                    "raw": verdict.raw, "model": model, "source": "posthoc"}

        return list(await asyncio.gather(*(one(r) for r in retrieved)))

    rows = runtime.run(judge_all())

    def persist(session) -> None:
        insert_ignore(session, Judgement, rows,
                      ["problem_id", "qg_node_id", "doc_id", "source", "model"])
        ledger.flush(session, ctx.run_id, ctx.problem_id)

    return Outcome({"problem": ctx.problem_source_id, "judged": len(rows),
                    "relevant": sum(1 for r in rows if r["label"] is True)}, persist)
