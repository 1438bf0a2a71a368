"""The worker context: what every task body of one worker process shares, built once from one
:class:`~rader_queue.settings.Settings` and handed to the task bodies (``JobContext.worker``).

    worker = WorkerContext(settings)
    gen = worker.generator("mcts")          # the endpoint RADER_STAGE_ENDPOINTS gives the stage
    judge = worker.generator("judge")       # another endpoint (or the same client, when shared)
    theorems = worker.retriever("theoremqa", "dense")
    with worker.session() as session: ...
    worker.close()                          # HTTP clients closed at worker shutdown

* One :class:`~rader_queue.llm.generator.Generator` per (endpoint, model): stages mapped to the
  same endpoint share its HTTP client and in-flight bound, as one server's batch should.
* One embedder (the ``embed`` stage's endpoint, else ``RADER_EMBEDDER_*``) and one retriever
  per (corpus, kind, alpha), built on first use.
* The process's context is installed by whoever starts the worker (the embedded mode, with the
  settings it built); a worker started by Celery's own command line builds it on its first job
  from the environment (:func:`current`) and closes it at ``worker_shutdown``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

from rader_queue.settings import Settings

log = logging.getLogger(__name__)


class WorkerContext:
    """Generators, embedder, retrievers and store sessions of one worker process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.RLock()
        self._generators: dict[tuple[str, str | None, str | None], Any] = {}
        self._retrievers: dict[tuple[str, str, float], Any] = {}
        self._embedder: Any = None
        self._other_embedders: dict[str, Any] = {}
        self._corpora: dict[str, Any] = {}
        self.closed = False

    def __repr__(self) -> str:
        return f"WorkerContext(generators={sorted(self._generators)!r})"

    def generator(self, stage: str, *, model: str | None = None,
                  base_url: str | None = None) -> Any:
        """The shared generator of ``stage``'s endpoint (``model``/``base_url`` override it: a
        re-judge job that names another model)."""
        from rader_queue.llm.generator import Generator

        endpoint = self.settings.endpoint_for(stage)
        key = (endpoint.name, base_url or None, model or None)
        with self._lock:
            self._check_open()
            if key not in self._generators:
                self._generators[key] = Generator(self.settings, endpoint=endpoint,
                                                  base_url=base_url, model=model)
            return self._generators[key]

    def embedder(self, model: str | None = None) -> Any:
        """The ``embed`` stage's embedder (``model``: another model at the same place)."""
        with self._lock:
            self._check_open()
            if model:
                if model not in self._other_embedders:
                    from rader_queue.llm.embedder import embedder_from_settings

                    self._other_embedders[model] = embedder_from_settings(self.settings,
                                                                          model=model)
                return self._other_embedders[model]
            if self._embedder is None:
                from rader_queue.llm.embedder import embedder_from_settings

                self._embedder = embedder_from_settings(self.settings)
            return self._embedder

    def corpus(self, name: str) -> Any:
        """A theorem corpus by name or path, loaded once."""
        with self._lock:
            self._check_open()
            if name not in self._corpora:
                from rader_queue.retrieval import load_corpus

                self._corpora[name] = load_corpus(name, settings=self.settings)
            return self._corpora[name]

    def retriever(self, corpus: str, kind: str, alpha: float = 0.5) -> Any:
        key = (corpus, kind, alpha)
        with self._lock:
            self._check_open()
            if key not in self._retrievers:
                from rader_queue.retrieval import make_retriever

                embedder = None if kind == "bm25" else self.embedder()
                self._retrievers[key] = make_retriever(kind, self.corpus(corpus), embedder,
                                                       settings=self.settings, alpha=alpha)
            return self._retrievers[key]

    @contextlib.contextmanager
    def session(self) -> Iterator[Any]:
        """A transaction on this worker's store (see :func:`rader_queue.store.session_scope`)."""
        from rader_queue.store import session_scope

        with session_scope(self.settings.db_url) as session:
            yield session

    def close(self) -> None:
        """Close every HTTP client this context opened; later use raises ConfigError."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            clients = [*self._generators.values(), self._embedder,
                       *self._other_embedders.values()]
            self._generators.clear()
            self._retrievers.clear()
            self._corpora.clear()
            self._other_embedders.clear()
            self._embedder = None
        for client in clients:
            close = getattr(client, "close", None)
            if close is None:
                continue
            try:
                close()
            except Exception as exc:  # noqa: BLE001 - shutting down: log, close the others
                log.warning("closing %r failed: %s", client, exc)

    def _check_open(self) -> None:
        if self.closed:
            from rader_queue.errors import ConfigError

            raise ConfigError("this worker context is closed (the worker is shutting down)")


_current: WorkerContext | None = None
_current_lock = threading.Lock()


def install(context: WorkerContext | None) -> WorkerContext | None:
    """Make ``context`` this process's worker context; returns the previous one (not closed)."""
    global _current
    with _current_lock:
        previous, _current = _current, context
    return previous


def current() -> WorkerContext:
    """This process's worker context; a worker started without one (Celery's command line)
    builds it here, at its edge, from the environment."""
    global _current
    with _current_lock:
        if _current is None or _current.closed:
            from rader_queue.settings import get_settings

            _current = WorkerContext(get_settings())
        return _current


def shutdown() -> None:
    """Close and forget this process's worker context (Celery's ``worker_shutdown``)."""
    context = install(None)
    if context is not None:
        context.close()


def _forget_after_fork(**_: Any) -> None:
    # a prefork child inherits the parent's context object: its clients belong to the parent
    install(None)


def connect_signals() -> None:
    from celery import signals

    signals.worker_process_init.connect(_forget_after_fork, weak=False,
                                        dispatch_uid="rader-context-fork")
    signals.worker_shutdown.connect(lambda **_: shutdown(), weak=False,
                                    dispatch_uid="rader-context-shutdown")
