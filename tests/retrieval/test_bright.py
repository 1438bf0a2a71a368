"""BRIGHT as a first-class corpus (issue 18): a BRIGHT-layout fixture folder read as the search
corpus (through the real enqueue → worker path), as a negatives source and as an eval benchmark."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from rader_queue.errors import InputError
from rader_queue.evaluation.benchmarks import load_benchmark
from rader_queue.retrieval import bright
from rader_queue.retrieval.corpus import load_corpus

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "bright"
DOC_IDS = {json.loads(line)["id"] for line in (FIXTURE / "documents" / "theoremqa_theorems.jsonl").open()}


@pytest.fixture
def bright_env(monkeypatch):
    from rader_queue.settings import get_settings

    monkeypatch.setenv("RADER_BRIGHT_DIR", str(FIXTURE))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_named_split_reads_the_local_folder(bright_env):
    corpus = load_corpus("bright:theoremqa_theorems")
    assert corpus.name == "bright:theoremqa_theorems" and set(corpus.ids) == DOC_IDS
    doc = corpus.get("Pythagoras_Theorem")
    assert doc.title == "" and doc.text.startswith("Pythagoras's Theorem") and "\\begin{proof}" in doc.text
    assert load_corpus(str(FIXTURE)).content_hash == corpus.content_hash          # folder path
    assert len(load_corpus(f"{FIXTURE}#theoremqa_theorems")) == len(DOC_IDS)


def test_bad_specs_and_rows_are_clear_errors(tmp_path, bright_env):
    with pytest.raises(InputError, match="unknown BRIGHT split 'theorems'"):
        load_corpus("bright:theorems")
    (tmp_path / "documents").mkdir()
    (tmp_path / "documents" / "aops.jsonl").write_text('{"id": "a", "content": "x"}\n{"id": "b"}\n')
    with pytest.raises(InputError) as err:
        load_corpus(str(tmp_path))
    assert err.value.line == 2 and err.value.field == "content"
    with pytest.raises(InputError, match="examples file not found"):
        load_benchmark(str(tmp_path))


def test_instructions_follow_bright():
    assert bright.instruction_prefix("theoremqa_theorems") == (
        "Instruct: Given a Math problem, retrieve relevant theorems that help answer the problem\nQuery: ")
    assert "retrieve relevant examples" in bright.instruction_prefix("aops")
    assert set(bright.INSTRUCTIONS) == set(bright.SPLITS)


def test_fixture_as_eval_benchmark(bright_env, tmp_path, rader_env):
    from rader_queue.evaluation.runner import EvalConfig, run_eval

    for spec in (str(FIXTURE), "bright:theoremqa_theorems"):
        bench = load_benchmark(spec)
        assert bench.name == "bright:theoremqa_theorems" and bench.split == "theoremqa_theorems"
        assert len(bench.queries) == 8 and bench.qrels["TheoremQA_3"] == {"Fermat_Little_Theorem": 1,
                                                                       "Euler_Theorem": 1}
        assert "TheoremQA_1" not in bench.excluded                           # "N/A" is no id
        assert bench.excluded["TheoremQA_2"] == ["Pythagoras_Theorem"]
    # The search's own BM25 tokenizer (stop words dropped); eval's default since the reference
    # parity work is plain rank_bm25 over every token, where "the"/"of" swamp a 40-doc corpus.
    outcome = run_eval(EvalConfig(model="bm25", benchmark=str(FIXTURE), depth=10, bm25_stopwords=True),
                       out_dir=tmp_path, record=False)
    run = json.loads(Path(outcome.score_path).read_text())
    assert "Pythagoras_Theorem" not in run["TheoremQA_2"]
    assert outcome.metrics["ndcg_cut_10"] > 0.3                              # lexical overlap is high


@pytest.mark.slow
def test_fixture_as_mcts_corpus_through_enqueue_and_a_worker(bright_env, rader_env, tmp_path):
    """`enqueue --preset rader-paper` searches BRIGHT's theorems: the run records the preset and
    the corpus, and every retrieved or judged theorem is a BRIGHT document id."""
    from rader_queue.ports import free_port
    from rader_queue.store import session_scope
    from rader_queue.store.models import Job, JobState, Judgement, Problem, Run, TreeNode
    from rader_queue.testing.simulated_llm import simulated_server
    from tests.process_helpers import ROOT, running, wait_for, worker_cmd

    env = {**os.environ, **rader_env, "RADER_BRIGHT_DIR": str(FIXTURE)}
    out = subprocess.run([sys.executable, "-m", "rader_queue.cli.main", "enqueue", "MATH", "--split", "test",
                          "--limit", "2", "--run", "bright-run", "--preset", "rader-paper", "--retriever",
                          "bm25", "--rollouts", "3", "--max-depth", "4"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "preset rader-paper" in out.stderr and "RADER_LLM_MODEL" in out.stderr   # settings differ
    log = tmp_path / "worker.log"
    with simulated_server(free_port(), time_scale=0.02) as llm_url:
        with running(worker_cmd("mcts", concurrency=2), {**env, "RADER_LLM_BASE_URL": llm_url}, log):
            def done() -> bool:
                with session_scope() as s:
                    return len(s.scalars(select(Job).join(Run).where(
                        Run.name == "bright-run", Job.state == JobState.DONE)).all()) == 2
            wait_for(done, 240, what="2 done jobs", log_path=log)
    with session_scope() as s:
        run = s.scalars(select(Run).where(Run.name == "bright-run")).one()
        assert run.config["preset"] == "rader-paper" and run.config["corpus"] == "bright:theoremqa_theorems"
        assert run.config["mcts"]["reflection_temperature"] == 0.8 and run.config["mcts"]["rollouts"] == 3
        retrieved = set(s.scalars(select(TreeNode.doc_id).join(Problem).where(
            Problem.run_id == run.id, TreeNode.doc_id.is_not(None))))
        judged = set(s.scalars(select(Judgement.doc_id).join(Problem).where(Problem.run_id == run.id)))
    assert judged and judged <= DOC_IDS and retrieved <= DOC_IDS
    # ... and the same corpus is where the dataset's negatives come from
    from rader_queue.querygen import QuerygenOptions
    from rader_queue.training_data import BuildOptions, build_dataset

    types = ("qcot", "qquestion")
    report = build_dataset("bright-run", "bright-ds", BuildOptions(types=types, min_reward=None),
                           out_dir=tmp_path, querygen=QuerygenOptions(types=types, min_reward=None))
    lines = [json.loads(x) for x in report.jsonl_path.read_text().splitlines()]
    assert lines and all(len(line["negative_passages"]) >= 11 for line in lines)
    assert {n["docid"] for line in lines for n in line["negative_passages"]} <= DOC_IDS
