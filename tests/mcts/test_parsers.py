import pytest

from rader_queue.mcts.parsers import (parse_candidate_theorems, parse_equivalence, parse_query,
                                      parse_score_0_5, parse_verdict)


def test_lower_case_statement_label_parses():
    [thm] = parse_candidate_theorems("Theorem 1: Pythagorean theorem\nTheorem statement: a^2 + b^2 = c^2")
    assert thm.name == "Pythagorean theorem" and thm.statement == "a^2 + b^2 = c^2"
    assert thm.query == "Theorem Name: Pythagorean theorem\nTheorem Statement: a^2 + b^2 = c^2"


def test_messy_markdown_and_inline_fields():
    text = """Sure! Here are the theorems.

**Theorem 1: Vieta's formulas**
**Theorem Statement:** For ax^2+bx+c=0 the roots sum to -b/a
and multiply to c/a.
Preconditions: a != 0. Why the preconditions hold: a = 1.
SUBJECT: Algebra

### Theorem 2: Law of Cosines Theorem Statement: c^2 = a^2 + b^2 - 2ab cos C Subject: Trigonometry
Theorem 3: VIETA'S FORMULAS
Theorem Statement: duplicate
"""
    thms = parse_candidate_theorems(text)
    assert [t.name for t in thms] == ["Vieta's formulas", "Law of Cosines"]
    assert thms[0].statement == "For ax^2+bx+c=0 the roots sum to -b/a and multiply to c/a."
    assert thms[0].preconditions.startswith("a != 0") and thms[0].subject == "Algebra"
    assert thms[1].statement == "c^2 = a^2 + b^2 - 2ab cos C" and thms[1].subject == "Trigonometry"
    assert "Theorem Statement" in thms[0].raw


def test_numbered_and_bulleted_lists():
    numbered = "1. Quadratic formula\nStatement: x = (-b ± sqrt(b^2-4ac))/(2a)\n2) AM-GM inequality\nStatement: (a+b)/2 >= sqrt(ab)"
    assert [t.name for t in parse_candidate_theorems(numbered)] == ["Quadratic formula", "AM-GM inequality"]
    bullets = "- Theorem: Fermat's little theorem\n  Theorem Statement: a^p = a mod p\n- Theorem: Wilson\n  theorem statement: (p-1)! = -1 mod p"
    assert [t.name for t in parse_candidate_theorems(bullets)] == ["Fermat's little theorem", "Wilson"]


def test_numbered_preconditions_inside_explicit_theorems_do_not_split():
    text = "Theorem 1: Rolle\nTheorem Statement: f'(c) = 0 for some c\nPreconditions:\n1. f continuous\n2. f(a) = f(b)"
    [thm] = parse_candidate_theorems(text)
    assert thm.preconditions == "1. f continuous 2. f(a) = f(b)"


def test_cap_and_garbage():
    many = "\n".join(f"Theorem {i}: T{i}\nTheorem Statement: s{i}" for i in range(1, 13))
    assert len(parse_candidate_theorems(many, max_theorems=3)) == 3
    assert len(parse_candidate_theorems(many)) == 8
    assert parse_candidate_theorems("I do not know any theorems.") == []
    assert parse_candidate_theorems("") == []


@pytest.mark.parametrize("reply, label, reason", [
    ("Relevant: True\nReason: it gives the hypotenuse.", True, "it gives the hypotenuse."),
    ("True\nReason: helps", True, "helps"),
    ("false. Reason: about primes\nQuestion: next one", False, "about primes"),
    ("**Relevant:** FALSE\n**Reason:** unrelated", False, "unrelated"),
    ("  no, it is not needed", False, ""),
    ("Yes", True, ""),
    ("The theorem... Relevant: yes\nReason: ok", True, "ok"),
    ("Irrelevant: the problem is counting", False, ""),
])
def test_parse_verdict(reply, label, reason):
    assert parse_verdict(reply) == (label, reason)


@pytest.mark.parametrize("reply", ["I am not sure.", "", "Relevant: maybe", "Relevant:\nReason: hmm"])
def test_unparseable_verdict(reply):
    label, reason = parse_verdict(reply)
    assert label is None and reason == reply.strip()


def test_parse_query():
    assert parse_query("Thoughts...\nQuery: first\nQuery: the real one") == "the real one"
    assert parse_query("query:   sum of angles  ") == "sum of angles"
    assert parse_query("no label") == "no label"


@pytest.mark.parametrize("reply, expected", [
    ("True", True), ("false", False), ("Equivalent: True", True), ("Prediction: FALSE.", False),
    ("Yes, both are 1/2", True), ("not equivalent", False), ("I think it is true", True), ("hmm", None),
])
def test_parse_equivalence(reply, expected):
    assert parse_equivalence(reply) is expected


@pytest.mark.parametrize("reply, expected", [
    ("Score: 4", 4), ("**Score**: 0", 0), ("5/5", 5), ("I'd say 3.", 3), ("10", None), ("2.5", None), ("none", None),
])
def test_parse_score(reply, expected):
    assert parse_score_0_5(reply) == expected
