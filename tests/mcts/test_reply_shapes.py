"""Parsers on reply shapes real chat models write (issue 18): nested bullets, parenthesised
theorem names, "Relevance:" labels, questions as labels, unlabelled queries, echoed steps."""

import pytest

from rader_queue.mcts import prompting
from rader_queue.mcts.nodes import NodeType, PathContext
from rader_queue.mcts.parsers import clean_step, labelled_query, parse_candidate_theorems, parse_verdict
from rader_queue.querygen.prompting import clean_query


def test_nested_markdown_bullets_leave_no_dash_in_names():
    reply = """Here are some useful theorems:

1. - **Vieta's formulas**
   - **Theorem Statement:** For ax^2+bx+c=0 the roots sum to -b/a.
     - **Preconditions:** a is not zero.
2. * Quadratic formula -
   * Theorem Statement: x = (-b ± sqrt(b^2-4ac))/(2a)
"""
    thms = parse_candidate_theorems(reply)
    assert [t.name for t in thms] == ["Vieta's formulas", "Quadratic formula"]
    assert thms[0].statement == "For ax^2+bx+c=0 the roots sum to -b/a."
    assert thms[0].preconditions == "a is not zero."


def test_bulleted_header_blocks():
    reply = ("- **Theorem 1:** - Law of cosines\n"
             "  - **Theorem Statement:** c^2 = a^2 + b^2 - 2ab cos C\n"
             "- **Theorem 2:**\n"
             "  - Law of sines\n"
             "  - **Theorem Statement:** a/sin A = b/sin B\n")
    thms = parse_candidate_theorems(reply)
    assert [t.name for t in thms] == ["Law of cosines", "Law of sines"]
    assert thms[1].statement == "a/sin A = b/sin B"


def test_parenthesised_theorem_names():
    reply = ("**Theorem 1 (Pythagorean Theorem):** In a right triangle, a^2 + b^2 = c^2.\n"
             "Preconditions: the triangle has a right angle.\n\n"
             "Theorem 2 (Triangle inequality): The sum of two sides exceeds the third.\n"
             "Subject: Geometry")
    thms = parse_candidate_theorems(reply)
    assert [t.name for t in thms] == ["Pythagorean Theorem", "Triangle inequality"]
    assert thms[0].statement == "In a right triangle, a^2 + b^2 = c^2."
    assert thms[0].preconditions == "the triangle has a right angle."
    assert thms[1].subject == "Geometry"
    assert thms[0].query == "Theorem Name: Pythagorean Theorem\nTheorem Statement: In a right triangle, a^2 + b^2 = c^2."


@pytest.mark.parametrize("reply, label", [
    ("Relevance: True\nReason: it gives the sum of the roots.", True),
    ("**Relevance:** False\n**Reason:** it needs the angles.", False),
    ("Relevant to the problem? No. The law of sines needs angles.", False),
    ("Relevant to the problem? Yes - it gives c directly.", True),
    ("Is it relevant? The theorem... Relevant for this step: no", False),
    ("Relevant: FALSE\nReason: about primes", False),
])
def test_verdict_labels(reply, label):
    assert parse_verdict(reply)[0] is label


def test_question_label_without_answer_is_unreadable():
    assert parse_verdict("Relevant to the problem? Maybe, it depends.")[0] is None


def test_qllmq_reply_without_query_label_is_not_guessed():
    reply = "Preconditions: the quadratic has real coefficients.\nWhy they hold: a = 1.\nThe query asks about sums."
    assert labelled_query(reply) is None
    assert clean_query(reply) == ""
    assert clean_query("Preconditions: a != 0\nQuery: \"What links the roots of a polynomial to its coefficients?\"") \
        == "What links the roots of a polynomial to its coefficients?"
    # a reply that is just one sentence is the query itself
    assert clean_query("What relates the roots of a polynomial to its coefficients?") \
        == "What relates the roots of a polynomial to its coefficients?"


@pytest.mark.parametrize("text, clean", [
    ("Step 2: Step 2: Divide by 3.", "Divide by 3."),
    ("Next step: Step 3: x = 5.", "x = 5."),
    ("step 4) The answer is \\boxed{5}.", "The answer is \\boxed{5}."),
    ("Stepwise, we expand.", "Stepwise, we expand."),
])
def test_clean_step(text, clean):
    assert clean_step(text) == clean


def test_rendered_steps_are_numbered_once():
    ctx = PathContext(question="q", steps=((NodeType.OST, "Step 1: a = 1"),
                                           (NodeType.OST, "Step 2: Step 2: b = 2")))
    assert prompting.render_steps(ctx) == "Step 1: a = 1\nStep 2: b = 2"


def test_ost_prompt_examples_take_several_steps_and_stop_at_newline():
    system = prompting.load_template("ost").system
    assert "Step 2:" in system                    # an example continues a two-step solution
    assert system.count("\\boxed") >= 2 and "(none)" in system
    assert prompting.STOP_OST[0] == "\n"


def test_reflection_examples_reject_plausible_theorems():
    system = prompting.load_template("self_reflection").system
    assert system.count("\nRelevant: False\n") == 3 and system.count("\nRelevant: True\n") == 2
    assert "prime" not in system and "angles of a triangle add up" not in system
