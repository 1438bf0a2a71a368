"""Retrieval metrics for rader-queue evaluations, computed by pytrec_eval.

Runs and qrels are ``{qid: {docid: score}}`` / ``{qid: {docid: relevance}}``. Before scoring,
each query's ``excluded`` ids are removed from its run (they are neither hits nor misses) and
from its qrels. Metric names are pytrec_eval's: ``ndcg_cut_10``, ``recall_10``, ``map_cut_10``,
``P_10`` for every cut-off, plus ``map``, ``recip_rank`` (MRR over the whole ranking) and
``mrr_10`` (reciprocal rank within the top 10, as MS MARCO reports it).

Aggregates are means over every query that has at least one relevant document; a query with no
retrieved documents counts as zero (pytrec_eval alone would silently skip it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pytrec_eval

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]

DEFAULT_KS = (1, 5, 10, 25, 50, 100)
ALIASES = {"ndcg": "ndcg_cut", "recall": "recall", "map": "map_cut", "p": "P", "precision": "P"}


@dataclass
class Scores:
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)
    aggregate: dict[str, float] = field(default_factory=dict)

    def __getitem__(self, metric: str) -> float:
        return self.aggregate[metric_name(metric)]


def metric_name(name: str) -> str:
    """``ndcg@10`` → ``ndcg_cut_10``, ``recall@10`` → ``recall_10``, ``mrr@10`` → ``mrr_10``;
    pytrec_eval names pass through."""
    if "@" not in name:
        return name
    base, k = name.split("@", 1)
    base = base.lower()
    if base == "mrr":
        return f"mrr_{k}"
    return f"{ALIASES.get(base, base)}_{k}"


def strip_excluded(run: Run, excluded: Mapping[str, Iterable[str]] | None) -> dict[str, dict[str, float]]:
    """A copy of ``run`` without each query's excluded ids."""
    excluded = excluded or {}
    out = {}
    for qid, docs in run.items():
        drop = set(excluded.get(qid, ()))
        out[qid] = {d: float(s) for d, s in docs.items() if d not in drop}
    return out


def top_k_run(run: Run, k: int) -> dict[str, dict[str, float]]:
    """Each query's k best documents (score descending, ties by docid descending as trec_eval)."""
    return {qid: dict(sorted(docs.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:k])
            for qid, docs in run.items()}


def evaluate(qrels: Qrels, run: Run, *, ks: Iterable[int] = DEFAULT_KS,
             excluded: Mapping[str, Iterable[str]] | None = None,
             mrr_ks: Iterable[int] = (10,)) -> Scores:
    ks = sorted(set(int(k) for k in ks))
    excluded = excluded or {}
    clean_qrels = {}
    for qid, rels in qrels.items():
        drop = set(excluded.get(qid, ()))
        kept = {d: int(r) for d, r in rels.items() if d not in drop}
        if any(r > 0 for r in kept.values()):
            clean_qrels[qid] = kept
    clean_run = strip_excluded(run, excluded)
    cut = ",".join(str(k) for k in ks)
    measures = {f"ndcg_cut.{cut}", f"recall.{cut}", f"map_cut.{cut}", f"P.{cut}", "map",
                "recip_rank"}
    evaluator = pytrec_eval.RelevanceEvaluator(clean_qrels, measures)
    judged_run = {q: d for q, d in clean_run.items() if q in clean_qrels and d}
    per_query: dict[str, dict[str, float]] = {q: dict(v) for q, v in
                                              evaluator.evaluate(judged_run).items()}
    rr = pytrec_eval.RelevanceEvaluator(clean_qrels, {"recip_rank"})
    for k in mrr_ks:
        for qid, values in rr.evaluate(top_k_run(judged_run, k)).items():
            per_query[qid][f"mrr_{k}"] = values["recip_rank"]
    names = sorted({m for v in per_query.values() for m in v}) or _names(ks, mrr_ks)
    for qid in clean_qrels:  # judged queries that retrieved nothing score zero
        per_query.setdefault(qid, {m: 0.0 for m in names})
    aggregate = {m: sum(v.get(m, 0.0) for v in per_query.values()) / len(per_query)
                 for m in names} if per_query else {m: 0.0 for m in names}
    return Scores(per_query=per_query, aggregate=aggregate)


def _names(ks: list[int], mrr_ks: Iterable[int]) -> list[str]:
    names = ["map", "recip_rank"] + [f"mrr_{k}" for k in mrr_ks]
    for k in ks:
        names += [f"ndcg_cut_{k}", f"recall_{k}", f"map_cut_{k}", f"P_{k}"]
    return sorted(names)
