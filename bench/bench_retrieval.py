"""Retrieval benchmarks of rader-queue, printed as one table per section.

1. Corpus embedding throughput: ``embed_shard`` over shards (the embed-task path: tokenize,
   encode, pool, normalize, atomic .npy writes) vs raw sentence-transformers ``encode`` on the
   same texts. Goal: ratio ≥ 0.95.
2. Query throughput of BM25 and dense retrieval (query encoding included, one query at a time,
   as the MCTS policy calls them) over the 12.5k MATH solutions (train + test).
3. Retrieval quality reference on CHAMP: problems → concepts, relevance from each problem's
   ``ch_list`` concept annotations; nDCG@10 and Recall@10 with pytrec_eval.

    python bench/bench_retrieval.py [--embed-docs 2000] [--queries 200] [--shards 4]

Data come from RADER_DATA_DIR (default ../shared/data); caches go to a temporary folder unless
--cache-dir is given (reuse one to skip re-embedding the 12.5k corpus on later runs).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RADER_DATA_DIR", str(ROOT.parent / "shared" / "data"))

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from rader_queue.llm.embedder import LocalEmbedder, resolve_model  # noqa: E402
from rader_queue.retrieval.corpus import Doc, TheoremCorpus, load_champ, load_jsonl  # noqa: E402
from rader_queue.settings import get_settings  # noqa: E402

console = Console()


def math_solutions() -> TheoremCorpus:
    data = Path(get_settings().data_dir) / "MATH"
    docs: list[Doc] = []
    for split in ("train", "test"):
        docs += load_jsonl(data / f"{split}.jsonl", id_field="id", text_field="solution",
                           title_field=None).docs
    return TheoremCorpus("math-solutions", docs)


def bench_embedding(corpus: TheoremCorpus, n_docs: int, shards: int, cache: Path) -> Table:
    from sentence_transformers import SentenceTransformer

    from rader_queue.retrieval.embedding_cache import embed_shard

    sub = TheoremCorpus("embed-bench", corpus.docs[:n_docs])
    texts = [d.full_text for d in sub.docs]
    _, path = resolve_model("all-MiniLM-L6-v2")
    st = SentenceTransformer(path, device="cpu")
    ours = LocalEmbedder("all-MiniLM-L6-v2", device="cpu", batch_size=64, max_length=256)
    st.encode(texts[:128], batch_size=64)                      # warm-up both
    ours.encode_passages(texts[:128])
    runs = {"raw": [], "pipe": []}
    for rep in range(2):                                        # interleave, keep the best
        t = time.perf_counter()
        st.encode(texts, batch_size=64, normalize_embeddings=True)
        runs["raw"].append(len(texts) / (time.perf_counter() - t))
        t = time.perf_counter()
        for shard in range(shards):
            embed_shard(sub, ours, shard, shards, cache_dir=cache / f"rep{rep}")
        runs["pipe"].append(len(texts) / (time.perf_counter() - t))
    raw, pipe = max(runs["raw"]), max(runs["pipe"])
    table = Table(title=f"corpus embedding, all-MiniLM-L6-v2, CPU, {len(texts)} MATH solutions")
    for col in ("path", "docs/s", "ratio"):
        table.add_column(col)
    table.add_row("sentence-transformers encode (raw)", f"{raw:.1f}", "1.00")
    table.add_row(f"embed_shard × {shards} shards (pipeline)", f"{pipe:.1f}", f"{pipe / raw:.3f}")
    return table


def bench_queries(corpus: TheoremCorpus, n_queries: int, cache: Path) -> Table:
    import json

    from rader_queue.retrieval import BM25Retriever, DenseRetriever

    data = Path(get_settings().data_dir) / "MATH" / "test.jsonl"
    queries = [json.loads(line)["problem"] for line in data.open()][:n_queries]
    embedder = LocalEmbedder("all-MiniLM-L6-v2", device="cpu")
    t = time.perf_counter()
    bm25 = BM25Retriever(corpus, cache_dir=cache)
    bm25_build = time.perf_counter() - t
    t = time.perf_counter()
    dense = DenseRetriever(corpus, embedder, cache_dir=cache)
    dense_build = time.perf_counter() - t
    table = Table(title=f"query throughput, {len(corpus)} MATH solutions, top-10, "
                        f"{len(queries)} MATH test problems as queries, one at a time")
    for col in ("retriever", "queries/s", "ms/query", "index build s"):
        table.add_column(col)
    for name, retriever, build in (("bm25", bm25, bm25_build), ("dense (MiniLM + faiss flat IP)",
                                                                dense, dense_build)):
        retriever.search(queries[0], k=10)
        t = time.perf_counter()
        for q in queries:
            retriever.search(q, k=10)
        elapsed = time.perf_counter() - t
        table.add_row(name, f"{len(queries) / elapsed:.1f}", f"{1000 * elapsed / len(queries):.2f}",
                      f"{build:.1f}")
    return table


def bench_quality(cache: Path) -> Table:
    import champ_dataset
    import pytrec_eval

    from rader_queue.retrieval import BM25Retriever, DenseRetriever, HybridRetriever

    corpus = load_champ()
    data = champ_dataset.load("v0")
    qrels, queries = {}, {}
    for pid, problem in data.problems.items():
        gold = {c for c in problem.ch_list if c.startswith("C_")}
        if gold:
            qrels[pid] = {c: 1 for c in gold}
            queries[pid] = problem.text
    embedder = LocalEmbedder("all-MiniLM-L6-v2", device="cpu")
    bm25 = BM25Retriever(corpus, cache_dir=cache)
    dense = DenseRetriever(corpus, embedder, cache_dir=cache)
    systems = {"bm25": bm25, "dense MiniLM": dense,
               "hybrid α=0.5": HybridRetriever(dense, bm25, alpha=0.5),
               "hybrid α=0.8": HybridRetriever(dense, bm25, alpha=0.8)}
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.10"})
    table = Table(title=f"CHAMP problems → concepts ({len(queries)} queries with concept "
                        f"annotations, {len(corpus)} concepts)")
    for col in ("retriever", "nDCG@10", "Recall@10"):
        table.add_column(col)
    for name, system in systems.items():
        run = {pid: dict(system.search(text, k=100)) for pid, text in queries.items()}
        run = {pid: {d: float(s) for d, s in hits.items()} for pid, hits in run.items()}
        per_query = evaluator.evaluate(run)
        ndcg = np.mean([m["ndcg_cut_10"] for m in per_query.values()])
        recall = np.mean([m["recall_10"] for m in per_query.values()])
        table.add_row(name, f"{100 * ndcg:.1f}", f"{100 * recall:.1f}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embed-docs", type=int, default=2000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--skip", nargs="*", default=[], choices=["embed", "queries", "quality"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rader-bench-") as tmp:
        cache = args.cache_dir or Path(tmp)
        corpus = math_solutions()
        if "embed" not in args.skip:
            console.print(bench_embedding(corpus, args.embed_docs, args.shards, Path(tmp) / "embed"))
        if "queries" not in args.skip:
            console.print(bench_queries(corpus, args.queries, cache))
        if "quality" not in args.skip:
            console.print(bench_quality(cache))


if __name__ == "__main__":
    main()
