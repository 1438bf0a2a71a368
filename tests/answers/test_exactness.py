"""Exact comparison (issue 13 item 3), each case in both directions, on the pure check and
once through the bounded pool that the reward uses."""

from __future__ import annotations

import pytest

from rader_queue.answers import check
from rader_queue.mcts.reward import gold_reward

DIFFERENT = [
    ("10456", "10455"), ("920.26", "920.25"), ("\\frac{15310}{256}", "\\frac{15309}{256}"),
    ("100000000000000000000000000001", "100000000000000000000000000000"),
    ("1" * 5000, "1" * 4999 + "2"), ("0.33333", "\\frac13"), ("0.3", "\\frac{1}{3}"),
    ("1.4142135623", "\\sqrt{2}"), ("3.14159265359", "\\pi"), ("2", "-2"), ("(1,2)", "(2,1)"),
    ("[1,2)", "[1,2]"), ("(1,2)", "1,2"), ("1,2", "1,2,2"), ("2\\pi", "3\\pi"), ("x^2+1", "(x+1)^2"),
    ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix}2\\\\1\\end{pmatrix}"), ("7.2", "0.072"),
    ("10", "1"), ("100", "10"), ("\\frac{1}{2}", "\\frac{1}{3}"), ("\\sqrt{2}", "\\sqrt{3}"),
    ("e", "2.718281828"), ("2^{100}", "1267650600228229401496703205377"),
]

EQUAL = [
    ("0.5", "\\frac12"), ("\\dfrac{3}{4}", "0.75"), ("\\tfrac{3}{4}", "\\frac34"), ("3/4", "\\frac{3}{4}"),
    ("\\left(1, 2\\right)", "(1,2)"), ("10\\text{ cm}", "10"), ("90^\\circ", "90"), ("90^{\\circ}", "90"),
    ("\\$3.50", "3.5"), ("7.2\\%", "7.2"), ("x = 3", "3"), ("1,000,000", "1000000"), ("5.0", "5"),
    ("(-\\infty, 2) \\cup (3, \\infty)", "(3,\\infty)\\cup(-\\infty,2)"), ("\\{1, 2, 3\\}", "\\{3,1,2\\}"),
    ("3, 1", "1, 3"), ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"),
    ("2\\pi", "\\pi \\cdot 2"), ("\\frac{\\pi}{3}", "\\frac{1}{3}\\pi"), ("1+\\sqrt{2}", "\\sqrt2+1"),
    ("x^2+2x+1", "(x+1)^2"), ("\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt3"), ("\\frac{1}{\\sqrt2}", "\\frac{\\sqrt2}{2}"),
    ("-\\frac{1}{2}", "\\frac{-1}{2}"), ("\\text{(B)}", "B"), ("\\text{Yes}", "yes"), ("2^{100}", "1267650600228229401496703205376"),
    ("1" * 5000, "1" * 5000), ("0" + "1" * 3000, "1" * 3000), ("\\sin^2 x + \\cos^2 x", "1"), ("y = 2x + 1", "1 + 2x"),
    ("\\sqrt{8}", "2\\sqrt{2}"), ("12 inches", "12"), ("\\frac{15310}{256}", "\\frac{7655}{128}"),
    ("2\\frac{1}{4}", "\\frac94"), ("\\varnothing", "\\emptyset"), ("f(x) = 2x", "2x"), ("\\log_2 8", "3"),
    ("3 \\pm \\sqrt{2}", "3+\\sqrt2, 3-\\sqrt2"), ("x \\in [2, 5]", "[2,5]"), ("1.5 \\times 10^{3}", "1500"),
]


@pytest.mark.parametrize("a, b", DIFFERENT)
def test_different(a, b):
    assert not check(a, b).equal, check(a, b)
    assert not check(b, a).equal, check(b, a)


@pytest.mark.parametrize("a, b", EQUAL)
def test_equal(a, b):
    assert check(a, b).equal, check(a, b)
    assert check(b, a).equal, check(b, a)


def test_tolerance_only_between_two_irrationals():
    # equal to 1e-12 but different: rationals never get a tolerance
    assert not check("1.000000000001", "1").equal
    assert not check("\\frac{1000000000001}{1000000000000}", "1").equal
    # the same irrational written two ways: equal (exactly, or within the stated 1e-30 at 60 digits)
    assert check("\\sqrt{2}\\sqrt{3}", "\\sqrt{6}").equal
    assert check("\\ln 8", "3\\ln 2").equal


def test_through_the_reward(checker):
    for a, b in [("10456", "10455"), ("920.26", "920.25"), ("\\frac{15310}{256}", "\\frac{15309}{256}")]:
        assert gold_reward("\\boxed{" + a + "}", b, checker=checker) == 0.0
        assert gold_reward("\\boxed{" + b + "}", a, checker=checker) == 0.0
    assert gold_reward("\\boxed{\\dfrac{1}{2}}", "0.5", checker=checker) == 1.0
    assert gold_reward("\\boxed 2", "2", checker=checker) == 1.0
