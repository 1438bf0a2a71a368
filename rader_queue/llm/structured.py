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

``rader-queue run`` turns ``llamacpp`` on for the embedded server it starts. The format is part
of the response-cache key whenever it is sent, so constrained and free replies never mix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

Dialect = Literal["off", "vllm", "vllm-guided", "llamacpp"]    # the setting's type, too
DIALECTS: tuple[str, ...] = get_args(Dialect)


@dataclass(frozen=True)
class ReplyFormat:
    """One reply format, written once per grammar language."""

    name: str
    regex: str          # for vLLM (whole reply)
    gbnf: str           # for llama.cpp

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
)
