"""The generator endpoint a command needs: refuse to start a worker whose queues call the model
when none is configured or reachable (rather than failing every job it takes), and start the
embedded model for a local command when none is configured (as ``rader-queue run`` does)."""

from __future__ import annotations

import os
from contextlib import ExitStack

from rader_queue.errors import ConfigError

from rader_queue.queue.stages import generator_queues

GENERATOR_QUEUES = generator_queues()       # queues of the stages that call the generator
HOW = ("start one with `rader-queue llm serve-embedded` (prints the variables to export) or a "
       "vLLM server, then set RADER_LLM_BASE_URL and RADER_LLM_MODEL")


def require_generator(queues: list[str], timeout_s: float = 5.0) -> None:
    """ConfigError unless the configured generator answers (any HTTP reply counts)."""
    import httpx

    from rader_queue.secrets import redact_url
    from rader_queue.settings import get_settings

    needing = [q for q in queues if q in GENERATOR_QUEUES]
    if not needing or not get_settings().worker_require_generator:
        return
    url = get_settings().llm_base_url
    if not url:
        raise ConfigError(f"queues {', '.join(needing)} need a generator endpoint and "
                          f"RADER_LLM_BASE_URL is not set: {HOW}")
    try:
        httpx.get(url.rstrip("/") + "/models", timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise ConfigError(f"the generator at RADER_LLM_BASE_URL={redact_url(url)} is not "
                          f"reachable ({type(exc).__name__}): {HOW}") from exc


def embedded_generator_if_unset(stack: ExitStack, n_threads: int | None = None) -> bool:
    """Start the embedded model server for this process when no endpoint is configured;
    True when it did."""
    from rader_queue.settings import get_settings

    if get_settings().llm_base_url:
        return False
    from rader_queue.embedded import start_model_server

    start_model_server(stack, n_threads)
    return bool(os.environ.get("RADER_LLM_BASE_URL"))
