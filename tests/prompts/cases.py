"""Inputs of every packaged prompt, each rendered by every prompt function: ordinary text,
empty steps, every node kind, and hostile text (template syntax, the user marker, braces,
trailing whitespace) that must reach the model literally. ``golden.json`` holds the messages
these inputs rendered to with the original ``{{slot}}`` substitution; the renderer must keep
producing them byte for byte."""

from __future__ import annotations

from rader_queue.mcts.nodes import NodeType, PathContext
from rader_queue.retrieval.corpus import Doc

HOSTILE = ("Let {{ x }} be {% if a %}odd{% endif %} and {# note #} {{question}} }} {{ "
           "{{ steps }} \\frac{3}{4} ---- user ---- {%- raw %} {{ '{{' }}  ")
PLAIN = "What is 2 + 3?"

CONTEXTS = {
    "plain": PathContext(PLAIN),
    "hostile": PathContext(HOSTILE, steps=((NodeType.OST, "Use {{theorem}} here. {% set x = 1 %}"),)),
    "every_kind": PathContext("Find x if x^2 = 4.", steps=(
        (NodeType.OST, "Step 1: Take roots.  "),
        (NodeType.QUERY_GENERATION, "square roots"),
        (NodeType.RETRIEVAL, "Every positive number has two square roots {{a}}."),
        (NodeType.SUBQUESTION, "What is sqrt(4)?\n2"),
        (NodeType.RE_SUBANSWER, "What is -sqrt(4)?"),
        (NodeType.CRS, "So x = 2 or x = -2. The answer is \\boxed{\\pm 2}."),
    )),
    "rephrased": PathContext("orig", steps=((NodeType.REPHRASED_QUESTION, "Rephrased {{ q }}: x?"),)),
}

DOCS = {
    "plain": Doc("d1", "Pythagorean Theorem", "In a right triangle a^2 + b^2 = c^2. \\begin{proof} ... \\end{proof}"),
    "hostile": Doc("d2", "Title {{ t }}", HOSTILE * 3),
    "untitled": Doc("d3", "", "A statement {%- endraw %} with   spaces\n\nand lines."),
}


def mcts_cases() -> dict[str, list[dict[str, str]]]:
    from rader_queue.mcts import prompting as p

    out = {}
    for name, ctx in CONTEXTS.items():
        out[f"ost/{name}"] = p.ost_messages(ctx)
        out[f"crs/{name}"] = p.crs_messages(ctx)
        out[f"query_generation/{name}"] = p.query_generation_messages(ctx)
        out[f"self_reflection/{name}"] = p.reflection_messages(ctx, f"  summary of {name} {{{{ steps }}}}  ")
    for name, text in (("plain", "Pythagoras: a^2+b^2=c^2"), ("hostile", HOSTILE)):
        out[f"theorem_summary/{name}"] = p.summary_messages(text)
        out[f"answer_equivalence/{name}"] = p.equivalence_messages(f" {text} ", " 5 ", f"{text} }}}}")
    return out


def querygen_cases() -> dict[str, list[dict[str, str]]]:
    from rader_queue.querygen import prompting as q

    out = {}
    for name, doc in DOCS.items():
        out[f"qllmq/{name}"] = q.llm_query_messages(HOSTILE if name == "hostile" else PLAIN,
                                                    "Step 1: {{ x }}" if name == "hostile" else "", doc, 60)
        out[f"qlexical/{name}"] = q.lexical_query_messages(doc, 1500)
        out[f"query_judge/{name}"] = q.judge_messages(f"{HOSTILE} query " if name == "hostile" else "q",
                                                      doc, 200)
    return out


def all_cases() -> dict[str, list[dict[str, str]]]:
    return mcts_cases() | querygen_cases()


if __name__ == "__main__":       # regenerate golden.json (only from the renderer being replaced)
    import json
    import sys

    json.dump(all_cases(), sys.stdout, indent=1, ensure_ascii=False, sort_keys=True)
