"""Exact inner-product search over a matrix of vectors.

faiss ``IndexFlatIP`` when faiss is installed (every CPU worker has it); otherwise the same exact
search in torch, on the GPU when the process has one (an eval worker on a GPU node whose image
carries no faiss). Both compute every inner product, so they return the same neighbours; scores
agree to float rounding. Rows past the number of vectors come back as -1, as in faiss.
"""

from __future__ import annotations

import numpy as np


class TorchFlatIP:
    """The subset of faiss's ``IndexFlatIP`` that rader-queue uses: ``ntotal`` and ``search``."""

    def __init__(self, vectors: np.ndarray, device: str | None = None) -> None:
        import torch

        self._torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.matrix = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)).to(self.device)
        self.ntotal = int(self.matrix.shape[0])

    def search(self, queries: np.ndarray, k: int, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        torch = self._torch
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        take = min(k, self.ntotal)
        if take == 0:
            return scores, rows
        for start in range(0, len(queries), batch_size):
            q = torch.from_numpy(queries[start:start + batch_size]).to(self.device)
            values, indices = torch.topk(q @ self.matrix.T, take, dim=1)
            scores[start:start + len(q), :take] = values.cpu().numpy()
            rows[start:start + len(q), :take] = indices.cpu().numpy()
        return scores, rows


def flat_ip_index(vectors: np.ndarray, backend: str = "auto"):
    """An exact inner-product index over ``vectors`` [n, dim]. ``backend``: auto (faiss when
    importable, else torch), faiss, or torch."""
    if backend not in ("auto", "faiss", "torch"):
        raise ValueError(f"unknown search backend {backend!r} (auto, faiss or torch)")
    if backend != "torch":
        try:
            import faiss
        except ImportError:
            if backend == "faiss":
                raise
        else:
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            index = faiss.IndexFlatIP(vectors.shape[1] if vectors.size else 1)
            if vectors.size:
                index.add(vectors)
            return index
    return TorchFlatIP(vectors)
