"""Dense and hybrid theorem retrievers, and the factory that builds any of the three.

Every retriever has the two methods the MCTS policy calls (through ``asyncio.to_thread``)::

    search(query, k=10, exclude=()) -> [(doc_id, score), …]   best first, no excluded ids
    document(doc_id) -> (title, text)

* :class:`DenseRetriever`: query vector (``embedder.encode_queries``) against the corpus's
  cached passage vectors in a faiss ``IndexFlatIP``; with normalized vectors the score is the
  cosine similarity.
* :class:`HybridRetriever`: per query, the union of the dense and BM25 top-``depth`` lists is
  re-scored with ``S = α·z(dense) + (1−α)·z(bm25)``, where ``z`` standardizes each retriever's
  scores over that union (mean 0, std 1; a constant list gives 0). α=1 is pure dense, α=0 pure
  BM25.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

import numpy as np

from rader_queue.errors import ConfigError
from rader_queue.llm.embedder import embedder_from_settings
from rader_queue.retrieval.bm25 import BM25Retriever, top_k
from rader_queue.retrieval.corpus import TheoremCorpus
from rader_queue.retrieval.embedding_cache import load_index
from rader_queue.settings import Settings, get_settings


class DenseRetriever:
    name = "dense"

    def __init__(self, corpus: TheoremCorpus, embedder, *, cache_dir: Path | None = None,
                 num_shards: int | None = None) -> None:
        self.corpus, self.embedder = corpus, embedder
        self.index, self.vectors = load_index(corpus, embedder, num_shards=num_shards,
                                              cache_dir=cache_dir)

    def query_vector(self, query: str) -> np.ndarray:
        return np.ascontiguousarray(self.embedder.encode_queries([query])[0], dtype=np.float32)

    def scores(self, query: str) -> np.ndarray:
        """Inner product of the query with every document, in corpus order."""
        return self.vectors @ self.query_vector(query)

    def search(self, query: str, k: int = 10, exclude: Collection[str] = ()) -> list[tuple[str, float]]:
        excluded = {d for d in exclude if d in self.corpus}
        want = min(len(self.corpus), k + len(excluded))
        if want <= 0:
            return []
        scores, rows = self.index.search(self.query_vector(query)[None, :], want)
        hits = []
        for row, score in zip(rows[0], scores[0]):
            if row < 0:
                continue
            doc_id = self.corpus.docs[row].doc_id
            if doc_id not in excluded:
                hits.append((doc_id, float(score)))
        return hits[:k]

    def document(self, doc_id: str) -> tuple[str, str]:
        doc = self.corpus.get(doc_id)
        return doc.title, doc.text


def zscore(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    std = values.std()
    return np.zeros_like(values) if std == 0 or not np.isfinite(std) else (values - values.mean()) / std


def fuse(dense: Mapping[str, float], bm25: Mapping[str, float], alpha: float) -> dict[str, float]:
    """``α·z(dense) + (1−α)·z(bm25)`` over the union of both keys. A document missing from
    one mapping gets that mapping's lowest score (it was below that retriever's cut-off)."""
    ids = list(dict.fromkeys([*dense, *bm25]))
    if not ids:
        return {}
    d_floor = min(dense.values()) if dense else 0.0
    b_floor = min(bm25.values()) if bm25 else 0.0
    zd = zscore(np.array([dense.get(i, d_floor) for i in ids]))
    zb = zscore(np.array([bm25.get(i, b_floor) for i in ids]))
    fused = alpha * zd + (1 - alpha) * zb
    return dict(zip(ids, fused.tolist()))


class HybridRetriever:
    name = "hybrid"

    def __init__(self, dense: DenseRetriever, bm25: BM25Retriever, *, alpha: float = 0.5,
                 depth: int = 100) -> None:
        if dense.corpus is not bm25.corpus and dense.corpus.content_hash != bm25.corpus.content_hash:
            raise ConfigError("hybrid retrieval needs both retrievers over the same corpus")
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"hybrid alpha must be within [0, 1], got {alpha}")
        self.dense, self.bm25, self.alpha, self.depth = dense, bm25, alpha, depth
        self.corpus = dense.corpus

    def search(self, query: str, k: int = 10, exclude: Collection[str] = ()) -> list[tuple[str, float]]:
        excluded = self.bm25.excluded_positions(exclude)
        d_all, b_all = self.dense.scores(query), self.bm25.scores(query)
        cand = {i for i, _ in top_k(d_all, self.depth, excluded)}
        cand |= {i for i, _ in top_k(b_all, self.depth, excluded, positive_only=True)}
        if not cand:
            return []
        pos = np.fromiter(sorted(cand), dtype=np.int64)
        fused = self.alpha * zscore(d_all[pos]) + (1 - self.alpha) * zscore(b_all[pos])
        return [(self.corpus.docs[pos[j]].doc_id, s) for j, s in top_k(fused, k)]

    def document(self, doc_id: str) -> tuple[str, str]:
        doc = self.corpus.get(doc_id)
        return doc.title, doc.text


RETRIEVER_KINDS = ("bm25", "dense", "hybrid")


def make_retriever(kind: str, corpus: TheoremCorpus, embedder=None,
                   settings: Settings | None = None, *, alpha: float = 0.5,
                   depth: int = 100):
    """``bm25``, ``dense`` or ``hybrid`` over ``corpus``. Dense kinds use ``embedder`` (the
    settings' embedder when None); caches live under ``settings.cache_dir``."""
    settings = settings or get_settings()
    cache_dir = Path(settings.cache_dir)
    if kind not in RETRIEVER_KINDS:
        raise ConfigError(f"unknown retriever {kind!r}: use one of {', '.join(RETRIEVER_KINDS)}")
    if kind == "bm25":
        return BM25Retriever(corpus, cache_dir=cache_dir)
    if embedder is None:
        embedder = embedder_from_settings(settings)
    dense = DenseRetriever(corpus, embedder, cache_dir=cache_dir)
    if kind == "dense":
        return dense
    return HybridRetriever(dense, BM25Retriever(corpus, cache_dir=cache_dir), alpha=alpha,
                           depth=depth)
