"""Score fusion and LLM reranking for rader-queue evaluations.

Hybrid: per query, ``S = α·z(dense) + (1−α)·z(bm25)`` over the union of both candidate lists,
with ``z`` the per-query mean/std standardisation (:func:`rader_queue.retrieval.retrievers.fuse`:
a document absent from one list takes that list's lowest score).

LLM rerank: the generator rates each of a query's top-k documents 0–5. The final score is
``w·(rating/5) + (1−w)·r`` where ``r`` is the retrieval score min-max normalised over that
query's top-k. A reply with no readable rating keeps only its retrieval part (``r``). Documents
below the top-k stay in the ranking, after every reranked one, in their original order.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any, Protocol

from rader_queue.errors import ConfigError
from rader_queue.retrieval.retrievers import fuse

Run = dict[str, dict[str, float]]

RERANK_SYSTEM = ("You judge how useful a document is for answering a query. Reply with a line "
                 "'Score: N' where N is an integer from 0 to 5.")
RERANK_PROMPT = """Rate how helpful the document is for answering the query.
5 = states exactly the knowledge needed; 3 = related and partly useful; 0 = unrelated.

Query:
{query}

Document:
{document}

Give a one-sentence reason, then the final line 'Score: N' (N from 0 to 5)."""

# a number is read whole ("Score: 10" is 10, not 1) with an optional scale ("8/10", "4 out of 5")
_SCORE_LINE = re.compile(r"(?:score|rating|relevance)\s*[:=]?\s*\**\s*(\d+(?:\.\d+)?)"
                         r"(?:\s*(?:/|out of)\s*(\d+)(?!\.?\d))?", re.IGNORECASE)
_OUT_OF = re.compile(r"(?<![\d.])([0-5](?:\.\d+)?)\s*(?:/|out of)\s*5(?!\.?\d)", re.IGNORECASE)
# a lone digit: not part of a larger number, a decimal or a fraction ("0 to 5." has two digits)
_BARE = re.compile(r"(?<![\d./])([0-5])(?!\.?\d|\s*/)")


class Generator(Protocol):
    async def generate(self, messages: list[dict], *, n: int = 1, max_tokens: int = 256,
                       temperature: float = 0.8, top_p: float = 0.95,
                       stop: list[str] | None = None, seed: int | None = None,
                       stage: str = "mcts") -> list[str]: ...


def hybrid_run(dense: Mapping[str, Mapping[str, float]], bm25: Mapping[str, Mapping[str, float]],
               alpha: float) -> Run:
    """Fuse two runs query by query (queries present in either)."""
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"hybrid alpha must be within [0, 1], got {alpha}")
    return {qid: fuse(dense.get(qid, {}), bm25.get(qid, {}), alpha)
            for qid in dict.fromkeys([*dense, *bm25])}


def parse_rating(reply: str) -> float | None:
    """A 0–5 rating from free text: the last 'Score: N' (or 'Score: N/M', rescaled to 0–5)
    wins, then 'N/5', then a lone digit when the reply contains exactly one distinct one.
    None if nothing readable, or if the rating is outside its scale ('Score: 10')."""
    if not reply:
        return None
    hits = _SCORE_LINE.findall(reply)
    if hits:
        value, scale = float(hits[-1][0]), float(hits[-1][1] or 5)
        return 5.0 * value / scale if 0 < scale and value <= scale else None
    hits = _OUT_OF.findall(reply)
    if hits:
        return float(hits[-1]) if float(hits[-1]) <= 5 else None
    bare = set(_BARE.findall(reply.strip()))
    if len(bare) == 1:
        return float(bare.pop())
    return None


def minmax(scores: Mapping[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    if hi == lo:
        return {d: 1.0 for d in scores}
    return {d: (s - lo) / (hi - lo) for d, s in scores.items()}


def interpolate(retrieval: Mapping[str, float], ratings: Mapping[str, float | None],
                weight: float) -> dict[str, float]:
    """``w·rating/5 + (1−w)·minmax(retrieval)`` for the rated documents."""
    norm = minmax(retrieval)
    out = {}
    for doc, r in norm.items():
        rating = ratings.get(doc)
        out[doc] = r if rating is None else weight * rating / 5.0 + (1.0 - weight) * r
    return out


async def rerank_run(run: Mapping[str, Mapping[str, float]], queries: Mapping[str, str],
                     doc_text: Mapping[str, str], generator: Generator, *, k: int = 100,
                     weight: float = 0.5, concurrency: int = 32, max_doc_chars: int = 4000,
                     max_tokens: int = 128, seed: int = 0) -> tuple[Run, dict[str, dict[str, Any]]]:
    """Rerank each query's top-k; returns (new run, ``{qid: {docid: rating or None}}``)."""
    if k < 1:
        raise ConfigError(f"rerank k must be >= 1, got {k}")
    if not 0.0 <= weight <= 1.0:
        raise ConfigError(f"rerank weight must be within [0, 1], got {weight}")
    gate = asyncio.Semaphore(concurrency)

    async def rate(qid: str, doc: str) -> tuple[str, str, float | None]:
        prompt = RERANK_PROMPT.format(query=queries[qid], document=doc_text[doc][:max_doc_chars])
        messages = [{"role": "system", "content": RERANK_SYSTEM},
                    {"role": "user", "content": prompt}]
        async with gate:
            replies = await generator.generate(messages, n=1, max_tokens=max_tokens,
                                               temperature=0.0, top_p=1.0, seed=seed,
                                               stage="eval_rerank")
        return qid, doc, parse_rating(replies[0] if replies else "")

    tops = {qid: dict(sorted(docs.items(), key=lambda kv: -kv[1])[:k]) for qid, docs in run.items()}
    results = await asyncio.gather(*(rate(q, d) for q, docs in tops.items() for d in docs))
    ratings: dict[str, dict[str, Any]] = {}
    for qid, doc, rating in results:
        ratings.setdefault(qid, {})[doc] = rating
    out: Run = {}
    for qid, docs in run.items():
        fused = interpolate(tops[qid], ratings.get(qid, {}), weight)
        rest = sorted(((d, s) for d, s in docs.items() if d not in fused), key=lambda kv: -kv[1])
        for i, (d, _) in enumerate(rest):  # below every reranked document, order kept
            fused[d] = -1.0 - i / max(1, len(rest))
        out[qid] = fused
    return out, ratings
