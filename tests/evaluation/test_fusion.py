"""Hybrid fusion and LLM-rerank interpolation (:mod:`rader_queue.evaluation.fusion`): the
numbers of a tiny example worked out by hand, the edge cases, and rating parsing.

Hybrid, per query: ``S = α·z(dense) + (1−α)·z(bm25)`` over the union of both lists, a document
missing from a list taking that list's lowest score. Rerank: ``w·rating/5 + (1−w)·minmax(r)``
over the top k; an unreadable rating keeps ``minmax(r)`` alone."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest

from rader_queue.errors import ConfigError
from rader_queue.evaluation.fusion import hybrid_run, interpolate, minmax, parse_rating, rerank_run

R11 = math.sqrt(11)

# dense lacks d (→ its floor 1), bm25 lacks b (→ its floor 10):
#   dense [3, 1, 2, 1]   mean 1.75  std √(2.75/4)  z = [5, -3, 1, -3]/√11
#   bm25 [10, 10, 30, 20] mean 17.5 std √(275/4)   z = [-3, -3, 5, 1]/√11
DENSE = {"a": 3.0, "b": 1.0, "c": 2.0}
BM25 = {"a": 10.0, "c": 30.0, "d": 20.0}


def test_hybrid_numbers_by_hand():
    fused = hybrid_run({"q": DENSE}, {"q": BM25}, 0.5)["q"]
    assert set(fused) == {"a", "b", "c", "d"}
    expected = {"a": 1 / R11, "b": -3 / R11, "c": 3 / R11, "d": -1 / R11}
    for doc, value in expected.items():
        assert fused[doc] == pytest.approx(value, abs=1e-9)
    weighted = hybrid_run({"q": DENSE}, {"q": BM25}, 0.8)["q"]
    expected = {"a": (0.8 * 5 - 0.2 * 3) / R11, "b": (-0.8 * 3 - 0.2 * 3) / R11,
                "c": (0.8 * 1 + 0.2 * 5) / R11, "d": (-0.8 * 3 + 0.2 * 1) / R11}
    for doc, value in expected.items():
        assert weighted[doc] == pytest.approx(value, abs=1e-9)
    assert sorted(weighted, key=weighted.get, reverse=True) == ["a", "c", "d", "b"]
    # α = 1 and α = 0 rank exactly as the single retrievers do (ties at the floor aside)
    only_dense = hybrid_run({"q": DENSE}, {"q": BM25}, 1.0)["q"]
    assert only_dense["a"] > only_dense["c"] > only_dense["b"] == only_dense["d"]
    only_bm25 = hybrid_run({"q": DENSE}, {"q": BM25}, 0.0)["q"]
    assert only_bm25["c"] > only_bm25["d"] > only_bm25["a"] == only_bm25["b"]


def test_hybrid_query_missing_from_one_run():
    fused = hybrid_run({"q1": DENSE}, {"q1": BM25, "q2": {"x": 5.0, "y": 1.0}}, 0.3)
    assert set(fused) == {"q1", "q2"}
    # no dense list for q2: z(dense) is all zero, BM25 alone decides with weight 1 − α
    assert fused["q2"] == pytest.approx({"x": 0.7, "y": -0.7}, abs=1e-12)
    back = hybrid_run({"q3": {"x": 2.0, "y": 4.0}}, {}, 0.3)
    assert back["q3"] == pytest.approx({"x": -0.3, "y": 0.3}, abs=1e-12)


def test_hybrid_constant_scores_have_zero_std():
    flat = hybrid_run({"q": {"a": 0.5, "b": 0.5, "c": 0.5}}, {"q": {"a": 1.0, "b": 3.0, "c": 2.0}}, 0.5)
    z = [(1 - 2) / math.sqrt(2 / 3), (3 - 2) / math.sqrt(2 / 3), 0.0]
    assert flat["q"] == pytest.approx({"a": 0.5 * z[0], "b": 0.5 * z[1], "c": 0.0}, abs=1e-12)
    both = hybrid_run({"q": {"a": 7.0, "b": 7.0}}, {"q": {"a": 0.0, "b": 0.0}}, 0.5)
    assert both["q"] == {"a": 0.0, "b": 0.0}
    single = hybrid_run({"q": {"a": 0.9}}, {"q": {"a": 12.0}}, 0.5)
    assert single["q"] == {"a": 0.0}
    assert all(math.isfinite(v) for run in (flat, both, single) for v in run["q"].values())
    assert hybrid_run({}, {}, 0.5) == {}


def test_hybrid_alpha_is_checked():
    with pytest.raises(ConfigError, match="alpha"):
        hybrid_run({"q": DENSE}, {"q": BM25}, 1.5)


# -------------------------------------------------------------------------------- rerank
@pytest.mark.parametrize("reply, rating", [
    ("Helpful theorem.\nScore: 4", 4.0),
    ("Score: 2 at first, but on reflection\nScore: 5", 5.0),      # the last one wins
    ("Score: **3**", 3.0),
    ("score = 2/5", 2.0),
    ("Score: 8/10", 4.0),                                          # another scale, rescaled
    ("Rating: 3.5", 3.5),
    ("I would rate it 4 out of 5.", 4.0),
    ("I give it 3.", 3.0),                                         # one lone digit
    ("Score: 10", None),                                           # not 1: outside 0-5
    ("Score: 45", None),
    ("the final line is 'Score: N', an integer from 0 to 5.", None),   # the template, echoed
    ("It uses 1/2 and 3/4 of the area.", None),
    ("between 2 and 4", None),
    ("The Pythagorean theorem is a fundamental concept in geometry.", None),
    ("", None),
])
def test_parse_rating(reply, rating):
    assert parse_rating(reply) == rating


def test_interpolate_formula():
    retrieval = {"a": 0.9, "b": 0.5, "c": 0.1}                   # minmax: 1, 0.5, 0
    out = interpolate(retrieval, {"a": 1.0, "b": 5.0, "c": None}, 0.4)
    assert out == pytest.approx({"a": 0.4 * 1 / 5 + 0.6 * 1.0, "b": 0.4 * 1.0 + 0.6 * 0.5,
                                 "c": 0.0}, abs=1e-12)
    # an unreadable rating keeps the normalised retrieval score: w·r + (1 − w)·r
    assert interpolate(retrieval, {}, 0.7) == pytest.approx(minmax(retrieval), abs=1e-12)
    assert interpolate({"a": 2.0, "b": 2.0}, {"a": 0.0}, 0.5) == {"a": 0.5, "b": 1.0}
    assert interpolate(retrieval, {"a": 0, "b": 0, "c": 5}, 1.0)["c"] == 1.0


class ScriptedGenerator:
    """A generator that answers from a table keyed by a word of the document (the LLM itself
    is exercised by the model test below and the embedded server's own tests)."""

    model = "scripted"

    def __init__(self, replies: dict[str, str]) -> None:
        self.replies, self.calls = replies, []

    async def generate(self, messages, **kwargs):
        prompt = messages[-1]["content"]
        self.calls.append((prompt, kwargs))
        document = prompt.split("Document:\n", 1)[1]
        return [next(r for key, r in self.replies.items() if key in document)]


def test_rerank_run_reorders_top_k_and_keeps_the_rest_below():
    run = {"q1": {"a": 0.9, "b": 0.5, "c": 0.1, "d": 0.05, "e": 0.01},
           "q2": {"a": 2.0, "c": 1.0}}
    docs = {d: f"DOC-{d}" for d in "abcde"}
    gen = ScriptedGenerator({"DOC-a": "Score: 1", "DOC-b": "Relevant. Score: 5", "DOC-c": "no idea",
                             "DOC-d": "Score: 5", "DOC-e": "Score: 5"})
    out, ratings = asyncio.run(rerank_run(run, {"q1": "first", "q2": "second"}, docs, gen,
                                          k=3, weight=0.4))
    assert ratings == {"q1": {"a": 1.0, "b": 5.0, "c": None}, "q2": {"a": 1.0, "c": None}}
    assert len(gen.calls) == 5                                  # only the top 3 (and q2's 2)
    assert all(kw["temperature"] == 0.0 and kw["stage"] == "eval_rerank" for _, kw in gen.calls)
    q1 = out["q1"]
    assert q1["a"] == pytest.approx(0.4 * 0.2 + 0.6 * 1.0) and q1["b"] == pytest.approx(0.4 + 0.3)
    assert q1["c"] == 0.0
    assert sorted(q1, key=q1.get, reverse=True) == ["b", "a", "c", "d", "e"]
    assert max(q1["d"], q1["e"]) < min(q1["a"], q1["b"], q1["c"]) and q1["d"] > q1["e"]
    assert out["q2"] == pytest.approx({"a": 0.4 * 0.2 + 0.6, "c": 0.0})
    with pytest.raises(ConfigError):
        asyncio.run(rerank_run(run, {}, docs, gen, k=0))
    with pytest.raises(ConfigError):
        asyncio.run(rerank_run(run, {}, docs, gen, k=3, weight=1.2))


def test_unreadable_ratings_leave_the_ranking_unchanged(tmp_path, bright_dir, eval_env):
    """Through the simulated OpenAI-compatible server, whose replies to the rerank prompt hold
    no rating: the reranked run ranks exactly as the retrieval did, and scores the same."""
    from rader_queue.evaluation.runner import EvalConfig, run_eval
    from rader_queue.llm.generator import Generator
    from rader_queue.settings import Settings
    from rader_queue.testing.simulated_llm import simulated_server
    from rader_queue.ports import free_port

    with simulated_server(free_port(), time_scale=0.01) as url:
        gen = Generator(Settings(llm_base_url=url, llm_model="sim", llm_cache=False))
        plain = run_eval(EvalConfig(model="bm25", benchmark=str(bright_dir), depth=6), out_dir=tmp_path, record=False)
        reranked = run_eval(EvalConfig(model="bm25", benchmark=str(bright_dir), depth=6, rerank_k=4),
                            out_dir=tmp_path, record=False, generator=gen)
    ratings = json.loads((Path(reranked.score_path).parent / "llm_ratings.json").read_text())
    assert {q: len(r) for q, r in ratings.items()} == {"q1": 4, "q2": 4, "q3": 4}
    assert all(v is None for r in ratings.values() for v in r.values())
    before = json.loads(Path(plain.score_path).read_text())
    after = json.loads(Path(reranked.score_path).read_text())
    for qid in before:
        order = sorted(before[qid], key=before[qid].get, reverse=True)
        assert sorted(after[qid], key=after[qid].get, reverse=True) == order
        top = dict(sorted(before[qid].items(), key=lambda kv: -kv[1])[:4])
        assert {d: after[qid][d] for d in top} == pytest.approx(minmax(top), abs=1e-12)
    assert reranked.metrics == pytest.approx(plain.metrics, abs=1e-12)
    assert reranked.config_hash != plain.config_hash
