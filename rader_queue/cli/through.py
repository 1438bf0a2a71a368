"""``rader-queue run … --through dataset|train|eval``: carry a finished embedded MCTS run on
through the rest of the pipeline in the same process, through the same Celery tasks.

* dataset: the query-generation jobs (``querygen`` queue) on the in-process worker, then the
  dataset assembly (reward filter as configured: solved trajectories only unless --all-rewards).
* train: a short CPU training of the embedded retriever (MiniLM, LoRA): a ``train`` job of the
  run, run in this process through its task.
* eval: ``eval`` jobs of the run on CHAMP for the base model and the new checkpoint, and the
  comparison table.
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from pathlib import Path

from rich.text import Text
from sqlalchemy import distinct, func, select

from rader_queue.cli.common import console
from rader_queue.cli.dataset_view import empty_reason, print_counts
from rader_queue.cli.outcome import EXIT_JOBS_FAILED, EXIT_OK
from rader_queue.cli.progress import RunProgress
from rader_queue.evaluation.compare import collect, render
from rader_queue.evaluation.runner import EvalConfig
from rader_queue.querygen import QuerygenOptions, enqueue_querygen
from rader_queue.settings import get_settings
from rader_queue.store import session_scope
from rader_queue.store.models import JobState, Problem, Run, Solution
from rader_queue.train.config import TrainConfig, encoding_defaults
from rader_queue.training_data import BuildOptions, build_dataset

BASE_MODEL = "all-MiniLM-L6-v2"
# A short CPU run: a few optimizer steps on small groups (enough to show the loop end to end).
SHORT_TRAIN = {"base_model": BASE_MODEL, "max_steps": 8, "per_device_batch_size": 4,
               "train_group_size": 2, "query_max_len": 128, "passage_max_len": 128,
               "bf16": False, "dataloader_workers": 0}


def carry_on(run_name: str, through: str, *, all_rewards: bool = False,
             stack: ExitStack | None = None, timeout: float = 3600.0) -> int:
    """Returns the exit code (non-zero when a stage failed or left nothing for the next)."""
    min_reward = None if all_rewards else 1.0
    console.print(Text("── query generation", style="bold"))
    enqueue_querygen(run_name, QuerygenOptions(min_reward=min_reward))
    outcome = RunProgress(run_name).wait(timeout)
    if outcome.exit_code:
        return outcome.exit_code
    rows, problems, solved = _build(run_name, min_reward)
    if rows == 0:
        console.print(Text(empty_reason(problems, solved, all_rewards), style="yellow"))
        return EXIT_OK if through == "dataset" else EXIT_JOBS_FAILED
    if through == "dataset":
        _next(run_name)
        return EXIT_OK
    checkpoint = _train(run_name, rows)
    if through == "train":
        _next(run_name, checkpoint)
        return EXIT_OK
    _eval(run_name, checkpoint)
    _next(run_name, checkpoint)
    return EXIT_OK


def _build(run_name: str, min_reward: float | None) -> tuple[int, int, int]:
    """Assemble the dataset; returns (rows, problems, solved problems)."""
    console.print(Text("── dataset", style="bold"))
    report = build_dataset(run_name, _safe(run_name), BuildOptions(min_reward=min_reward))
    print_counts(report)
    with session_scope() as session:
        run_id = session.scalar(select(Run.id).where(Run.name == run_name))
        in_run = select(Problem.id).where(Problem.run_id == run_id)
        problems = session.scalar(select(func.count()).select_from(Problem)
                                  .where(Problem.run_id == run_id))
        solved = session.scalar(select(func.count(distinct(Solution.problem_id))).where(
            Solution.problem_id.in_(in_run), Solution.reward >= 1.0))
    global _last_jsonl
    _last_jsonl = str(report.jsonl_path)
    return report.counts.get("all", 0), problems, solved


_last_jsonl = ""


def short_train_config(rows: int) -> dict:
    """SHORT_TRAIN with its batch cut to the dataset: a small run's dataset (rows are one per
    query, all its positives merged) can hold fewer rows than one batch of 4."""
    return dict(SHORT_TRAIN) | {"per_device_batch_size": max(1, min(SHORT_TRAIN["per_device_batch_size"], rows))}


def run_job_here(run_name: str, stage: str, name: str, payload: dict) -> dict:
    """One job of ``stage`` in the run, recorded in SQL and run in this process through its
    task (as a worker would); its result, or TaskFailed with the job's reason."""
    from rader_queue.errors import TaskFailed
    from rader_queue.queue.app import app
    from rader_queue.queue.model_jobs import enqueue_model_jobs, job_outcome
    from rader_queue.queue.stage_tasks import run_in_process

    job_id = enqueue_model_jobs(stage, [(name, payload)], run=run_name, publish=False).job_ids[0]
    run_in_process(app, stage, [job_id])
    state, result, error = job_outcome(job_id)
    if state != JobState.DONE:
        raise TaskFailed(f"{stage} job {job_id} {state}: {error}")
    return result or {}


def _train(run_name: str, rows: int) -> str:

    console.print(Text("── training (CPU, short)", style="bold"))
    name = f"{_safe(run_name)}-minilm"
    cfg = TrainConfig.model_validate({**encoding_defaults(get_settings()),
                                      **short_train_config(rows)}).model_dump()
    out = str(Path("outputs") / "checkpoints" / name)
    result = run_job_here(run_name, "train", name, {"dataset": _last_jsonl, "output_dir": out,
                                                    "name": name, "config": cfg})
    console.print(Text(f"checkpoint {name}: {result.get('steps')} steps"
                       + (f", loss {result['first_loss']:.4f} → {result['final_loss']:.4f}"
                          if "final_loss" in result else "")))
    return name


def _eval(run_name: str, checkpoint: str) -> None:
    console.print(Text("── evaluation on CHAMP (base model vs the new checkpoint)", style="bold"))
    for model in (BASE_MODEL, checkpoint):
        config = EvalConfig(model=model, benchmark="champ").model_dump(mode="json")
        run_job_here(run_name, "eval", f"{model}@champ", {"config": config})
    console.print(render(collect(models=[BASE_MODEL, checkpoint], benchmarks=None)))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "run"


def _next(run_name: str, checkpoint: str | None = None) -> None:
    line = f"next: rader-queue dataset list   ·   rader-queue report {run_name}"
    if checkpoint:
        line += "   ·   rader-queue eval compare"
    console.print(Text(line), soft_wrap=True)
