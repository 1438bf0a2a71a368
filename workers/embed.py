"""``embed`` queue: one task per corpus shard. Decodes (corpus, shard, num_shards, model) and
calls :func:`rader_queue.retrieval.embedding_cache.embed_shard`, which is idempotent and writes
atomically, so a redelivered task finds its shard done and returns at once."""

from __future__ import annotations

from rader_queue import context
from rader_queue.errors import ModelError
from rader_queue.queue.app import app


@app.task(name="rader.embed.shard", bind=True, autoretry_for=(ModelError,), retry_backoff=True,
          retry_backoff_max=600, retry_jitter=True, max_retries=5)
def embed_shard_task(self, corpus: str, shard: int, num_shards: int,
                     model: str | None = None) -> dict:
    from rader_queue.retrieval.embedding_cache import embed_shard

    worker = context.current()       # the process's embedder and corpora, closed at shutdown
    result = embed_shard(worker.corpus(corpus), worker.embedder(model), int(shard),
                         int(num_shards), cache_dir=worker.settings.cache_dir)
    return {"corpus": corpus, "shard": shard, "num_shards": num_shards, "docs": result.docs,
            "cached": result.cached, "path": str(result.path)}
