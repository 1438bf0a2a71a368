"""Samples → ``generated_queries`` rows, for each query type, and the relevance judge.

* ``qcot`` / ``qquestion``: no model call (the question plus partial solution / the question).
* ``qllmq``: for each trajectory through a (QG, RT) pair, the generator writes one query from
  the question, the partial solution before the QG node (which never contains the sample's own
  theorem) and the theorem's corpus text; a query that names the theorem, or (with
  ``max_overlap`` set) shares too many words with it, is kept with ``kept=False`` and a reason.
* ``qlexical``: the generator writes a query from the theorem alone (one row per theorem and
  run); kept only when BM25 ranks the theorem within ``lexical_top`` for it (round trip).
  Negatives: a seeded sample from BM25 ranks 31–50 plus the dense top 10, gold excluded.

Every request carries a seed derived from the run seed and stable ids, so results repeat and
come from the SQL response cache on a second run.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rader_queue.errors import TaskFailed
from rader_queue.llm.structured import VERDICT
from rader_queue.querygen import prompting
from rader_queue.querygen.options import QuerygenOptions, derive_seed, row_key
from rader_queue.querygen.samples import Sample
from rader_queue.retrieval.corpus import Doc, TheoremCorpus


@dataclass
class QuerygenEnv:
    """What generation needs: the run, its corpus and retrievers, a generator, the options."""

    run_id: int
    corpus: TheoremCorpus
    bm25: Any
    options: QuerygenOptions
    seed: int
    generator: Any = None
    dense: Any = None
    missing_docs: set[str] = field(default_factory=set)

    def doc(self, doc_id: str) -> Doc | None:
        if doc_id in self.corpus:
            return self.corpus.get(doc_id)
        self.missing_docs.add(doc_id)
        return None

    def need_generator(self, what: str) -> Any:
        if self.generator is None:
            raise TaskFailed(f"{what} needs a generator: set RADER_LLM_BASE_URL")
        return self.generator


def _row(env: QuerygenEnv, sample: Sample, qtype: str, query: str, **extra: Any) -> dict[str, Any]:
    return {"run_id": env.run_id, "problem_id": sample.problem_id,
            "key": row_key(qtype, sample.source_id, sample.qg_node_id, sample.rt_node_id),
            "query_type": qtype, "qg_node_id": sample.qg_node_id, "rt_node_id": sample.rt_node_id,
            "positive_doc_id": sample.doc_id, "query": query,
            "negative_doc_ids": [d for d in sample.negative_doc_ids if d in env.corpus],
            "trajectory_reward": sample.trajectory_reward, "kept": True, "reject_reason": None,
            "extra": {"solution_node_ids": list(sample.solution_node_ids), **extra}}


def static_rows(env: QuerygenEnv, samples: Sequence[Sample]) -> list[dict[str, Any]]:
    """qcot and qquestion rows of the samples whose theorem is in the corpus."""
    rows = []
    for s in samples:
        if env.doc(s.doc_id) is None:
            continue
        rows.append(_row(env, s, "qcot", s.qcot, partial_steps=len(s.steps)))
        rows.append(_row(env, s, "qquestion", s.question.strip()))
    return rows


def _llm_key(s: Sample, solution_id: int) -> str:
    return row_key("qllmq", s.source_id, s.qg_node_id, s.rt_node_id, solution_id)


def llm_keys(samples: Sequence[Sample]) -> list[str]:
    """The qllmq row keys of ``samples`` (one per trajectory through each sample)."""
    return [_llm_key(s, sol) for s in samples for sol in (s.solution_node_ids or (0,))]


async def llm_query_rows(env: QuerygenEnv, samples: Sequence[Sample],
                         skip_keys: Iterable[str] = ()) -> list[dict[str, Any]]:
    """One qllmq row per (trajectory, query node): a sample reached by several trajectories
    asks once for each (seeded by the trajectory's solution node), as the original does.
    Keys already in ``skip_keys`` are not asked again."""
    skip = set(skip_keys)
    todo = [(s, sol) for s in samples if env.doc(s.doc_id) is not None
            for sol in (s.solution_node_ids or (0,)) if _llm_key(s, sol) not in skip]
    if not todo:
        return []
    generator, opts = env.need_generator("qllmq"), env.options

    async def one(s: Sample, solution_id: int) -> dict[str, Any]:
        doc = env.corpus.get(s.doc_id)
        seed = derive_seed(env.seed, "qllmq", s.source_id, s.qg_node_id, s.rt_node_id, solution_id)
        messages = prompting.llm_query_messages(s.question, s.partial_solution, doc,
                                                opts.max_theorem_chars)
        reply = (await generator.generate(messages, n=1, max_tokens=opts.max_tokens,
                                          temperature=opts.temperature, top_p=opts.top_p,
                                          stop=prompting.STOP, seed=seed, stage="querygen"))[0]
        query = prompting.clean_query(reply)
        overlap = prompting.lexical_overlap(query, doc.full_text)
        row = _row(env, s, "qllmq", query, raw=reply, seed=seed, overlap=round(overlap, 4),
                   solution_node_id=solution_id)
        row["key"] = _llm_key(s, solution_id)
        if not query:
            row.update(kept=False, reject_reason="the reply holds no query (no 'Query:' line)")
        elif doc.title and len(doc.title) > 3 and doc.title.lower() in query.lower():
            row.update(kept=False, reject_reason="the query names the theorem")
        elif opts.max_overlap is not None and overlap > opts.max_overlap:
            row.update(kept=False, reject_reason=f"lexical overlap {overlap:.2f} with the theorem "
                                                 f"> {opts.max_overlap:.2f}")
        return row

    return list(await asyncio.gather(*(one(s, sol) for s, sol in todo)))


def ranking(scores: np.ndarray) -> list[int]:
    """Corpus positions by score, best first; ties in corpus order (deterministic)."""
    return list(np.lexsort((np.arange(len(scores)), -np.asarray(scores, dtype=np.float64))))


def bm25_band(env: QuerygenEnv, query: str, ranks: tuple[int, int], exclude: set[str]) -> list[str]:
    """Doc ids at BM25 ranks ``ranks`` (1-based, inclusive) for ``query``, ``exclude`` removed."""
    order = ranking(env.bm25.scores(query))
    lo, hi = ranks
    return [env.corpus.docs[i].doc_id for i in order[lo - 1:hi]
            if env.corpus.docs[i].doc_id not in exclude]


def bm25_rank(env: QuerygenEnv, query: str, doc_id: str) -> int | None:
    """1-based BM25 rank of ``doc_id`` for ``query`` (None: the query shares no word with it)."""
    scores = env.bm25.scores(query)
    pos = env.corpus.position(doc_id)
    if scores[pos] <= 0:
        return None
    return int(np.sum(scores > scores[pos]) + np.sum(scores[:pos] == scores[pos])) + 1


def lexical_negatives(env: QuerygenEnv, query: str, doc_id: str) -> list[str]:
    opts = env.options
    band = bm25_band(env, query, opts.lexical_bm25_ranks, {doc_id})
    rng = random.Random(derive_seed(env.seed, "qlexical-negatives", doc_id))
    picked = rng.sample(band, min(opts.lexical_bm25_samples, len(band)))
    dense: list[str] = []
    if opts.lexical_dense_top and env.dense is not None:
        dense = [d for d, _ in env.dense.search(query, k=opts.lexical_dense_top, exclude=[doc_id])]
    out: list[str] = []
    for d in [*picked, *dense]:
        if d != doc_id and d not in out:
            out.append(d)
    return out


async def lexical_rows(env: QuerygenEnv, samples: Sequence[Sample],
                       skip_keys: Iterable[str] = ()) -> list[dict[str, Any]]:
    """One qlexical row per distinct theorem of the samples (``qlexical:<doc_id>``)."""
    skip = set(skip_keys)
    first: dict[str, Sample] = {}
    best: dict[str, float] = {}
    for s in samples:
        if env.doc(s.doc_id) is None:
            continue
        first.setdefault(s.doc_id, s)
        best[s.doc_id] = max(best.get(s.doc_id, s.trajectory_reward), s.trajectory_reward)
    todo = [d for d in first if row_key("qlexical", d) not in skip]
    if not todo:
        return []
    generator, opts = env.need_generator("qlexical"), env.options

    async def one(doc_id: str) -> dict[str, Any]:
        doc, s = env.corpus.get(doc_id), first[doc_id]
        seed = derive_seed(env.seed, "qlexical", doc_id)
        reply = (await generator.generate(
            prompting.lexical_query_messages(doc, opts.max_theorem_chars), n=1,
            max_tokens=opts.max_tokens, temperature=opts.lexical_temperature, top_p=opts.top_p,
            stop=prompting.STOP, seed=seed, stage="querygen"))[0]
        query = prompting.clean_query(reply)
        rank = bm25_rank(env, query, doc_id) if query else None
        row = _row(env, s, "qlexical", query, raw=reply, seed=seed, bm25_rank=rank)
        row.update(key=row_key("qlexical", doc_id), trajectory_reward=best[doc_id],
                   negative_doc_ids=[])
        if not query:
            row.update(kept=False, reject_reason="the reply holds no query")
        elif rank is None or rank > opts.lexical_top:
            where = "not retrieved" if rank is None else f"at rank {rank}"
            row.update(kept=False, reject_reason=f"round trip: BM25 has the theorem {where}, "
                                                 f"not in its top {opts.lexical_top}")
        else:
            row["negative_doc_ids"] = await asyncio.to_thread(lexical_negatives, env, query, doc_id)
        return row

    return list(await asyncio.gather(*(one(d) for d in todo)))


async def judge_rows(env: QuerygenEnv, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Relevance verdicts for rows (dicts with id, key, query, positive_doc_id, extra): does the
    theorem help answer the query? Returns updates {id, judge_label, judge_reason, extra}."""
    if not rows:
        return []
    generator, opts = env.need_generator("the query judge"), env.options

    async def one(row: dict[str, Any]) -> dict[str, Any] | None:
        doc = env.doc(row["positive_doc_id"])
        if doc is None:
            return None
        seed = derive_seed(env.seed, "judge", row["key"])
        reply = (await generator.generate(
            prompting.judge_messages(row["query"], doc, opts.max_theorem_chars), n=1,
            max_tokens=opts.judge_max_tokens, temperature=0.0, top_p=1.0, stop=prompting.STOP,
            seed=seed, stage="judge", reply_format=VERDICT))[0]
        label, reason = prompting.parse_judgement(reply)
        extra = {**(row.get("extra") or {}), "judge_raw": reply, "judged": True}
        return {"id": row["id"], "judge_label": label,
                "judge_reason": reason if label is not None else "unreadable verdict", "extra": extra}

    return [u for u in await asyncio.gather(*(one(r) for r in rows)) if u is not None]
