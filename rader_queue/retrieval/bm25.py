"""BM25 over a theorem corpus (rank_bm25's BM25Okapi weighting, scored as a sparse matrix).

Tokenization (:func:`tokenize`), applied to documents (title + text) and queries alike:

1. lowercase;
2. LaTeX command names are kept whole with their backslash (``\\frac``, ``\\binom``) so markup
   does not collide with prose words;
3. everything else is split on non-alphanumerics (``x^2+y`` → ``x``, ``2``, ``y``);
4. a small English stop-word list (:data:`STOP_WORDS`) is dropped (``stopwords=False`` keeps
   every token: then scores equal plain ``rank_bm25.BM25Okapi`` over the same tokens). Single
   letters (``a`` included) and digits are kept: in mathematics they are variables and constants.

``BM25Okapi`` supplies the idf table and parameters (k1=1.5, b=0.75, epsilon=0.25); the
per-document term weights are precomputed into a term × document sparse matrix, so a query costs
a few sparse row reads instead of a Python loop over every document. Scores equal
``BM25Okapi.get_scores``. The built index is pickled under ``<cache_dir>/bm25/`` keyed by the
corpus content hash and the tokenizer version.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
from collections import Counter
from collections.abc import Collection
from pathlib import Path

import numpy as np
from rank_bm25 import BM25Okapi
from scipy import sparse

from rader_queue.retrieval.corpus import TheoremCorpus

TOKENIZER_VERSION = "v1"
STOP_WORDS = frozenset(
    "an and are as at be by for from has have if in into is it its of on or such that the "
    "their then there these this to was were which will with".split())
_TOKEN = re.compile(r"\\[a-z]+|[a-z0-9]+")


def tokenize(text: str, stopwords: bool = True) -> list[str]:
    tokens = _TOKEN.findall(text.lower())
    return [t for t in tokens if t not in STOP_WORDS] if stopwords else tokens


class BM25Index:
    """Vocabulary, idf and the term × document weight matrix of one corpus."""

    def __init__(self, corpus: TheoremCorpus, k1: float = 1.5, b: float = 0.75,
                 stopwords: bool = True) -> None:
        self.stopwords = stopwords
        tokens = [tokenize(d.full_text, stopwords) or ["\x00empty"] for d in corpus.docs]
        bm = BM25Okapi(tokens, k1=k1, b=b)
        self.vocab = {term: i for i, term in enumerate(bm.idf)}
        self.idf = np.array([bm.idf[t] for t in self.vocab], dtype=np.float64)
        rows, cols, vals = [], [], []
        for doc, (freqs, length) in enumerate(zip(bm.doc_freqs, bm.doc_len)):
            norm = k1 * (1 - b + b * length / bm.avgdl)
            for term, tf in freqs.items():
                rows.append(self.vocab[term])
                cols.append(doc)
                vals.append(tf * (k1 + 1) / (tf + norm))
        self.weights = sparse.csr_matrix((vals, (rows, cols)),
                                         shape=(len(self.vocab), len(corpus)), dtype=np.float64)
        self.n_docs = len(corpus)

    def scores(self, query: str) -> np.ndarray:
        counts = Counter(self.vocab[t] for t in tokenize(query, getattr(self, "stopwords", True))
                         if t in self.vocab)
        if not counts:
            return np.zeros(self.n_docs, dtype=np.float64)
        terms = np.fromiter(counts, dtype=np.int64)
        coef = self.idf[terms] * np.fromiter(counts.values(), dtype=np.float64)
        return np.asarray(self.weights[terms].T @ coef, dtype=np.float64).ravel()


def top_k(scores: np.ndarray, k: int, excluded: np.ndarray | None = None,
          positive_only: bool = False) -> list[tuple[int, float]]:
    """(position, score) of the k best, best first; ``excluded`` positions never appear."""
    scores = scores.astype(np.float64, copy=True)
    if excluded is not None and len(excluded):
        scores[excluded] = -np.inf
    k = min(k, len(scores))
    if k <= 0:
        return []
    kth = -np.partition(-scores, k - 1)[k - 1]
    part = np.flatnonzero(scores >= kth)              # ties at the cut-off: lowest position wins
    best = part[np.lexsort((part, -scores[part]))][:k]
    floor = 0.0 if positive_only else -np.inf
    return [(int(i), float(scores[i])) for i in best if scores[i] > floor]


class BM25Retriever:
    """``search(query, k, exclude)`` and ``document(doc_id)`` over a corpus with BM25."""

    name = "bm25"

    def __init__(self, corpus: TheoremCorpus, *, cache_dir: Path | None = None,
                 stopwords: bool = True) -> None:
        self.corpus = corpus
        self.index = self._load_or_build(corpus, cache_dir, stopwords)

    @staticmethod
    def _load_or_build(corpus: TheoremCorpus, cache_dir: Path | None, stopwords: bool = True) -> BM25Index:
        if cache_dir is None:
            return BM25Index(corpus, stopwords=stopwords)
        variant = "" if stopwords else "-allwords"
        path = Path(cache_dir) / "bm25" / f"{corpus.content_hash[:32]}-{TOKENIZER_VERSION}{variant}.pkl"
        if path.is_file():
            try:
                with path.open("rb") as fh:
                    return pickle.load(fh)
            except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
                pass                                   # corrupt or stale: rebuild below
        index = BM25Index(corpus, stopwords=stopwords)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(index, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        return index

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document, in corpus order."""
        return self.index.scores(query)

    def excluded_positions(self, exclude: Collection[str]) -> np.ndarray:
        return np.array([self.corpus.position(d) for d in exclude if d in self.corpus],
                        dtype=np.int64)

    def search(self, query: str, k: int = 10, exclude: Collection[str] = ()) -> list[tuple[str, float]]:
        hits = top_k(self.scores(query), k, self.excluded_positions(exclude), positive_only=True)
        return [(self.corpus.docs[i].doc_id, s) for i, s in hits]

    def document(self, doc_id: str) -> tuple[str, str]:
        doc = self.corpus.get(doc_id)
        return doc.title, doc.text
