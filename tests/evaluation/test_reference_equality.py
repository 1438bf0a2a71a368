"""`rader-queue eval run` against references (issue 18): base all-MiniLM-L6-v2 equals
sentence-transformers' own encode-and-rank (at the model's own max_seq_length, so long passages
are cut where sentence-transformers cuts them), and BM25 without stop-words equals plain
rank_bm25 over the same tokens; BRIGHT's instructions reach the query encoder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rader_queue.evaluation.benchmarks import load_benchmark
from rader_queue.evaluation.runner import EvalConfig, native_max_len, query_texts, run_eval
from rader_queue.retrieval.bm25 import tokenize

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "bright"


@pytest.fixture
def long_bright(tmp_path):
    """The BRIGHT fixture with every second document padded past 256 tokens (≈ 200 tokens of
    padding go first, so a model cut at 512 tokens sees more of the theorem than one cut at 256)."""
    folder = tmp_path / "longbright"
    shutil.copytree(FIXTURE, folder)
    path = folder / "documents" / "theoremqa_theorems.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    filler = " ".join(f"remark{i % 37} on notation and conventions" for i in range(30))
    for i, row in enumerate(rows):
        if i % 2:
            row["content"] = filler + " " + row["content"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def _reference_ranking(scores: np.ndarray, ids: list[str], excluded: set[str], depth: int):
    order = np.lexsort((np.arange(len(scores)), -scores))
    return [(ids[i], float(scores[i])) for i in order if ids[i] not in excluded][:depth]


@pytest.mark.slow
def test_base_minilm_equals_sentence_transformers(long_bright, tmp_path, rader_env):
    from sentence_transformers import SentenceTransformer

    from rader_queue.train.model import resolve_model_path

    assert native_max_len("all-MiniLM-L6-v2") == 256
    bench = load_benchmark(str(long_bright))
    outcome = run_eval(EvalConfig(model="all-MiniLM-L6-v2", benchmark=str(long_bright), depth=10), out_dir=tmp_path,
                       record=False)
    ours = json.loads(Path(outcome.score_path).read_text())
    st = SentenceTransformer(resolve_model_path("all-MiniLM-L6-v2"), device="cpu")
    assert st.max_seq_length == 256
    docs = st.encode([d.full_text for d in bench.docs], normalize_embeddings=True, batch_size=16)
    queries = st.encode(list(bench.queries.values()), normalize_embeddings=True)
    for qi, qid in enumerate(bench.queries):
        ref = _reference_ranking(docs @ queries[qi], bench.corpus.ids, set(bench.excluded.get(qid, ())), 10)
        got = sorted(ours[qid].items(), key=lambda kv: -kv[1])
        assert [d for d, _ in got] == [d for d, _ in ref], qid
        assert np.allclose([s for _, s in got], [s for _, s in ref], atol=1e-4)
    # cut at 512 tokens instead, the padded documents embed differently
    longer = run_eval(EvalConfig(model="all-MiniLM-L6-v2", benchmark=str(long_bright), depth=10, passage_max_len=512),
                      out_dir=tmp_path, record=False)
    assert longer.config_hash != outcome.config_hash
    assert json.loads(Path(longer.score_path).read_text()) != ours


def test_bm25_without_stopwords_equals_plain_rank_bm25(tmp_path, rader_env):
    from rank_bm25 import BM25Okapi

    bench = load_benchmark(str(FIXTURE))
    outcome = run_eval(EvalConfig(model="bm25", benchmark=str(FIXTURE), depth=10), out_dir=tmp_path, record=False)
    ours = json.loads(Path(outcome.score_path).read_text())
    plain = BM25Okapi([tokenize(d.full_text, stopwords=False) for d in bench.docs])
    for qid, query in bench.queries.items():
        scores = plain.get_scores(tokenize(query, stopwords=False))
        ref = _reference_ranking(scores, bench.corpus.ids, set(bench.excluded.get(qid, ())), 10)
        got = sorted(ours[qid].items(), key=lambda kv: -kv[1])
        assert [d for d, _ in got] == [d for d, _ in ref], qid
        assert np.allclose([s for _, s in got], [s for _, s in ref], atol=1e-9)
    with_stop = run_eval(EvalConfig(model="bm25", benchmark=str(FIXTURE), depth=10, bm25_stopwords=True),
                         out_dir=tmp_path, record=False)
    assert json.loads(Path(with_stop.score_path).read_text()) != ours


def test_bright_instructions_reach_the_queries():
    bench = load_benchmark(str(FIXTURE))
    plain = query_texts(bench, EvalConfig(model="x", benchmark="y"))
    instructed = query_texts(bench, EvalConfig(model="x", benchmark="y", instructions=True))
    assert plain == list(bench.queries.values())
    assert all(q.startswith("Instruct: Given a Math problem, retrieve relevant theorems") and q.endswith(p)
               for q, p in zip(instructed, plain))


def test_eval_cli_preset_and_options(tmp_path, rader_env):
    from typer.testing import CliRunner

    from rader_queue.cli.eval_commands import eval_app

    out = CliRunner().invoke(eval_app, ["run", "bm25", "-b", str(FIXTURE), "--no-bm25-stopwords",
                                        "--out-dir", str(tmp_path), "--preset", "laptop"])
    assert out.exit_code == 0, out.output
    assert "ndcg_cut_10" in out.output
    bad = CliRunner().invoke(eval_app, ["run", "bm25", "-b", "champ", "--instructions",
                                        "--out-dir", str(tmp_path)])
    assert bad.exit_code != 0
