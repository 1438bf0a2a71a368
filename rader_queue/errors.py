"""Every error rader-queue raises on purpose, in one place.

    RaderError                      base: catch this to catch everything below
    ├── ConfigError                 settings or CLI options that cannot work together
    ├── InputError                  bad user input; carries the source (file, line, field)
    │   ├── InvalidRecord           one unusable dataset record (the file itself is fine)
    │   ├── UnknownDatasetError     a dataset name no loader knows
    │   └── UnknownQueueError       a queue name the Celery app does not route
    ├── StoreError                  the SQL store refused or is unreachable
    │   └── SchemaError             the database's schema is not the one this code was written for
    ├── BrokerError                 the broker (Redis) refused or is unreachable
    ├── SlurmError                  a Slurm command failed or is not installed
    ├── ModelError                  a model endpoint could not produce an answer
    │   ├── ModelServerExited       the model server this process started died mid-run
    │   └── GenerationFailed        the generator gave up after its bounded retries
    └── TaskFailed                  a task that cannot succeed; its reason lands in jobs.last_error
        └── PayloadError            a job whose payload (or stage) does not fit its stage's model

Messages are written for the user who runs the CLI: they say what was wrong and where.
"""

from __future__ import annotations

__all__ = ["AlreadyDone", "BrokerError", "ConfigError", "GenerationFailed", "InputError",
           "InvalidRecord", "JobTimedOut", "LeaseHeld", "ModelError", "ModelServerExited",
           "PayloadError", "RaderError", "SchemaError", "Skip", "SlurmError", "StoreError",
           "StructuredOutputsIgnored", "TaskFailed", "UnknownDatasetError", "UnknownQueueError"]


class RaderError(Exception):
    """Base class of every deliberate rader-queue error."""


class ConfigError(RaderError):
    """Settings or options that are missing, malformed or contradictory."""


class StructuredOutputsIgnored(ConfigError):
    """The model server ignores the configured structured-outputs dialect (issue 16): its
    replies do not match the requested format."""


class InputError(RaderError):
    """Bad input. ``source`` names the file (and ``line``/``field`` where known)."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.source, self.line, self.field = source, line, field
        where = ""
        if source:
            where = source + (f":{line}" if line is not None else "")
        if field:
            where = f"{where} field {field!r}" if where else f"field {field!r}"
        super().__init__(f"{where}: {message}" if where else message)


class InvalidRecord(InputError):
    """One record is unusable (no gold answer, empty or over-long text); the file is fine."""


class UnknownDatasetError(InputError):
    """A dataset name that no registered loader knows."""


class UnknownQueueError(InputError):
    """A queue name that the Celery app does not route."""


class StoreError(RaderError):
    """The SQL store refused a write or could not be reached."""


class SchemaError(StoreError):
    """The database is at another Alembic revision than this code's head, or lacks a column the
    code uses: a worker or enqueue refuses to start (exit status 6)."""


class BrokerError(RaderError):
    """The broker could not be reached or refused a publish (messages not yet published stay
    recorded in SQL and are published by the next enqueue or ``rader-queue retry``)."""


class SlurmError(RaderError):
    """A Slurm command failed or is not installed."""


class ModelError(RaderError):
    """A model endpoint (generator or embedder) failed."""


class ModelServerExited(ModelError):
    """The model server this process started (the embedded llama.cpp or vLLM server) exited
    while a run still needed it; the message says how (signal, exit code) and ends with its
    log. The run's unfinished jobs stay in SQL: the same command resumes them."""


class GenerationFailed(ModelError):
    """The generator gave up after its bounded retries; ``attempts`` and ``last_error`` say why."""

    def __init__(self, message: str, *, attempts: int = 0, last_error: str | None = None) -> None:
        self.attempts, self.last_error = attempts, last_error
        super().__init__(f"{message} (after {attempts} attempt(s); last error: {last_error})")


class TaskFailed(RaderError):
    """A task that cannot succeed; the job is marked failed with this message as its reason."""


class PayloadError(TaskFailed):
    """A job whose payload does not fit its stage's payload model (or whose stage is unknown):
    it can never run, so it fails at once with the fields that were wrong."""


class JobTimedOut(TaskFailed):
    """A job's coroutine ran past ``RADER_JOB_TIMEOUT_S`` (enforced on the worker's event loop,
    :mod:`rader_queue.queue.runtime`): the job fails with "timed out"."""


# Job control: how a delivery of a task learns that its job is not (or no longer) its to run
# (:mod:`rader_queue.queue.jobs`). The job runner maps each to its outcome; none is a failure.

class AlreadyDone(RaderError):
    """The job was finished by another delivery of the same task; discard this copy's work."""


class LeaseHeld(RaderError):
    """Another copy of the task is running the job and holds a live lease; try again later."""

    def __init__(self, job_id: int, holder: str | None, remaining_s: float) -> None:
        super().__init__(f"job {job_id} is running on {holder} (lease ends in {remaining_s:.0f}s)")
        self.remaining_s = remaining_s


class Skip(RaderError):
    """This delivery has nothing to do: the job is done, cancelled or gone."""
