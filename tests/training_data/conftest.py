"""Fixtures of the training-data tests: a small theorem corpus built for the purpose, trees grown
by the pure MCTS core with a scripted policy and stored through the real store (PostgreSQL),
and the simulated OpenAI-compatible server as the generator."""

from __future__ import annotations

import json
import random
import uuid

import pytest

from rader_queue.ports import free_port

from rader_queue.datasets import Problem
from rader_queue.mcts import MCTSConfig, NodeType, RetrievedDoc, run_search
from tests.mcts.scripted import GOLD, ScriptedPolicy

THEOREMS = {
    "d1": ("Pythagorean theorem", "In a right triangle with legs a and b and hypotenuse c, a^2 + b^2 = c^2."),
    "d2": ("Odd primes", "Every prime number greater than two is odd."),
    "d3": ("Angle sum of a triangle", "The interior angles of a triangle add up to 180 degrees."),
    "d4": ("Vieta formulas", "For a quadratic a x^2 + b x + c with roots r and s, r + s = -b/a and r s = c/a."),
    "d5": ("Pigeonhole principle", "If n + 1 objects are placed into n boxes then some box holds two objects."),
    "d6": ("Fermat little theorem", "If p is prime and does not divide a then a^(p-1) is 1 modulo p."),
    "d7": ("Binomial theorem", "The power (x + y)^n expands as the sum of binomial coefficients times x^k y^(n-k)."),
    "d8": ("Triangle inequality", "The length of one side of a triangle is less than the sum of the other two."),
}
COMMON = ["number", "set", "function", "graph", "series", "limit", "sequence", "value"]
VOCAB = COMMON + ["matrix", "vector", "polygon", "circle", "integral", "derivative", "ring",
                  "probability", "group", "field", "angle", "root", "prime", "triangle", "sum"]
# d9: no title, its first words are the most common words of the corpus and its long body
# dilutes them, so BM25 ranks it far below the short fillers for a query made of those words.
WEAK = "d9"
WEAK_TEXT = " ".join(COMMON) + " " + " ".join(f"pad{i}" for i in range(300))
VERDICTS = {"d1": True, "d2": False, "d3": None, "d4": True}     # others: False
QUESTIONS = [("P1", "A right triangle has legs 6 and 8. How long is its hypotenuse?"),
             ("P2", "Legs 9 and 12 of a right triangle are given; find the hypotenuse."),
             ("P3", "A right triangle has legs 6 and 8. How long is its hypotenuse?")]


_EMBEDDER: list = []               # one embedder for every test of the session




@pytest.fixture(scope="session")
def corpus_path(tmp_path_factory):
    rng = random.Random(5)
    path = tmp_path_factory.mktemp("corpus") / "theorems.jsonl"
    lines = [{"id": d, "title": t, "text": x} for d, (t, x) in THEOREMS.items()]
    lines.append({"id": WEAK, "text": WEAK_TEXT})
    for i in range(52):
        words = COMMON if i < 30 else []
        words = words + [rng.choice(VOCAB) for _ in range(6)]
        lines.append({"id": f"f{i:02d}", "title": "", "text": " ".join(words)})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.fixture(scope="session")
def llm_url():
    from rader_queue.testing.simulated_llm import simulated_server

    with simulated_server(free_port(), time_scale=0.01) as url:
        yield url


@pytest.fixture
def qg_env(rader_env, llm_url, monkeypatch):
    """rader_env plus the simulated generator, through a worker context of these settings."""
    from rader_queue import context
    from rader_queue.settings import get_settings

    monkeypatch.setenv("RADER_LLM_BASE_URL", llm_url)
    get_settings.cache_clear()
    worker = context.WorkerContext(get_settings())
    if _EMBEDDER:                    # the embedder behind dense negatives loads slowly: reuse it
        worker._embedder = _EMBEDDER[0]
    previous = context.install(worker)
    yield {**rader_env, "RADER_LLM_BASE_URL": llm_url}
    if worker._embedder is not None and not _EMBEDDER:
        _EMBEDDER.append(worker._embedder)
    worker._embedder = None           # kept for the next test, not closed
    context.install(previous)
    worker.close()


def scripted_policy() -> ScriptedPolicy:
    docs = [RetrievedDoc(d, t, x, 1.0 - i / 100, i + 1) for i, (d, (t, x)) in enumerate(THEOREMS.items())]

    def crs(ctx, n):          # right only on paths that retrieved d1: reward 1 needs d1
        right = any(k is NodeType.RETRIEVAL and "d1" in text for k, text in ctx.steps)
        return [f"so the answer is \\boxed{{{GOLD if right else 7}}}" for _ in range(n)]

    def verdict(ctx, summary, doc):
        from rader_queue.mcts import Judgement

        label = VERDICTS.get(doc.doc_id, False)
        return Judgement(label=label, reason=f"reason {doc.doc_id}", raw=f"Relevant: {label}")

    return ScriptedPolicy(corpus=docs, crs=crs, verdicts=verdict)


def store_scripted_run(corpus_path, *, name: str | None = None, seed: int = 3,
                       questions=QUESTIONS) -> str:
    """A run whose problems hold scripted trees, written with the real persistence code."""
    from rader_queue.queue import runtime
    from rader_queue.queue.enqueue import ensure_run, record_problems
    from rader_queue.store import session_scope
    from rader_queue.store.models import Problem as ProblemRow
    from rader_queue.trees.persist import write_tree
    from sqlalchemy import select

    name = name or f"scripted-{uuid.uuid4().hex[:8]}"
    config = MCTSConfig(rollouts=16, max_depth=6, top_k=5, crs_samples=2, seed=seed)
    run_config = {"mcts": config.model_dump(), "retriever": "bm25", "corpus": str(corpus_path)}
    problems = [Problem(pid, text, GOLD) for pid, text in questions]
    with session_scope() as session:
        run = ensure_run(session, name, "scripted", "test", run_config)
        record_problems(session, run, problems)
        ids = dict(session.execute(select(ProblemRow.source_id, ProblemRow.id)
                                   .where(ProblemRow.run_id == run.id)).all())
    for pid, text in questions:
        result = runtime.run(run_search(text, scripted_policy(), config))
        with session_scope() as session:
            write_tree(session, ids[pid], result, retriever="scripted", model="scripted")
    return name


@pytest.fixture
def scripted_run(qg_env, corpus_path):
    return store_scripted_run(corpus_path)
