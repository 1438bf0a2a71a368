"""Sharded corpus embedding: equals one-shot encoding, is idempotent, reads from the cache."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from rader_queue.retrieval.embedding_cache import (cache_folder, embed_shard, load_index,
                                                   load_vectors, shard_bounds, stored_shards)

pytestmark = [pytest.mark.model, pytest.mark.slow]    # MiniLM over all of CHAMP


def test_shard_bounds_cover_the_corpus():
    spans = [shard_bounds(10, i, 3) for i in range(3)]
    assert spans == [(0, 3), (3, 6), (6, 10)]
    assert shard_bounds(2, 4, 5) == (1, 2) and shard_bounds(2, 0, 5) == (0, 0)


def test_sharded_equals_one_shot_and_second_call_reads_cache(champ, minilm, tmp_path, monkeypatch):
    results = [embed_shard(champ, minilm, i, 4, cache_dir=tmp_path) for i in range(4)]
    assert sum(r.docs for r in results) == len(champ) and not any(r.cached for r in results)
    folder = cache_folder(champ, minilm, tmp_path)
    assert stored_shards(folder) == {4: {0, 1, 2, 3}} and (folder / "manifest.json").is_file()
    assert not list(folder.glob("*.tmp"))

    sharded = load_vectors(champ, minilm, cache_dir=tmp_path)
    one_shot = minilm.encode_passages([d.full_text for d in champ.docs])
    assert sharded.dtype == np.float32 and sharded.shape == (89, 384)
    np.testing.assert_allclose(sharded, one_shot, atol=1e-5)

    def boom(texts):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(minilm, "encode_passages", boom)
    assert embed_shard(champ, minilm, 2, 4, cache_dir=tmp_path).cached
    index, vectors = load_index(champ, minilm, cache_dir=tmp_path)
    assert index.ntotal == len(champ)
    np.testing.assert_array_equal(vectors, sharded)


def test_missing_shards_are_embedded_in_process(champ, minilm, tmp_path):
    embed_shard(champ, minilm, 1, 3, cache_dir=tmp_path)
    vectors = load_vectors(champ, minilm, cache_dir=tmp_path)
    assert vectors.shape == (len(champ), 384)
    assert stored_shards(cache_folder(champ, minilm, tmp_path)) == {3: {0, 1, 2}}


def test_celery_task_routes_to_embed_queue_and_runs(rader_env):
    """An embed job (a row, like every stage's) runs through the rader.embed.shard task; the
    same job asked for again is the same row, and a second shard job finds nothing new."""
    from rader_queue.queue.app import app
    from rader_queue.queue.model_jobs import enqueue_model_jobs, job_outcome
    from rader_queue.queue.stage_tasks import run_in_process

    assert app.amqp.router.route({}, "rader.embed.shard")["queue"].name == "embed"
    payload = {"corpus": "champ", "shard": 0, "num_shards": 2}
    label = f"champ-{uuid.uuid4().hex[:8]}"       # the session's database outlives this test
    job = enqueue_model_jobs("embed", [("champ:0/2", payload)], label=label, publish=False)
    run_in_process(app, "embed", job.job_ids)
    state, out, _ = job_outcome(job.job_ids[0])
    assert state == "done" and out["docs"] == 44 and out["cached"] is False
    again = enqueue_model_jobs("embed", [("champ:0/2", payload)], label=label, publish=False)
    assert again.job_ids == job.job_ids and again.jobs_new == 0
    other = enqueue_model_jobs("embed", [("champ:0/2b", payload)], label=label, publish=False)
    run_in_process(app, "embed", other.job_ids)
    assert job_outcome(other.job_ids[0])[1]["cached"] is True
