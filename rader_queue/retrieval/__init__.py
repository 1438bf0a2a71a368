"""Theorem retrieval: corpora, BM25 / dense / hybrid retrievers, sharded corpus embeddings."""

from rader_queue.retrieval.bm25 import BM25Retriever, tokenize
from rader_queue.retrieval.corpus import Doc, TheoremCorpus, load_corpus
from rader_queue.retrieval.retrievers import (DenseRetriever, HybridRetriever, fuse,
                                              make_retriever)

__all__ = ["BM25Retriever", "DenseRetriever", "Doc", "HybridRetriever", "TheoremCorpus", "fuse",
           "load_corpus", "make_retriever", "tokenize"]
