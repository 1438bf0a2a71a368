"""``embed`` queue: one task per corpus shard. Decodes (corpus, shard, num_shards, model) and
calls :func:`rader_queue.retrieval.embedding_cache.embed_shard`, which is idempotent and writes
atomically, so a redelivered task finds its shard done and returns at once."""

from __future__ import annotations

import functools

from rader_queue.errors import ModelError
from rader_queue.queue.app import app
from rader_queue.settings import get_settings


@functools.lru_cache(maxsize=2)
def _embedder(model: str | None):
    from rader_queue.llm.embedder import embedder_from_settings

    return embedder_from_settings(get_settings(), model=model)


@functools.lru_cache(maxsize=4)
def _corpus(name: str):
    from rader_queue.retrieval.corpus import load_corpus

    return load_corpus(name)


@app.task(name="rader.embed.shard", bind=True, autoretry_for=(ModelError,), retry_backoff=True,
          retry_backoff_max=600, retry_jitter=True, max_retries=5)
def embed_shard_task(self, corpus: str, shard: int, num_shards: int,
                     model: str | None = None) -> dict:
    from rader_queue.retrieval.embedding_cache import embed_shard

    result = embed_shard(_corpus(corpus), _embedder(model), int(shard), int(num_shards),
                         cache_dir=get_settings().cache_dir)
    return {"corpus": corpus, "shard": shard, "num_shards": num_shards, "docs": result.docs,
            "cached": result.cached, "path": str(result.path)}
