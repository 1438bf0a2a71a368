"""qlexical: the BM25 round trip (a deliberately weak theorem is dropped) and its negatives;
reply parsing of generated queries."""

from __future__ import annotations

from sqlalchemy import select

from rader_queue.querygen import QuerygenOptions, Sample
from rader_queue.querygen.generation import bm25_band, bm25_rank, lexical_rows
from rader_queue.querygen.prompting import clean_query, lexical_overlap
from rader_queue.querygen.store import make_env, write_rows
from rader_queue.queue import runtime
from rader_queue.queue.status import find_run
from rader_queue.store import session_scope
from rader_queue.store.models import GeneratedQuery, Problem
from rader_queue import context

from .conftest import WEAK


def _env(run_name):
    with session_scope() as s:
        run = find_run(s, run_name)
        problem = s.scalars(select(Problem).where(Problem.run_id == run.id)).first()
        run_id, config, pid, source = run.id, dict(run.config), problem.id, problem.source_id
    generator = context.current().generator("querygen").bind(ledger=None, run_id=run_id, problem_id=pid)
    env = make_env(run_id, config, QuerygenOptions(), generator=generator, need_dense=True)
    samples = [Sample(pid, source, "q", 1, 2 + i, doc, (), (), "", 1.0, (9,))
               for i, doc in enumerate(("d1", WEAK))]
    return env, samples


def test_round_trip_drops_a_query_whose_theorem_ranks_below_20(scripted_run):
    env, samples = _env(scripted_run)
    rows = {r["positive_doc_id"]: r for r in runtime.run(lexical_rows(env, samples))}
    weak, good = rows[WEAK], rows["d1"]
    # the construction: the weak theorem's query is made of the corpus's most common words
    assert bm25_rank(env, weak["query"], WEAK) > 20
    assert weak["kept"] is False and weak["reject_reason"].startswith("round trip")
    assert weak["negative_doc_ids"] == []
    assert good["kept"] is True and good["extra"]["bm25_rank"] <= 20

    negatives = good["negative_doc_ids"]
    band = set(bm25_band(env, good["query"], (31, 50), {"d1"}))
    dense = [d for d, _ in env.dense.search(good["query"], k=10, exclude=["d1"])]
    assert "d1" not in negatives and len(negatives) == len(set(negatives))
    assert set(dense) <= set(negatives) and set(negatives) <= band | set(dense)
    assert len(set(negatives) - set(dense)) >= min(10, len(band)) - len(band & set(dense))
    # deterministic: the same seed samples the same negatives
    again = {r["positive_doc_id"]: r for r in runtime.run(lexical_rows(env, samples))}
    assert again["d1"]["negative_doc_ids"] == negatives and again["d1"]["query"] == good["query"]

    with session_scope() as s:                     # a dropped query stays in SQL, marked
        write_rows(s, list(rows.values()))
    with session_scope() as s:
        stored = s.scalars(select(GeneratedQuery).where(
            GeneratedQuery.run_id == env.run_id, GeneratedQuery.key == f"qlexical:{WEAK}")).one()
        assert stored.kept is False and "round trip" in stored.reject_reason


def test_query_replies_are_parsed_robustly():
    reply = ("Conditions: a triangle.\nWhy they hold: given. Query: not this one\n"
             "Query: **How long is the side opposite a known angle?**\nExample 3")
    assert clean_query(reply) == "How long is the side opposite a known angle?"
    assert clean_query("  \"Which bound relates the sides?\"  ") == "Which bound relates the sides?"
    assert clean_query("Query:   ") == ""                # a label with nothing after it
    assert clean_query("") == ""
    assert lexical_overlap("right triangle legs hypotenuse", "In a right triangle with legs") == 0.75
