"""BM25, dense and hybrid retrieval over CHAMP concepts, exclusion, and the fusion math."""

from __future__ import annotations

import champ_dataset
import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from rader_queue.retrieval import (BM25Retriever, DenseRetriever, HybridRetriever, fuse,
                                   make_retriever, tokenize)
from rader_queue.settings import Settings

# Problems whose gold concept is lexically obvious (checked by hand against the texts).
OBVIOUS = ["P_Combinatorics_4", "P_Combinatorics_13", "P_Inequality_7", "P_Inequality_22",
           "P_Number-Theory_4", "P_Number-Theory_54"]


@pytest.fixture(scope="module")
def problems():
    data = champ_dataset.load("v0")
    return {pid: (data.problems[pid].text,
                  {c for c in data.problems[pid].ch_list if c.startswith("C_")}) for pid in OBVIOUS}


@pytest.fixture(scope="module")
def retrievers(champ, minilm, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    bm25 = BM25Retriever(champ, cache_dir=cache)
    dense = DenseRetriever(champ, minilm, cache_dir=cache)
    return {"bm25": bm25, "dense": dense, "hybrid": HybridRetriever(dense, bm25, alpha=0.5)}


def test_tokenizer():
    assert tokenize("The sum of $\\frac{a}{1-r}$ is X_2") == ["sum", "\\frac", "a", "1", "r", "x", "2"]


def test_bm25_scores_equal_rank_bm25(champ):
    reference = BM25Okapi([tokenize(d.full_text) or ["\x00empty"] for d in champ.docs])
    query = "sum of sum geometric series with ratio r"
    ours = BM25Retriever(champ).scores(query)
    assert np.allclose(ours, reference.get_scores(tokenize(query)))


@pytest.mark.model
@pytest.mark.parametrize("kind", ["bm25", "dense", "hybrid"])
@pytest.mark.slow
def test_gold_concept_in_top_10(retrievers, problems, kind):
    retriever = retrievers[kind]
    for pid, (text, gold) in problems.items():
        hits = retriever.search(text, k=10)
        assert len(hits) <= 10
        assert gold & {doc_id for doc_id, _ in hits}, (kind, pid)
        scores = [s for _, s in hits]
        assert scores == sorted(scores, reverse=True)


@pytest.mark.model
@pytest.mark.parametrize("kind", ["bm25", "dense", "hybrid"])
@pytest.mark.slow
def test_exclusion(retrievers, kind):
    retriever = retrievers[kind]
    query = "geometric progression sum formula"
    top = [d for d, _ in retriever.search(query, k=5)]
    hits = retriever.search(query, k=5, exclude=top[:2] + ["not-a-doc"])
    ids = [d for d, _ in hits]
    assert not set(top[:2]) & set(ids) and len(ids) == 5
    if kind != "hybrid":          # hybrid re-standardizes over the (smaller) union
        assert ids[:3] == top[2:5]
    title, text = retriever.document(ids[0])
    assert text


def test_fusion_by_hand():
    dense = {"a": 0.9, "b": 0.5, "c": 0.1}
    bm25 = {"a": 1.0, "b": 7.0, "c": 4.0}
    # z(dense) = [1.2247, 0, -1.2247]; z(bm25) = [-1.2247, 1.2247, 0]
    fused = fuse(dense, bm25, alpha=0.75)
    assert fused["a"] == pytest.approx(0.75 * 1.224745 - 0.25 * 1.224745, abs=1e-5)
    assert fused["b"] == pytest.approx(0.25 * 1.224745, abs=1e-5)
    assert fused["c"] == pytest.approx(-0.75 * 1.224745, abs=1e-5)
    assert fuse(dense, bm25, alpha=1.0)["a"] == pytest.approx(1.224745, abs=1e-5)
    # a document only one list has takes the other list's lowest score
    assert fuse({"a": 1.0, "b": 0.0}, {"a": 2.0}, alpha=0.5)["b"] == pytest.approx(-1.0 * 0.5, abs=1e-9)


@pytest.mark.model
@pytest.mark.slow
def test_hybrid_matches_fusion_over_union(retrievers):
    hybrid = retrievers["hybrid"]
    hybrid_small = HybridRetriever(hybrid.dense, hybrid.bm25, alpha=0.3, depth=5)
    query = "number of subsets with no two consecutive numbers"
    dense = dict(hybrid.dense.search(query, k=5))
    bm25 = dict(hybrid.bm25.search(query, k=5))
    d_all, b_all = hybrid.dense.scores(query), hybrid.bm25.scores(query)
    pos = {d.doc_id: i for i, d in enumerate(hybrid.corpus.docs)}
    union = set(dense) | set(bm25)
    expected = fuse({d: float(d_all[pos[d]]) for d in union},
                    {d: float(b_all[pos[d]]) for d in union}, alpha=0.3)
    got = dict(hybrid_small.search(query, k=len(union)))
    assert set(got) == union
    for doc_id, score in got.items():
        assert score == pytest.approx(expected[doc_id], abs=1e-6)


def test_make_retriever_bm25_and_unknown(champ, tmp_path):
    settings = Settings(cache_dir=tmp_path)
    assert isinstance(make_retriever("bm25", champ, settings=settings), BM25Retriever)
    assert list((tmp_path / "bm25").glob("*.pkl"))           # index pickled by content hash
    doc = champ.get("C_comb_sum")
    assert make_retriever("bm25", champ, settings=settings).search(doc.text, 1)[0][0] == doc.doc_id
    from rader_queue.errors import ConfigError
    with pytest.raises(ConfigError, match="bm25, dense, hybrid"):
        make_retriever("sparse", champ, settings=settings)
