"""The ``embed`` stage's body: one corpus shard's vectors into the on-disk cache
(:func:`rader_queue.retrieval.embedding_cache.embed_shard`, idempotent and atomic: a repeated
job finds its shard stored and returns at once)."""

from __future__ import annotations

import functools

from rader_queue.queue.job_runner import JobContext, Outcome
from rader_queue.settings import get_settings


@functools.lru_cache(maxsize=2)
def _embedder(model: str | None):
    from rader_queue.llm.embedder import embedder_from_settings

    return embedder_from_settings(get_settings(), model=model)


@functools.lru_cache(maxsize=4)
def _corpus(name: str):
    from rader_queue.retrieval.corpus import load_corpus

    return load_corpus(name)


def embed_shard_job(ctx: JobContext) -> Outcome:
    from rader_queue.retrieval.embedding_cache import embed_shard

    p = ctx.params
    result = embed_shard(_corpus(p.corpus), _embedder(p.model), p.shard, p.num_shards,
                         cache_dir=get_settings().cache_dir)
    return Outcome({"corpus": p.corpus, "shard": p.shard, "num_shards": p.num_shards,
                    "docs": result.docs, "cached": result.cached, "path": str(result.path)})
