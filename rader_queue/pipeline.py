"""What the CLI's enqueue/retry commands do, as functions (the CLI only parses options)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from sqlalchemy import select

from rader_queue.cli.display import clean

from rader_queue.datasets import KNOWN_DATASETS, load_problems
from rader_queue.errors import ConfigError, InputError
from rader_queue.queue.enqueue import EnqueueReport, enqueue, publish_pending
from rader_queue.queue.run_names import default_run_name, validate_run_name
from rader_queue.queue.status import find_run
from rader_queue.store import session_scope
from rader_queue.store.db import require_schema
from rader_queue.store.models import Job, JobState

RETRIEVERS = ("dense", "bm25", "hybrid")


def default_corpus(dataset: str) -> str:
    """CHAMP brings its own concepts (the ``champ-dataset`` package); everything else searches
    the TheoremQA theorems."""
    return "champ" if dataset.upper() == "CHAMP" else "theoremqa"


def build_run_config(*, retriever: str = "dense", corpus: str = "theoremqa",
                     hybrid_alpha: float | None = None, **mcts: Any) -> dict[str, Any]:
    """The run's config as stored in SQL: the MCTS parameters, the retriever, the model names.
    Contradictory or invalid options fail here, before anything is written."""
    from rader_queue.settings import get_settings

    if retriever not in RETRIEVERS:
        raise ConfigError(f"--retriever must be one of {', '.join(RETRIEVERS)}, not {retriever!r}")
    if hybrid_alpha is not None and retriever != "hybrid":
        raise ConfigError(f"--hybrid-alpha only applies to --retriever hybrid (got --retriever {retriever})")
    _check_corpus(corpus)
    mcts_config = _mcts_config(mcts)
    settings = get_settings()
    return {"mcts": mcts_config, "retriever": retriever, "corpus": corpus,
            "hybrid_alpha": 0.5 if hybrid_alpha is None else hybrid_alpha, "llm_model": settings.llm_model,
            "embedder_model": settings.embedder_model}


def _check_corpus(corpus: str) -> None:
    """A registered corpus name or an existing JSONL file (else every job would fail later)."""
    from pathlib import Path

    from rader_queue.retrieval.corpus import KNOWN_CORPORA

    if corpus.lower() == "theoremqa":
        from rader_queue.settings import get_settings

        path = Path(get_settings().data_dir) / "TheoremQA" / "all_theorems.json"
        if not path.is_file():
            raise ConfigError(f"--corpus theoremqa needs {path} (set RADER_DATA_DIR to the folder "
                              "that holds TheoremQA/all_theorems.json), or use --corpus champ "
                              "(ships with the champ-dataset package) or a JSONL file")
        return
    if corpus.lower() in KNOWN_CORPORA or Path(corpus).is_file():
        return
    raise ConfigError(f"--corpus {corpus!r}: not a known corpus ({', '.join(KNOWN_CORPORA)}) "
                      "nor an existing .jsonl file")


def _mcts_config(values: dict[str, Any]) -> dict[str, Any]:
    try:
        from rader_queue.mcts import MCTSConfig
    except ImportError:  # the MCTS package validates its own options once present
        return dict(values)
    base = MCTSConfig().to_dict()
    unknown = set(values) - set(base)
    if unknown:
        raise ConfigError(f"unknown MCTS option(s): {', '.join(sorted(unknown))}")
    base.update(values)
    return MCTSConfig.from_dict(base).to_dict()


def parse_fields(fields: Sequence[str]) -> dict[str, str]:
    mapping = {}
    for item in fields:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise InputError(f"--field {item!r}: expected NAME=COLUMN, e.g. problem=question")
        if key not in ("id", "problem", "answer", "solution"):
            raise InputError(f"--field {item!r}: NAME must be id, problem, answer or solution")
        mapping[key] = value
    return mapping


@dataclass
class Loaded:
    """Problems read and validated, not yet written."""

    dataset: str          # the stored name: MATH, CHAMP, … or the path given
    split: str
    problems: list

    def run_name(self, name: str | None = None) -> str:
        """``name`` checked (documented characters, <= 200), or one made from the dataset."""
        if name is not None:
            return validate_run_name(name)
        return default_run_name(self.dataset.rsplit('/', 1)[-1], self.split)


def load_checked(dataset: str, *, split: str, limit: int | None, fields: Sequence[str] = (),
                 skip_invalid: bool | None = None,
                 echo: Callable[[str], Any] = print) -> Loaded:
    """Read and validate the problems (nothing written); skipped records are reported."""
    builtin = dataset.upper() in KNOWN_DATASETS
    if skip_invalid is None:
        skip_invalid = builtin
    mapping = parse_fields(fields)
    if mapping and builtin:
        raise ConfigError("--field applies to JSONL files, not to built-in datasets")
    result = load_problems(dataset, split=split, limit=limit, mapping=mapping,
                           skip_invalid=skip_invalid)
    for skipped in result.skipped[:5]:      # dataset text: a Text, never parsed as markup
        echo(Text.assemble(("skipped", "yellow"), " ", clean(skipped, one_line=True)))
    if len(result.skipped) > 5:
        echo(f"[yellow]skipped {len(result.skipped) - 5} more invalid record(s)[/]")
    return Loaded(dataset.upper() if builtin else dataset, split, result.problems)


def enqueue_loaded(loaded: Loaded, *, run_name: str | None, config: dict[str, Any],
                   stage: str = "mcts", send: Callable[[int], str] | None = None) -> EnqueueReport:
    require_schema()
    return enqueue(loaded.run_name(run_name), loaded.dataset, loaded.split, loaded.problems,
                   config, stage=stage, send=send)


def enqueue_dataset(dataset: str, *, split: str, limit: int | None, run_name: str | None,
                    config: dict[str, Any], fields: Sequence[str] = (),
                    skip_invalid: bool | None = None, stage: str = "mcts",
                    echo: Callable[[str], Any] = print,
                    send: Callable[[int], str] | None = None) -> EnqueueReport:
    """Validate everything, then write and publish. Nothing is enqueued if any input is bad."""
    if run_name is not None:
        validate_run_name(run_name)       # before anything is read or written
    loaded = load_checked(dataset, split=split, limit=limit, fields=fields,
                          skip_invalid=skip_invalid, echo=echo)
    return enqueue_loaded(loaded, run_name=run_name, config=config, stage=stage, send=send)


def enqueue_rejudge(run_name: str, *, model: str, base_url: str | None = None) -> dict[str, int]:
    """One ``judge`` job per finished problem of the run: re-judge its stored retrievals with
    ``model`` (optionally at another endpoint). Idempotent per (run, problem, model)."""
    from rader_queue.queue import keys
    from rader_queue.store import insert_ignore
    from rader_queue.store.models import Problem

    with session_scope() as session:
        run = find_run(session, run_name)
        problems = session.execute(select(Problem.id, Problem.source_id).where(
            Problem.run_id == run.id, Problem.finished_at.is_not(None))).all()
        if not problems:
            raise InputError(f"run {run_name!r} has no finished problems to re-judge yet")
        new = insert_ignore(session, Job, [
            {"run_id": run.id, "problem_id": pid, "stage": "judge", "state": JobState.QUEUED,
             "idempotency_key": keys.job_key("judge", run.id, source_id, model),
             "payload": {"model": model, "base_url": base_url}} for pid, source_id in problems],
            ["idempotency_key"])
        run_id = run.id
    return {"jobs_new": new, "published": publish_pending(run_id, "judge")}
