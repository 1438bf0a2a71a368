"""The ``embed`` stage's body: one corpus shard's vectors into the on-disk cache
(:func:`rader_queue.retrieval.embedding_cache.embed_shard`, idempotent and atomic: a repeated
job finds its shard stored and returns at once)."""

from __future__ import annotations

from rader_queue.job_context import JobContext, Outcome
from rader_queue.retrieval.embedding_cache import embed_shard


def embed_shard_job(ctx: JobContext) -> Outcome:
    p = ctx.params
    worker = ctx.worker         # the process's embedder and corpora, closed at shutdown
    result = embed_shard(worker.corpus(p.corpus), worker.embedder(p.model), p.shard,
                         p.num_shards, cache_dir=worker.settings.cache_dir)
    return Outcome({"corpus": p.corpus, "shard": p.shard, "num_shards": p.num_shards,
                    "docs": result.docs, "cached": result.cached, "path": str(result.path)})
