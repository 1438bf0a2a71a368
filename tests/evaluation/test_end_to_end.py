"""End to end through the queue: scripted trees in PostgreSQL → ``dataset build`` → ``train``
(enqueued, run by a real worker process on the train queue) → ``eval run`` of the checkpoint on
``champ:test`` (enqueued, same worker on the eval queue) → ``eval compare``.

Checks the rows each stage leaves in SQL: the checkpoint and its loss curve, the evaluation and
its per-query rows, and that the evaluated vectors are the checkpoint's, not the base model's."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from rader_queue.store import session_scope
from rader_queue.store.models import Checkpoint, EvalQueryResult, EvalResult, TrainingLog
from tests.process_helpers import running, wait_for, worker_cmd
from tests.training_data.conftest import store_scripted_run

pytestmark = [pytest.mark.model, pytest.mark.slow]    # train + eval through a worker
NAME = "e2e-minilm"
STEPS = 3


def _checkpoint_state():
    with session_scope() as s:
        row = s.scalars(select(Checkpoint).where(Checkpoint.name == NAME)).first()
        return row.state if row else None


def _eval_row(model: str, benchmark: str):
    with session_scope() as s:
        row = s.scalars(select(EvalResult).where(EvalResult.model == model,
                                                 EvalResult.benchmark == benchmark)).first()
        if row is None:
            return None
        per_query = {r.query_id: r.metrics for r in s.scalars(
            select(EvalQueryResult).where(EvalQueryResult.eval_id == row.id))}
        return {"id": row.id, "metrics": dict(row.metrics), "config": dict(row.config),
                "score_path": row.score_path, "per_query": per_query}


def test_dataset_train_eval_compare_through_the_queue(qg_env, corpus_path, tmp_path, monkeypatch):
    from rader_queue.cli.dataset_commands import dataset_app
    from rader_queue.cli.eval_commands import eval_app
    from rader_queue.cli.train_commands import train_app
    from rader_queue.evaluation.benchmarks import load_benchmark
    from rader_queue.queue import app as app_module
    from rader_queue.settings import get_settings
    from rader_queue.store.models import Dataset
    from rader_queue.train.model import load_encoder

    # the CLI publishes through the module's Celery app: give it this test's key prefix
    monkeypatch.setattr(app_module, "app", app_module.create_app(get_settings()))
    cli = CliRunner()
    run = store_scripted_run(corpus_path)
    built = cli.invoke(dataset_app, ["build", run, "--name", "e2e", "--out", str(tmp_path / "data"),
                                     "--types", "qcot,qquestion,qllmq", "--local"])
    assert built.exit_code == 0, built.output
    with session_scope() as s:
        dataset = s.scalars(select(Dataset).where(Dataset.name == "e2e")).one()
        dataset_id, rows, path = dataset.id, dataset.counts["all"], dataset.path
    assert rows >= 2 and Path(path).is_file()

    trained = cli.invoke(train_app, [
        "e2e", "--name", NAME, "--output-dir", str(tmp_path / "ckpt"), "--max-steps", str(STEPS),
        "--batch-size", "2", "--group-size", "2", "--query-max-len", "64",
        "--passage-max-len", "64", "--lr", "2e-4", "--warmup-steps", "1", "--seed", "3"])
    assert trained.exit_code == 0 and "enqueued training" in trained.output, trained.output
    log = tmp_path / "worker.log"
    with running(worker_cmd("train,eval", concurrency=1, pool="solo"), qg_env, log):
        wait_for(lambda: _checkpoint_state() in ("done", "failed"), timeout=300,
                 what="the training task", log_path=log)
        assert _checkpoint_state() == "done", log.read_text()[-3000:]
        queued = cli.invoke(eval_app, ["run", NAME, "-b", "champ:test", "--enqueue",
                                       "--out-dir", str(tmp_path / "eval")])
        assert queued.exit_code == 0 and "enqueued evaluation" in queued.output, queued.output
        wait_for(lambda: _eval_row(NAME, "champ:test") is not None, timeout=300,
                 what="the evaluation task", log_path=log)

    # the training and the evaluation were jobs like every stage's: status sees them done
    from rader_queue.queue.status import run_status

    with session_scope() as s:
        for run_name, stage in ((f"train:{NAME}", "train"), (f"eval:{NAME}@champ:test", "eval")):
            progress = run_status(s, run_name).stages
            assert [(p.stage, p.counts) for p in progress] == [(stage, {"done": 1})], progress
    again = cli.invoke(train_app, ["e2e", "--name", NAME, "--output-dir", str(tmp_path / "ckpt"),
                                   "--max-steps", str(STEPS), "--batch-size", "2", "--group-size",
                                   "2", "--query-max-len", "64", "--passage-max-len", "64",
                                   "--lr", "2e-4", "--warmup-steps", "1", "--seed", "3"])
    assert again.exit_code == 0 and "already recorded" in again.output, again.output

    with session_scope() as s:
        ckpt = s.scalars(select(Checkpoint).where(Checkpoint.name == NAME)).one()
        curve = [(r.step, r.loss, r.learning_rate) for r in s.scalars(
            select(TrainingLog).where(TrainingLog.checkpoint_id == ckpt.id).order_by(TrainingLog.step))]
        assert (ckpt.steps, ckpt.dataset_id, ckpt.base_model) == (STEPS, dataset_id, "all-MiniLM-L6-v2")
        assert ckpt.finished_at is not None and ckpt.config["dataset"] == "e2e"
        merged = ckpt.merged_path
    assert Path(merged, "config.json").is_file() and Path(merged).is_absolute()
    assert [step for step, _, _ in curve] == list(range(1, STEPS + 1))
    assert all(math.isfinite(loss) and loss >= 0 for _, loss, _ in curve), curve
    assert curve[0][2] == pytest.approx(2e-4) and curve[-1][2] == pytest.approx(0.0)

    result = _eval_row(NAME, "champ:test")
    bench = load_benchmark("champ:test")
    assert set(result["per_query"]) == set(bench.qrels) and len(result["per_query"]) == 111
    for metric in ("ndcg_cut_10", "recall_10", "map", "mrr_10"):
        assert 0.0 <= result["metrics"][metric] <= 1.0
        mean = sum(m[metric] for m in result["per_query"].values()) / len(result["per_query"])
        assert result["metrics"][metric] == pytest.approx(mean, abs=1e-9)
    # the worker evaluated the trained weights (found by checkpoint name), not the base model
    assert result["config"]["model_fingerprint"] == load_encoder(merged, device="cpu").fingerprint
    assert result["config"]["model_fingerprint"] != load_encoder("all-MiniLM-L6-v2", device="cpu").fingerprint
    written = json.loads(Path(result["score_path"]).read_text())
    assert set(written) == set(bench.queries) and str(tmp_path / "eval") in result["score_path"]

    baseline = cli.invoke(eval_app, ["run", "bm25", "-b", "champ:test", "--local",
                                     "--out-dir", str(tmp_path / "eval")])
    assert baseline.exit_code == 0, baseline.output
    table = cli.invoke(eval_app, ["compare", "-b", "champ:test"], terminal_width=200)
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert any("champ:test" in line for line in lines)
    assert any("nDCG@10" in line and "R@10" in line for line in lines)
    ours = next(line for line in lines if NAME in line)
    ndcg, recall = (100 * result["metrics"][m] for m in ("ndcg_cut_10", "recall_10"))
    assert f"{ndcg:.1f} / {recall:.1f}" in ours
    assert any(line.strip("│ ").startswith("bm25") for line in lines)
