"""Fixtures of the evaluation tests: a tiny benchmark in BRIGHT layout (documents.jsonl +
examples.jsonl, with excluded ids) that BM25 scores in milliseconds, and the training-data
tests' scripted run for the end-to-end test."""

from __future__ import annotations

import json

import pytest

# the scripted-run fixtures of the training-data tests (toy corpus, simulated generator)
from tests.training_data.conftest import corpus_path, llm_url, qg_env  # noqa: F401

DOCUMENTS = {
    "pyth": "Pythagorean theorem: in a right triangle with legs a and b and hypotenuse c, "
            "a^2 + b^2 = c^2.",
    "primes": "Every prime number greater than two is odd.",
    "angles": "The interior angles of a triangle add up to 180 degrees.",
    "vieta": "For a quadratic a x^2 + b x + c with roots r and s, r + s = -b/a and r s = c/a.",
    "pigeon": "If n + 1 objects are placed into n boxes then some box holds two objects.",
    "binom": "The power (x + y)^n expands as the sum of binomial coefficients times x^k y^(n-k).",
    "fermat": "If p is prime and does not divide a then a^(p-1) is 1 modulo p.",
    # the problems themselves are in the corpus, as in BRIGHT: each one's own id is excluded
    "self-q1": "A right triangle has legs 6 and 8. How long is its hypotenuse?",
    "self-q2": "The roots of x^2 - 5x + 6 are r and s. What is r + s?",
}
EXAMPLES = [
    {"id": "q1", "query": "A right triangle has legs 6 and 8. How long is its hypotenuse?",
     "gold_ids": ["pyth"], "excluded_ids": ["self-q1"]},
    {"id": "q2", "query": "The roots of x^2 - 5x + 6 are r and s. What is r + s?",
     "gold_ids": ["vieta"], "excluded_ids": ["self-q2", "N/A"]},
    {"id": "q3", "query": "Seven pigeons sit in six holes; show two share a hole.",
     "gold_ids": ["pigeon", "binom"], "excluded_ids": []},
]


@pytest.fixture
def bright_dir(tmp_path):
    folder = tmp_path / "tinybright"
    folder.mkdir()
    (folder / "documents.jsonl").write_text(
        "".join(json.dumps({"id": d, "content": t}) + "\n" for d, t in DOCUMENTS.items()))
    (folder / "examples.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EXAMPLES))
    return folder


@pytest.fixture
def eval_env(monkeypatch, tmp_path):
    """Settings for code that evaluates without a store: a private cache directory."""
    from rader_queue.settings import get_settings

    monkeypatch.setenv("RADER_CACHE_DIR", str(tmp_path / "cache"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
