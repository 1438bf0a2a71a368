from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def minilm():
    from rader_queue.llm.embedder import LocalEmbedder

    return LocalEmbedder("all-MiniLM-L6-v2", device="cpu")


@pytest.fixture(scope="session")
def champ():
    from rader_queue.retrieval.corpus import load_champ

    return load_champ()
