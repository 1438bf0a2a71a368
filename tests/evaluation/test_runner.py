"""The evaluation runner and CLI on the tiny BRIGHT-layout benchmark: rows in SQL (idempotent),
the comparison table, hybrid fusion wired to the dense and BM25 runs, and LLM reranking with the
real embedded SmolLM2 server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from rader_queue.evaluation.compare import collect, label, render
from rader_queue.evaluation.fusion import hybrid_run, minmax, parse_rating
from rader_queue.evaluation.runner import EvalConfig, run_eval
from rader_queue.store import session_scope
from rader_queue.store.models import EvalQueryResult, EvalResult


@pytest.fixture
def sqlite_env(monkeypatch, sqlite_url, eval_env):
    from rader_queue.settings import get_settings

    monkeypatch.setenv("RADER_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    return sqlite_url


def _rows(db_url):
    with session_scope(db_url) as s:
        results = [(r.id, r.model, r.benchmark, r.config_hash, dict(r.metrics))
                   for r in s.scalars(select(EvalResult).order_by(EvalResult.id))]
        per_query = s.scalar(select(func.count()).select_from(EvalQueryResult))
    return results, per_query


def test_cli_run_stores_rows_once_and_compare_prints_them(sqlite_env, bright_dir, tmp_path):
    from rader_queue.cli.eval_commands import eval_app

    runner = CliRunner()
    args = ["run", "bm25", "-b", str(bright_dir), "--local", "--out-dir", str(tmp_path / "out")]
    first = runner.invoke(eval_app, args)
    assert first.exit_code == 0, first.output
    assert "ndcg_cut_10" in first.output and "recall_10" in first.output and "3 queries" in first.output
    rows, per_query = _rows(sqlite_env)
    assert len(rows) == 1 and per_query == 3
    (eval_id, model, bench, config_hash, metrics) = rows[0]
    assert (model, bench) == ("bm25", "tinybright") and metrics["recall_100"] == 1.0
    again = runner.invoke(eval_app, args)                       # same settings: same rows
    assert again.exit_code == 0 and f"eval id {eval_id}," in again.output
    assert _rows(sqlite_env) == (rows, per_query)
    deeper = runner.invoke(eval_app, args + ["--depth", "2"])  # other settings: a new row
    assert deeper.exit_code == 0
    assert len(_rows(sqlite_env)[0]) == 2

    table = runner.invoke(eval_app, ["compare"], terminal_width=200)
    assert table.exit_code == 0, table.output
    assert "bm25" in table.output and "tinybright" in table.output
    assert "nDCG@10" in table.output and "R@10" in table.output
    bad = runner.invoke(eval_app, ["run", "bm25", "-b", "no-such-benchmark", "--local"])
    assert bad.exit_code != 0 and "unknown benchmark" in bad.output


def test_compare_keeps_variants_apart(sqlite_env):
    from rader_queue.evaluation.runner import EvalOutcome, record_eval

    for alpha, ndcg in ((None, 0.30), (0.5, 0.40)):
        config = {"hybrid_alpha": alpha, "rerank_k": 0}
        record_eval(sqlite_env, EvalOutcome("m", "b", f"h{alpha}", {"ndcg_cut_10": ndcg,
                                                                    "recall_10": 0.5}), config)
    record_eval(sqlite_env, EvalOutcome("m", "b", "hr", {"ndcg_cut_10": 0.2, "recall_10": 0.4}),
                {"hybrid_alpha": None, "rerank_k": 20, "rerank_weight": 0.3})
    data = collect(sqlite_env)
    assert data == {"m": {"b": {"ndcg_cut_10": 0.30, "recall_10": 0.5}},
                    "m +bm25 α=0.5": {"b": {"ndcg_cut_10": 0.40, "recall_10": 0.5}},
                    "m +rerank@20 w=0.3": {"b": {"ndcg_cut_10": 0.2, "recall_10": 0.4}}}
    assert collect(sqlite_env, models=["other"]) == {}
    assert label("x", {"hybrid_alpha": 0.25, "rerank_k": 5, "rerank_weight": 0.5}) \
        == "x +bm25 α=0.25 +rerank@5 w=0.5"
    assert render(data).row_count == 3


@pytest.mark.model
def test_hybrid_in_the_runner_fuses_the_dense_and_bm25_runs(bright_dir, tmp_path, eval_env):
    from .conftest import EXAMPLES

    def scores(cfg):
        out = run_eval(cfg, out_dir=tmp_path, record=False)
        return out, json.loads(Path(out.score_path).read_text())

    _, dense = scores(EvalConfig(model="all-MiniLM-L6-v2", benchmark=str(bright_dir)))
    _, bm25 = scores(EvalConfig(model="bm25", benchmark=str(bright_dir)))
    outcome, hybrid = scores(EvalConfig(model="all-MiniLM-L6-v2", benchmark=str(bright_dir), hybrid_alpha=0.5))
    expected = hybrid_run(dense, bm25, 0.5)
    assert set(hybrid) == set(expected) == {"q1", "q2", "q3"}
    for example in EXAMPLES:
        qid, excluded = example["id"], set(example["excluded_ids"]) - {"N/A"}
        assert len(hybrid[qid]) == 9 - len(excluded) and not set(hybrid[qid]) & excluded
        assert hybrid[qid] == pytest.approx(expected[qid], abs=1e-6)
    assert outcome.per_query["q1"]["recip_rank"] == 1.0


class Tap:
    """Passes every request to the real generator and keeps (prompt, reply)."""

    def __init__(self, generator) -> None:
        self.generator, self.model, self.seen = generator, generator.model, []

    async def generate(self, messages, **kwargs):
        replies = await self.generator.generate(messages, **kwargs)
        self.seen.append((messages[-1]["content"], replies[0]))
        return replies


@pytest.mark.model
@pytest.mark.slow
def test_llm_rerank_with_the_embedded_smollm2(bright_dir, tmp_path, eval_env):
    """Rerank BM25's top 3 with the real SmolLM2 server: every final score follows
    ``w·rating/5 + (1−w)·minmax(bm25)`` with the rating parsed from the model's own reply, or
    ``minmax(bm25)`` when the reply holds none (most replies of a 135M model)."""
    from rader_queue.llm.embedded_server import embedded_server
    from rader_queue.llm.generator import Generator
    from rader_queue.settings import Settings

    from .conftest import DOCUMENTS, EXAMPLES

    k, w = 3, 0.6
    plain = run_eval(EvalConfig(model="bm25", benchmark=str(bright_dir), depth=5), out_dir=tmp_path, record=False)
    with embedded_server(port=0, n_ctx=2048) as server:
        tap = Tap(Generator(Settings(llm_base_url=server.base_url, llm_model=server.model,
                                     llm_cache=False, llm_timeout_s=120, llm_max_retries=1)))
        reranked = run_eval(EvalConfig(model="bm25", benchmark=str(bright_dir), depth=5, rerank_k=k,
                                       rerank_weight=w), out_dir=tmp_path, record=False,
                            generator=tap)
    before = json.loads(Path(plain.score_path).read_text())
    after = json.loads(Path(reranked.score_path).read_text())
    ratings = json.loads((Path(reranked.score_path).parent / "llm_ratings.json").read_text())
    assert len(tap.seen) == 3 * k
    by_doc = {}
    for prompt, reply in tap.seen:
        query, document = prompt.split("Query:\n", 1)[1].split("\n\nDocument:\n", 1)
        doc = next(d for d, text in DOCUMENTS.items()
                   if document.split("\n\nGive a one-sentence", 1)[0] == text)
        by_doc[(query, doc)] = reply
    queries = {e["id"]: e["query"] for e in EXAMPLES}
    for qid, docs in before.items():
        top = dict(sorted(docs.items(), key=lambda kv: -kv[1])[:k])
        assert set(ratings[qid]) == set(top)
        norm = minmax(top)
        for doc, r in norm.items():
            rating = parse_rating(by_doc[(queries[qid], doc)])
            assert ratings[qid][doc] == rating
            expected = r if rating is None else w * rating / 5 + (1 - w) * r
            assert after[qid][doc] == pytest.approx(expected, abs=1e-12)
        rest = [d for d in sorted(docs, key=docs.get, reverse=True) if d not in top]
        assert sorted((d for d in after[qid] if d not in top), key=after[qid].get,
                      reverse=True) == rest
        assert max(after[qid][d] for d in rest) < min(after[qid][d] for d in top)
    assert reranked.config_hash != plain.config_hash


def test_a_repeated_evaluation_rewrites_its_per_query_rows(sqlite_env):
    """Same model, benchmark and settings, other numbers (an LLM reranker need not repeat
    itself exactly): the aggregate and the per-query rows are both rewritten, never mixed."""
    from rader_queue.evaluation.runner import EvalOutcome, record_eval

    def outcome(a, b):
        return EvalOutcome("m", "b", "same-hash", {"ndcg_cut_10": (a + b) / 2},
                           per_query={"q1": {"ndcg_cut_10": a}, "q2": {"ndcg_cut_10": b}})

    first = record_eval(sqlite_env, outcome(0.2, 0.4), {})
    second = record_eval(sqlite_env, outcome(0.6, 0.8), {})
    assert first == second
    with session_scope(sqlite_env) as s:
        row = s.get(EvalResult, first)
        per_query = {r.query_id: r.metrics["ndcg_cut_10"] for r in s.scalars(
            select(EvalQueryResult).where(EvalQueryResult.eval_id == first))}
        assert row.metrics == {"ndcg_cut_10": 0.7}
    assert per_query == {"q1": 0.6, "q2": 0.8}
