"""Enqueue against the real PostgreSQL and Redis: idempotent, all-or-nothing."""

import pytest
from sqlalchemy import func, select

from rader_queue.errors import ConfigError, InputError, UnknownDatasetError
from rader_queue.pipeline import build_run_config, enqueue_dataset
from rader_queue.store import session_scope
from rader_queue.store.models import Job, Problem, Run


def _count(model, **where):
    with session_scope() as s:
        stmt = select(func.count()).select_from(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return s.scalar(stmt)


def test_enqueue_is_idempotent(rader_env, redis_client, queue_prefix):
    config = build_run_config(rollouts=2)
    first = enqueue_dataset("MATH", split="test", limit=7, run_name="idem", config=config, echo=lambda m: None)
    assert (first.problems_new, first.jobs_new, first.published) == (7, 7, 7)
    assert redis_client.llen(f"{queue_prefix}mcts") == 7
    again = enqueue_dataset("MATH", split="test", limit=7, run_name="idem", config=config, echo=lambda m: None)
    assert (again.problems_new, again.jobs_new, again.published) == (0, 0, 0)
    assert redis_client.llen(f"{queue_prefix}mcts") == 7
    more = enqueue_dataset("MATH", split="test", limit=9, run_name="idem", config=config, echo=lambda m: None)
    assert (more.problems_new, more.jobs_new, more.published) == (2, 2, 2)
    run_id = more.run_id
    assert _count(Problem, run_id=run_id) == 9 and _count(Job, run_id=run_id) == 9


def test_run_with_other_config_is_refused(rader_env):
    enqueue_dataset("CHAMP", split="test", limit=1, run_name="cfg", config=build_run_config(rollouts=2),
                    echo=lambda m: None, send=lambda job_id: f"t{job_id}")
    with pytest.raises(ConfigError, match="different config.*mcts"):
        enqueue_dataset("CHAMP", split="test", limit=1, run_name="cfg", config=build_run_config(rollouts=3),
                        echo=lambda m: None, send=lambda job_id: f"t{job_id}")


def test_crash_during_publishing_is_repaired_by_the_next_enqueue(rader_env):
    sent: list[int] = []

    def flaky(job_id: int) -> str:
        if len(sent) == 2:
            raise ConnectionError("broker went away")
        sent.append(job_id)
        return f"t{job_id}"

    config = build_run_config(rollouts=2)
    with pytest.raises(ConnectionError):
        enqueue_dataset("CHAMP", split="test", limit=4, run_name="crash", config=config,
                        echo=lambda m: None, send=flaky)
    report = enqueue_dataset("CHAMP", split="test", limit=4, run_name="crash", config=config,
                             echo=lambda m: None, send=lambda job_id: sent.append(job_id) or f"t{job_id}")
    assert report.published == 2
    assert len(sent) == len(set(sent)) == 4


@pytest.mark.parametrize("dataset, error", [("NOPE", UnknownDatasetError), ("/no/such.jsonl", InputError)])
def test_bad_dataset_enqueues_nothing(rader_env, dataset, error):
    before = _count(Run)
    with pytest.raises(error):
        enqueue_dataset(dataset, split="test", limit=2, run_name="bad", config=build_run_config(),
                        echo=lambda m: None)
    assert _count(Run) == before


def test_malformed_line_enqueues_nothing(rader_env, tmp_path, redis_client, queue_prefix):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "1", "problem": "1+1", "answer": "2"}\n{"id": "2", "problem": \n')
    with pytest.raises(InputError, match="p.jsonl:2"):
        enqueue_dataset(str(path), split="test", limit=None, run_name="mal", config=build_run_config(),
                        echo=lambda m: None)
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Run).where(Run.name == "mal")) == 0
    assert redis_client.llen(f"{queue_prefix}mcts") == 0


def test_contradictory_options():
    with pytest.raises(ConfigError, match="hybrid-alpha"):
        build_run_config(retriever="dense", hybrid_alpha=0.3)
    with pytest.raises(ConfigError, match="retriever"):
        build_run_config(retriever="splade")
