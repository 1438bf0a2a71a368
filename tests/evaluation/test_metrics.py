"""Metrics of :mod:`rader_queue.evaluation.metrics` against pytrec_eval called directly (and a
few values worked out by hand), and the rule that excluded ids are never counted: not in the
metrics, not in the score files the runner writes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import pytrec_eval

from rader_queue.evaluation.benchmarks import load_benchmark
from rader_queue.evaluation.metrics import evaluate, metric_name, strip_excluded, top_k_run
from rader_queue.evaluation.runner import EvalConfig, run_eval

from .conftest import EXAMPLES

TOL = 1e-6
MEASURES = {"ndcg_cut.10", "recall.10", "map", "recip_rank"}

QRELS = {
    "a": {"d1": 1, "d3": 1},                       # relevant at ranks 1 and 3
    "b": {"d2": 2, "d5": 1, "d9": 1},              # graded; d9 is never retrieved
    "c": {"d7": 1},                                # first relevant at rank 12
    "d": {"d4": 1},                                # judged, absent from the run: scores 0
    "e": {"d1": 0},                                # nothing relevant: not a query at all
}


def _ranked(*ids: str) -> dict[str, float]:
    return {d: float(len(ids) - i) for i, d in enumerate(ids)}


RUN = {
    "a": {"d1": 0.9, "d2": 0.8, "d3": 0.7, "d4": 0.6},
    "b": _ranked("d0", "d5", "d6", "d2", "d8", "d10", "d11", "d12", "d13", "d14", "d15", "d16"),
    "c": _ranked(*[f"x{i}" for i in range(11)], "d7", "x11", "x12", "x13"),
    "e": {"d1": 1.0},
    "z": {"d1": 1.0},                              # a query nobody judged
}


def _pytrec(qrels, run, measures=MEASURES):
    judged = {q: r for q, r in qrels.items() if any(v > 0 for v in r.values())}
    return pytrec_eval.RelevanceEvaluator(judged, measures).evaluate(
        {q: d for q, d in run.items() if q in judged})


def test_per_query_metrics_equal_pytrec_eval():
    scores = evaluate(QRELS, RUN, ks=(10,))
    direct = _pytrec(QRELS, RUN)
    direct_mrr10 = _pytrec(QRELS, top_k_run(RUN, 10), {"recip_rank"})
    assert set(direct) == {"a", "b", "c"}
    for qid in direct:
        ours = scores.per_query[qid]
        for name in ("ndcg_cut_10", "recall_10", "map", "recip_rank"):
            assert ours[name] == pytest.approx(direct[qid][name], abs=TOL), (qid, name)
        assert ours["mrr_10"] == pytest.approx(direct_mrr10[qid]["recip_rank"], abs=TOL)
    # the judged query that retrieved nothing counts as zero; unjudged queries are not scored
    assert set(scores.per_query) == {"a", "b", "c", "d"}
    assert all(v == 0.0 for v in scores.per_query["d"].values())
    for name in ("ndcg_cut_10", "recall_10", "map", "recip_rank"):
        mean = sum(direct[q][name] for q in direct) / 4          # a, b, c and the empty d
        assert scores.aggregate[name] == pytest.approx(mean, abs=TOL)
    assert scores["ndcg@10"] == scores.aggregate["ndcg_cut_10"]
    assert scores["mrr@10"] == pytest.approx((1.0 + 1 / 2 + 0.0 + 0.0) / 4, abs=TOL)


def test_values_worked_out_by_hand():
    s = evaluate(QRELS, RUN, ks=(10,)).per_query
    # a: relevant at ranks 1 and 3 of 2 relevant
    assert s["a"]["ndcg_cut_10"] == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)), abs=TOL)
    assert s["a"]["recall_10"] == 1.0 and s["a"]["recip_rank"] == 1.0
    assert s["a"]["map"] == pytest.approx((1 / 1 + 2 / 3) / 2, abs=TOL)
    # b: gains 2 (d2, rank 4) and 1 (d5, rank 2); ideal order 2, 1, 1 (d9 never retrieved)
    dcg = 1 / math.log2(3) + 2 / math.log2(5)
    idcg = 2 + 1 / math.log2(3) + 1 / math.log2(4)
    assert s["b"]["ndcg_cut_10"] == pytest.approx(dcg / idcg, abs=TOL)
    assert s["b"]["recall_10"] == pytest.approx(2 / 3, abs=TOL)
    assert s["b"]["map"] == pytest.approx((1 / 2 + 2 / 4) / 3, abs=TOL)
    # c: the only relevant document sits at rank 12: outside every @10 metric
    assert s["c"]["recip_rank"] == pytest.approx(1 / 12, abs=TOL)
    assert s["c"]["mrr_10"] == 0.0 and s["c"]["recall_10"] == 0.0 and s["c"]["ndcg_cut_10"] == 0.0


def test_metric_names():
    assert metric_name("ndcg@10") == "ndcg_cut_10" and metric_name("recall@100") == "recall_100"
    assert metric_name("MRR@10") == "mrr_10" and metric_name("map") == "map"


# ----------------------------------------------------------------------------- excluded ids
EX_QRELS = {"q": {"g1": 1, "g2": 1, "x": 1}, "solo": {"only": 1}, "r": {"g1": 1}}
EX_RUN = {"q": {"x": 10.0, "y": 9.0, "n1": 8.0, "g1": 7.0, "n2": 6.0, "g2": 5.0},
          "solo": {"only": 3.0, "n1": 2.0},
          "r": {"n1": 2.0, "g1": 1.0}}
EXCLUDED = {"q": ["x", "y"], "solo": ["only"]}


def test_excluded_ids_count_as_if_they_were_never_there():
    with_excluded = evaluate(EX_QRELS, EX_RUN, excluded=EXCLUDED)
    removed = evaluate({"q": {"g1": 1, "g2": 1}, "r": {"g1": 1}},
                       {"q": {"n1": 8.0, "g1": 7.0, "n2": 6.0, "g2": 5.0}, "r": EX_RUN["r"]})
    assert with_excluded.per_query == removed.per_query
    assert with_excluded.aggregate == pytest.approx(removed.aggregate, abs=1e-12)
    direct = _pytrec({"q": {"g1": 1, "g2": 1}}, {"q": {"n1": 8.0, "g1": 7.0, "n2": 6.0, "g2": 5.0}})
    for name in ("ndcg_cut_10", "recall_10", "map", "recip_rank"):
        assert with_excluded.per_query["q"][name] == pytest.approx(direct["q"][name], abs=TOL)
    # a query whose only relevant document is excluded has nothing left to find: not scored
    assert "solo" not in with_excluded.per_query
    # counted, the relevant excluded x ranked first would have raised q's scores
    counted = evaluate(EX_QRELS, EX_RUN)
    assert counted.per_query["q"]["recip_rank"] == 1.0 > with_excluded.per_query["q"]["recip_rank"]
    assert strip_excluded(EX_RUN, EXCLUDED)["q"] == {"n1": 8.0, "g1": 7.0, "n2": 6.0, "g2": 5.0}


def test_an_excluded_irrelevant_doc_ranked_first_changes_nothing():
    qrels = {"q": {"g1": 1, "g2": 1}}
    base = {"q": {"n1": 8.0, "g1": 7.0, "n2": 6.0, "g2": 5.0}}
    polluted = {"q": {"junk": 99.0, **base["q"]}}
    assert evaluate(qrels, polluted, excluded={"q": ["junk"]}).per_query == evaluate(qrels, base).per_query
    assert evaluate(qrels, polluted).per_query["q"]["ndcg_cut_10"] \
        < evaluate(qrels, base).per_query["q"]["ndcg_cut_10"]


def test_excluded_ids_never_reach_the_score_file(bright_dir, tmp_path, eval_env):
    from rader_queue.retrieval.bm25 import BM25Retriever

    bench = load_benchmark(str(bright_dir))
    assert bench.excluded == {"q1": ["self-q1"], "q2": ["self-q2"]}             # "N/A" ignored
    # the excluded copy of each problem is BM25's best match: leaving it in would show
    bm25 = BM25Retriever(bench.corpus)
    for qid in ("q1", "q2"):
        assert bm25.search(bench.queries[qid], k=1)[0][0] == f"self-{qid}"
    outcome = run_eval(EvalConfig(model="bm25", benchmark=str(bright_dir), depth=5),
                       out_dir=tmp_path / "out", record=False)
    written = json.loads(Path(outcome.score_path).read_text())
    assert set(written) == {e["id"] for e in EXAMPLES}
    for qid, excluded in bench.excluded.items():
        assert not set(written[qid]) & set(excluded)
        assert len(written[qid]) == 5                           # the depth is still filled
    results = json.loads((Path(outcome.score_path).parent / "results.json").read_text())
    assert results["per_query"] == outcome.per_query
    # and the metrics are those of the written run
    again = evaluate(bench.qrels, written, ks=EvalConfig(model="bm25", benchmark="x").ks, excluded=bench.excluded)
    assert again.aggregate == pytest.approx(outcome.metrics, abs=1e-12)
    assert outcome.per_query["q1"]["recip_rank"] == 1.0             # pyth, once self-q1 is gone


@pytest.mark.model
def test_dense_run_drops_excluded_and_keeps_depth(bright_dir, tmp_path, eval_env):
    outcome = run_eval(EvalConfig(model="all-MiniLM-L6-v2", benchmark=str(bright_dir), depth=3),
                       out_dir=tmp_path / "out", record=False)
    written = json.loads(Path(outcome.score_path).read_text())
    for example in EXAMPLES:
        docs = written[example["id"]]
        assert len(docs) == 3 and not set(docs) & set(example["excluded_ids"])
        assert list(docs.values()) == sorted(docs.values(), reverse=True)
    assert outcome.per_query["q1"]["recip_rank"] == 1.0
