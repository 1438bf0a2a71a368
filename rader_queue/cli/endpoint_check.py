"""The generator endpoint a command needs: refuse to start a worker whose queues call the model
when none is configured or reachable (rather than failing every job it takes), and start the
embedded model for a local command when none is configured (as ``rader-queue run`` does)."""

from __future__ import annotations

from contextlib import ExitStack

import httpx

from rader_queue.cli.embedded import start_model_server
from rader_queue.errors import ConfigError
from rader_queue.secrets import redact_url
from rader_queue.settings import get_settings

from rader_queue.queue.stages import generator_queues

GENERATOR_QUEUES = generator_queues()       # queues of the stages that call the generator
HOW = ("start one with `rader-queue llm serve-embedded` (prints the variables to export) or a "
       "vLLM server, then set RADER_LLM_BASE_URL and RADER_LLM_MODEL")


# the model stages (RADER_STAGE_ENDPOINTS) whose endpoints a worker of each queue calls
QUEUE_STAGES = {"mcts": ("mcts",), "judge": ("judge",), "querygen": ("querygen",)}


def require_generator(queues: list[str], timeout_s: float = 5.0) -> None:
    """ConfigError unless the endpoint of every model stage of ``queues`` answers (any HTTP
    reply counts)."""
    settings = get_settings()
    needing = [q for q in queues if q in GENERATOR_QUEUES]
    if not needing or not settings.worker_require_generator:
        return
    endpoints = {}
    for queue in needing:
        for stage in QUEUE_STAGES[queue]:
            endpoint = settings.endpoint_for(stage)
            endpoints.setdefault(endpoint.name, (endpoint, stage))
    for endpoint, stage in endpoints.values():
        where = ("RADER_LLM_BASE_URL" if endpoint.name == "default"
                 else f"endpoint {endpoint.name!r} of RADER_ENDPOINTS")
        url = endpoint.base_url
        if not url:
            raise ConfigError(f"queues {', '.join(needing)} need a generator endpoint and "
                              f"RADER_LLM_BASE_URL is not set: {HOW}")
        try:
            httpx.get(url.rstrip("/") + "/models", timeout=timeout_s)
        except httpx.HTTPError as exc:
            raise ConfigError(f"the generator of stage {stage} at {where} ({redact_url(url)}) "
                              f"is not reachable ({type(exc).__name__}): {HOW}") from exc


def embedded_generator_if_unset(stack: ExitStack, n_threads: int | None = None) -> bool:
    """Start the embedded model server for this process when no endpoint is configured;
    True when it did."""
    if get_settings().llm_base_url:
        return False

    return bool(start_model_server(stack, n_threads).llm_base_url)
