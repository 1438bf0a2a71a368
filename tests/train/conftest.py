"""Tiny Tevatron datasets built from CHAMP (problem → its concepts, other concepts as negatives)."""

from __future__ import annotations

import pytest

from rader_queue.evaluation.benchmarks import champ_training_rows
from rader_queue.train.data import write_jsonl


@pytest.fixture(scope="session")
def tiny_rows():
    return champ_training_rows("train", negatives=4, limit=8)


@pytest.fixture(scope="session")
def tiny_jsonl(tmp_path_factory, tiny_rows):
    return write_jsonl(tmp_path_factory.mktemp("data") / "tiny.jsonl", tiny_rows)
