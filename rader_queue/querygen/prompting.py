"""Prompts of the query-generation and query-judge stages (``rader_queue/querygen/prompts``),
in the same file format and through the same loader as the MCTS prompts
(:mod:`rader_queue.prompt_files`). Reply parsing lives here too."""

from __future__ import annotations

import re

from rader_queue.errors import ConfigError
from rader_queue.mcts.parsers import labelled_query, parse_verdict
from rader_queue.mcts.prompting import NO_STEPS, clean_theorem_text
from rader_queue.prompt_files import ChatPrompt, load_prompt
from rader_queue.retrieval.bm25 import tokenize
from rader_queue.retrieval.corpus import Doc

PROMPTS = ("qllmq", "qlexical", "query_judge")
STOP = ["\nExample", "\nProblem:", "\nTheorem:"]


def template(name: str) -> ChatPrompt:
    if name not in PROMPTS:
        raise ConfigError(f"unknown querygen prompt {name!r}; known: {', '.join(PROMPTS)}")
    return load_prompt(f"querygen/prompts/{name}.txt")


def theorem_text(doc: Doc, max_chars: int) -> str:
    """The theorem as prompts show it: its name, then its statement (proof cut off)."""
    body = clean_theorem_text(doc.text, max_chars)
    return f"{doc.title}. {body}" if doc.title and body else (doc.title or body)


def llm_query_messages(question: str, steps: str, doc: Doc, max_chars: int) -> list[dict[str, str]]:
    return template("qllmq").messages(question=question.strip(), steps=steps.strip() or NO_STEPS,
                                      theorem=theorem_text(doc, max_chars))


def lexical_query_messages(doc: Doc, max_chars: int) -> list[dict[str, str]]:
    return template("qlexical").messages(theorem=theorem_text(doc, max_chars))


def judge_messages(query: str, doc: Doc, max_chars: int) -> list[dict[str, str]]:
    return template("query_judge").messages(query=query.strip(), theorem=theorem_text(doc, max_chars))


_QUOTES = "\"'“”‘’`*_ "


def clean_query(reply: str) -> str:
    """The query of a reply: the text after the last "Query:", its first non-empty line,
    without quotes or markdown, whitespace collapsed. A reply without a "Query:" label counts
    only when it is a single line (the bare query); otherwise it holds no query ("") — its
    first line is usually a precondition, never silently taken as the query."""
    raw = (reply or "").strip()
    text = labelled_query(raw)
    if text is None:
        lines = [line for line in raw.splitlines() if line.strip()]
        if len(lines) != 1 or re.match(r"^\W*(preconditions?|why|theorem|reason)\b", lines[0], re.I):
            return ""
        text = lines[0]
    for line in text.splitlines():
        line = re.sub(r"\s+", " ", line).strip().strip(_QUOTES).strip()
        if line:
            return line
    return ""


def lexical_overlap(query: str, theorem: str) -> float:
    """Share of the query's content words (two letters or more) that also occur in the theorem."""
    words = {t for t in tokenize(query) if len(t) > 1}
    if not words:
        return 0.0
    return len(words & set(tokenize(theorem))) / len(words)


def parse_judgement(reply: str) -> tuple[bool | None, str]:
    """(label, reason) of a query-judge reply; label None when unreadable."""
    return parse_verdict(reply)
