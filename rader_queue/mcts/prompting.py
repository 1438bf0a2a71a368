"""Chat prompts of the MCTS actions, built from the text files in ``rader_queue/mcts/prompts``
(format and rendering: :mod:`rader_queue.prompt_files`; question and step text is inserted
literally, never read as template syntax).
"""

from __future__ import annotations

import re

from rader_queue.errors import ConfigError
from rader_queue.mcts.nodes import NodeType, PathContext
from rader_queue.mcts.parsers import clean_step
from rader_queue.prompt_files import ChatPrompt, load_prompt

PROMPT_NAMES = ("ost", "crs", "query_generation", "theorem_summary", "self_reflection", "answer_equivalence")
NO_STEPS = "(none)"

# Stop sequences: the few-shot examples start with "Example" and "Problem:" lines. OST stops at
# the first newline, as the original (``["\n", "\n\n"]``): one reasoning step per expansion.
STOP_OST = ["\n"]
STOP_CRS = ["\nProblem:", "\nExample"]
STOP_QG = ["\nProblem:", "\nExample"]
STOP_SUMMARY = ["\n\n", "\nTheorem:", "\nExample"]
STOP_REFLECTION = ["\nProblem:", "\nExample"]
STOP_EQUIV = ["\n", "Problem:"]

def load_template(name: str) -> ChatPrompt:
    """The packaged prompt ``name`` (one of ``PROMPT_NAMES``)."""
    if name not in PROMPT_NAMES:
        raise ConfigError(f"unknown prompt {name!r}; known: {', '.join(PROMPT_NAMES)}")
    return load_prompt(f"mcts/prompts/{name}.txt")


def render_steps(ctx: PathContext) -> str:
    """The partial solution of ``ctx`` as numbered lines; theorems as "Useful theorem: ..."."""
    lines: list[str] = []
    step_no = 0
    for kind, text in ctx.steps:
        text = text.strip()
        if not text or kind in (NodeType.QUERY_GENERATION, NodeType.REPHRASED_QUESTION):
            continue                                   # queries are not part of the solution
        if kind is NodeType.RETRIEVAL:
            lines.append(f"Useful theorem: {text}")
        elif kind in (NodeType.SUBQUESTION, NodeType.RE_SUBANSWER):
            question, _, answer = text.partition("\n")
            lines.append(f"Sub-question: {question}" + (f"\nAnswer: {answer}" if answer else ""))
        else:
            step_no += 1
            lines.append(f"Step {step_no}: {clean_step(text)}")
    return "\n".join(lines) if lines else NO_STEPS


def clean_theorem_text(text: str, max_chars: int) -> str:
    """The statement part of a theorem (before ``\\begin{proof}``), whitespace collapsed,
    cut to at most ``max_chars`` characters (on a word boundary where possible)."""
    head = re.split(r"\\begin\s*\{proof\}", text or "", maxsplit=1)[0]
    head = re.sub(r"\s+", " ", head).strip()
    if len(head) <= max_chars:
        return head
    cut = head[:max_chars]
    space = cut.rfind(" ")
    return (cut[:space] if space > max_chars // 2 else cut).rstrip() + " ..."


def _base(ctx: PathContext) -> dict[str, str]:
    return {"question": ctx.effective_question.strip(), "steps": render_steps(ctx)}


def ost_messages(ctx: PathContext) -> list[dict[str, str]]:
    return load_template("ost").messages(**_base(ctx))


def crs_messages(ctx: PathContext) -> list[dict[str, str]]:
    return load_template("crs").messages(**_base(ctx))


def query_generation_messages(ctx: PathContext) -> list[dict[str, str]]:
    return load_template("query_generation").messages(**_base(ctx))


def summary_messages(theorem_text: str) -> list[dict[str, str]]:
    return load_template("theorem_summary").messages(theorem=theorem_text)


def reflection_messages(ctx: PathContext, summary: str) -> list[dict[str, str]]:
    return load_template("self_reflection").messages(**_base(ctx), theorem=summary.strip())


def equivalence_messages(question: str, gold: str, predicted: str) -> list[dict[str, str]]:
    return load_template("answer_equivalence").messages(question=question.strip(), gold=gold.strip(),
                                                        predicted=predicted.strip())
