"""Retriever evaluation for rader-queue: benchmarks (CHAMP, BRIGHT), pytrec_eval metrics,
BM25 hybrid fusion, LLM reranking, the evaluation runner that stores results in SQL, and the
models × benchmarks comparison."""
