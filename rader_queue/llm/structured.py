"""Constrained replies: a reply format the model server enforces while decoding.

A verdict ("Relevant: True|False" then a reason) is read by a parser; a strong model follows
the format from the prompt alone, a small one often does not (SmolLM2-135M, the embedded
model, answers with a paraphrase of the theorem). Servers that support structured outputs can
be told the format, and the label is then always readable. Each server names the feature
differently, so ``RADER_LLM_STRUCTURED_OUTPUTS`` says which dialect the endpoint speaks:

=========== ============================================== ============================
setting     request field                                  servers
=========== ============================================== ============================
off         (none: the prompt and the parser do the work)  any, Azure OpenAI
vllm        ``structured_outputs: {"regex": …}``           vLLM (current releases)
vllm-guided ``guided_regex: …``                            vLLM before 0.12
llamacpp    ``grammar: <GBNF>``                            llama.cpp / llama-cpp-python
=========== ============================================== ============================

``rader-queue run`` turns ``llamacpp`` (or ``vllm`` with ``--engine vllm``) on for the embedded
server it starts. The format is part of the response-cache key whenever it is sent, so
constrained and free replies never mix.

A server that does not speak the configured dialect usually accepts the unknown field and
ignores it (vLLM ≥ 0.12 answers ``guided_regex`` with HTTP 200 and free text). The generator
therefore checks the first constrained replies with a :class:`FormatGuard`; one reply that does
not match is proof enough, and :class:`~rader_queue.errors.StructuredOutputsIgnored` names
``RADER_LLM_STRUCTURED_OUTPUTS`` and the server's version instead of letting verdicts silently
become unreadable. ``rader-queue llm check`` tells which dialect an endpoint honours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, get_args

import httpx

from rader_queue.errors import StructuredOutputsIgnored
from rader_queue.endpoints import Dialect

DIALECTS: tuple[str, ...] = get_args(Dialect)


@dataclass(frozen=True)
class ReplyFormat:
    """One reply format, written once per grammar language."""

    name: str
    regex: str          # for vLLM (whole reply)
    gbnf: str           # for llama.cpp
    probe: str          # every honoured reply starts with a match, even one cut by max_tokens

    def honoured_by(self, text: str) -> bool:
        """Whether ``text`` can be a reply constrained to this format."""
        return re.match(self.probe, text) is not None

    def request_fields(self, dialect: str) -> dict[str, Any]:
        """The extra request body fields that ask ``dialect``'s server for this format."""
        if dialect == "vllm":
            return {"structured_outputs": {"regex": self.regex}}
        if dialect == "vllm-guided":
            return {"guided_regex": self.regex}
        if dialect == "llamacpp":
            return {"grammar": self.gbnf}
        if dialect == "off":
            return {}
        raise ValueError(f"unknown structured-outputs dialect {dialect!r} "
                         f"(one of {', '.join(DIALECTS)})")


# "Relevant: True" / "Relevant: False", a newline, "Reason: " and one line of text — what
# ``rader_queue.mcts.parsers.parse_verdict`` reads. The reason is bounded by max_tokens.
VERDICT = ReplyFormat(
    name="verdict",
    regex=r"Relevant: (True|False)\nReason: [^\n]+",
    gbnf='root ::= "Relevant: " ("True" | "False") "\\nReason: " [^\\n]+\n',
    probe=r"Relevant: (True|False)(\n|$)",
)


class FormatGuard:
    """Checks the replies of the first ``calls`` constrained requests to one endpoint; raises
    StructuredOutputsIgnored at the first reply that does not match its format. A server that
    honours a dialect never returns such a reply, so one is enough to tell."""

    def __init__(self, base_url: str, dialect: str, calls: int = 3) -> None:
        self.base_url, self.dialect, self.remaining = base_url, dialect, calls

    async def check(self, fmt: ReplyFormat, texts: list[str]) -> None:
        if self.remaining <= 0:
            return
        bad = next((text for text in texts if not fmt.honoured_by(text)), None)
        if bad is None:
            self.remaining -= 1
            return
        version = await server_version(self.base_url)
        raise StructuredOutputsIgnored(
            f"RADER_LLM_STRUCTURED_OUTPUTS={self.dialect}: the model server at {self.base_url} "
            f"({version}) ignored the constraint; a {fmt.name} reply came back as {bad[:80]!r}. "
            f"Set RADER_LLM_STRUCTURED_OUTPUTS to the dialect this server honours "
            f"(`rader-queue llm check` probes it), or to off")


async def server_version(base_url: str) -> str:
    """"vLLM <version>" from the server's ``/version``, else "version unknown"."""
    root = base_url.rstrip("/").removesuffix("/v1")
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            reply = await client.get(root + "/version")
        version = reply.json().get("version") if reply.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        version = None
    return f"vLLM {version}" if isinstance(version, str) else "version unknown"
