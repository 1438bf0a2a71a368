"""Corpus embeddings on disk, computed in shards (one ``embed`` task per shard).

Layout under ``<cache_dir>/embeddings/<corpus>-<content hash>-<embedder fingerprint>/``::

    manifest.json                         what produced the vectors (embedder settings, corpus)
    shard-00003-of-00008.npy              float32 [docs in shard, dim]
    shard-00003-of-00008.ids.json         the doc ids of those rows, in order

Shard ``i`` of ``n`` holds corpus positions ``[i*N//n, (i+1)*N//n)``. Writes go to a temporary
file in the same folder and are renamed into place, so a reader sees a whole shard or none; the
``.npy`` is renamed last and marks the shard done. :func:`embed_shard` is idempotent: a shard that
exists is not recomputed (a redelivered task costs nothing). :func:`load_index` assembles the
shards (embedding any that are missing, in-process) into a faiss inner-product index.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rader_queue.retrieval.corpus import TheoremCorpus, slugify
from rader_queue.retrieval.flat_index import flat_ip_index
from rader_queue.settings import get_settings

_SHARD = re.compile(r"^shard-(\d{5})-of-(\d{5})\.npy$")


def cache_folder(corpus: TheoremCorpus, embedder, cache_dir: Path | None = None) -> Path:
    root = Path(cache_dir or get_settings().cache_dir)
    return root / "embeddings" / (f"{slugify(corpus.name)}-{corpus.content_hash[:16]}-"
                                  f"{embedder.fingerprint[:16]}")


def shard_bounds(n_docs: int, shard: int, num_shards: int) -> tuple[int, int]:
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise ValueError(f"shard {shard} of {num_shards} does not exist")
    return shard * n_docs // num_shards, (shard + 1) * n_docs // num_shards


def shard_path(folder: Path, shard: int, num_shards: int) -> Path:
    return folder / f"shard-{shard:05d}-of-{num_shards:05d}.npy"


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class ShardResult:
    path: Path
    docs: int
    cached: bool


def embed_shard(corpus: TheoremCorpus, embedder, shard: int, num_shards: int, *,
                cache_dir: Path | None = None, force: bool = False) -> ShardResult:
    """Embed one shard's passages and store them (no-op if the shard is already stored)."""
    folder = cache_folder(corpus, embedder, cache_dir)
    path = shard_path(folder, shard, num_shards)
    start, end = shard_bounds(len(corpus), shard, num_shards)
    if path.is_file() and not force:
        return ShardResult(path, end - start, cached=True)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        info = {"corpus": corpus.name, "content_hash": corpus.content_hash, "docs": len(corpus),
                "embedder": embedder.fingerprint_info, "fingerprint": embedder.fingerprint}
        _atomic_write(manifest, lambda fh: fh.write(json.dumps(info, indent=1).encode()))
    docs = corpus.docs[start:end]
    vectors = np.asarray(embedder.encode_passages([d.full_text for d in docs]), dtype=np.float32)
    ids = json.dumps([d.doc_id for d in docs]).encode()
    _atomic_write(path.with_suffix(".ids.json"), lambda fh: fh.write(ids))
    _atomic_write(path, lambda fh: np.save(fh, vectors.reshape(len(docs), -1)))
    return ShardResult(path, len(docs), cached=False)


def stored_shards(folder: Path) -> dict[int, set[int]]:
    """``{num_shards: {shard, …}}`` of the finished shards in a cache folder."""
    found: dict[int, set[int]] = {}
    if folder.is_dir():
        for entry in folder.iterdir():
            m = _SHARD.match(entry.name)
            if m:
                found.setdefault(int(m.group(2)), set()).add(int(m.group(1)))
    return found


def load_vectors(corpus: TheoremCorpus, embedder, *, num_shards: int | None = None,
                 cache_dir: Path | None = None) -> np.ndarray:
    """All passage vectors in corpus order [N, dim]. Uses the shard layout with the most
    finished shards unless ``num_shards`` is given; missing shards are embedded here."""
    folder = cache_folder(corpus, embedder, cache_dir)
    if num_shards is None:
        stored = stored_shards(folder)
        num_shards = max(stored, key=lambda n: (len(stored[n]) / n, -n)) if stored else 1
    parts = []
    for shard in range(num_shards):
        result = embed_shard(corpus, embedder, shard, num_shards, cache_dir=cache_dir)
        start, end = shard_bounds(len(corpus), shard, num_shards)
        ids = json.loads(result.path.with_suffix(".ids.json").read_text())
        if ids != corpus.ids[start:end]:               # stale or foreign shard: recompute
            result = embed_shard(corpus, embedder, shard, num_shards, cache_dir=cache_dir,
                                 force=True)
        parts.append(np.load(result.path))
    parts = [p for p in parts if p.size]
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


def load_index(corpus: TheoremCorpus, embedder, *, num_shards: int | None = None,
               cache_dir: Path | None = None):
    """(an exact inner-product index over the corpus vectors — faiss ``IndexFlatIP``, see
    :mod:`rader_queue.retrieval.flat_index` —, the vectors). Row i is ``corpus.docs[i]``."""
    vectors = load_vectors(corpus, embedder, num_shards=num_shards, cache_dir=cache_dir)
    return flat_ip_index(vectors), vectors
