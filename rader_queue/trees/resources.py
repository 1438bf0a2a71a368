"""Per-process resources of MCTS workers, built once and shared by every problem in flight:
one generator (one HTTP client, one in-flight bound) and one retriever per (corpus, kind)."""

from __future__ import annotations

import threading
from typing import Any

from rader_queue.llm.generator import Generator
from rader_queue.retrieval import load_corpus, make_retriever
from rader_queue.settings import get_settings

_lock = threading.Lock()
_generator = None
_retrievers: dict[tuple[str, str, float], Any] = {}


def generator():
    global _generator
    with _lock:
        if _generator is None:
            _generator = Generator(get_settings())
        return _generator


def retriever(corpus: str, kind: str, alpha: float = 0.5):
    key = (corpus, kind, alpha)
    with _lock:
        if key not in _retrievers:
            _retrievers[key] = make_retriever(kind, load_corpus(corpus), settings=get_settings(),
                                              alpha=alpha)
        return _retrievers[key]


def reset() -> None:
    """Forget everything (tests that change settings between runs in one process)."""
    global _generator
    with _lock:
        _generator = None
        _retrievers.clear()
