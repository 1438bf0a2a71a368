"""Cases the checker's author did not write (issue 13 review): realistic model outputs against real
MATH/MATH500/GSM8K gold spellings, and hostile inputs. Every comparison runs in both directions."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from rader_queue.answers import check, extract_boxed, normalize
from rader_queue.answers.pool import AnswerChecker

# (candidate, gold) pairs that must be equal.
EQUAL = [
    # text answers: case, spacing, wrappers
    ("monday", "\\text{Monday}"), ("\\textbf{Monday}", "\\text{Monday}"), ("\\mbox{Monday}", "Monday."),
    ("\\text{no solution}", "\\text{No solution}"), ("(A)", "\\text{(A)}"), ("\\mathrm{(E)}", "E"),
    ("\\infty", "\\text{infinity}"), ("\\mathbb{R}", "(-\\infty, \\infty)"),
    # degrees, units, money, percent (MATH convention: the percent sign is dropped, 5\% = 5, not 0.05)
    ("30^{\\circ}", "30^\\circ"), ("30°", "30"), ("6\\ \\text{cm}^2", "6"), ("100\\text{ km/h}", "100"),
    ("\\$1,234.50", "1234.5"), ("$1,234.50", "1234.50"), ("\\$18.00", "\\$18"), ("12 percent", "12\\%"),
    # numbers: thousands, signs, unicode, leading/trailing forms, scientific notation
    ("1{,}000", "1000"), (" 8{, }880 ", "8{,}880"), ("11, \\! 111, \\! 100", "11,\\!111,\\!100"), ("10 000", "10000"), ("10\\,000", "10000"), ("14,000.", "14000"),
    ("\\frac{12}{5,\\!525}", "\\frac{12}{5525}"), ("\u22123", "-3"), ("\uff11\uff12", "12"), ("3.", "3"),
    (".5", "0.5"), ("+5", "5"), ("05", "5"), ("-0", "0"), ("1e3", "1000"), ("1.5e3", "1500"),
    ("1.5\\cdot 10^{3}", "1500"), ("10^{-3}", "0.001"), ("\u2212\u00bd", "-0.5"), ("x\u00b2+1", "x^2+1"),
    ("\u221a2", "\\sqrt2"), ("3\u03c0", "3\\pi"),
    # fractions, mixed numbers, repeating decimals
    ("-\\frac{1}{2}", "\\frac{-1}{2}"), ("\\frac{1}{-2}", "-\\frac12"), ("\\frac 1 2", "\\frac{1}{2}"),
    ("\\frac{1}2", "0.5"), ("\\cfrac{25}{16}", "\\frac{25}{16}"), ("-1\\frac12", "-1.5"),
    ("2\\frac14", "\\frac94"), ("0.\\overline{3}", "\\frac13"), ("0.1\\overline{6}", "\\frac16"),
    ("0.\\overline{142857}", "\\frac17"), ("0.\\overline{3}", "0.\\overline{33}"), ("1.\\overline{6}", "\\frac53"),
    # radicals, powers, combinatorics
    ("\\sqrt{2}/2", "\\frac{\\sqrt2}{2}"), ("2\\sqrt{3}", "\\sqrt{12}"), ("\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}"),
    ("\\sqrt[3]{8}", "2"), ("8^{1/3}", "2"), ("2^-1", "\\frac12"), ("\\sqrt{-4}", "2i"), ("10!", "3628800"),
    ("5!!", "15"), ("\\dbinom{5}{2}", "10"), ("\\tbinom{5}{2}", "10"), ("{5 \\choose 2}", "10"),
    ("\\sqrt{3+2\\sqrt2}", "1+\\sqrt2"), ("\\sin 30^\\circ", "\\frac12"),
    ("\\frac{\\sqrt{6}-\\sqrt{2}}{4}", "\\sin 15^\\circ"), ("\\cos 13^\\circ", "\\cos 13"),   # mark left out
    # expressions with variables, equations
    ("x^2+2x+1", "(x+1)^2"), ("\\frac{a}{b}", "a/b"), ("\\frac{1}{2}x", "\\frac{x}{2}"), ("\\pi r^2", "r^2\\pi"),
    ("2x+3=y", "y=2x+3"), ("y = 2x+3", "2x + 3"), ("x^2+y^2=1", "2x^2+2y^2=2"),
    # structures
    ("(-\\infty, 3]", "(-\\infty,3]"), ("[0,1)\\cup(2,3]", "(2,3]\\cup[0,1)"), ("\\left\\{1,2\\right\\}", "\\{2,1\\}"),
    ("\\pm 2", "2, -2"), ("\\{-1, 1\\}", "\\pm 1"), ("x = 1 \\text{ or } x = 2", "2, 1"), ("1 and 2", "1,2"),
    # base subscripts: one spelling; bare digits answer "in base 2" too
    ("1011_2", "1011_{2}"), ("1011_{(2)}", "1011_2"), ("1011", "1011_2"),
    # times of day
    ("9 a.m.", "9\\text{ a.m.}"), ("\\text{1:03 PM}", "1:03 PM"), ("9:00 AM", "9 a.m."),
    # boxes inside the box
    ("\\boxed{\\boxed{3}}", "3"), ("\\boxed{3}", "3"),
]

# (candidate, gold) pairs that must NOT be equal.
DIFFERENT = [
    ("Tuesday", "\\text{Monday}"), ("A", "\\text{(B)}"),
    ("5\\%", "0.05"), ("0.12", "12\\%"),                                 # MATH convention, documented
    ("(1,000)", "1000"), ("\\{1,000\\}", "1000"), ("1,000", "1,0"), ("12,34", "1234"), ("1,5", "1.5"),
    ("1 2", "12"), ("1 2", "2"), ("2 3", "6"), ("1\\,2", "12"), ("2.5.3", "2.53"), ("1e3", "1"),
    ("\u22123", "3"), ("\\frac12", "-0.5"), ("2\\sqrt3", "\\sqrt{13}"), ("\\frac{a}{b}", "\\frac{b}{a}"),
    ("x^2+2x+2", "(x+1)^2"), ("1-i", "1+i"), ("\\infty", "-\\infty"), ("\\pm2", "2"),
    ("0.\\overline{3}", "0"), ("0.\\overline{3}", "0.3"), ("1.\\overline{6}", "6"), ("0.\\overline{7}", "0.7"),
    ("2\\frac12", "1"), ("2\\frac{1}{4}", "\\frac12"), ("5!!", "120!"),
    ("9\\text{ pm}", "9\\text{ am}"), ("9 a.m.", "9 p.m."), ("9\\text{ a.m.}", "10 a.m."),
    ("\\sin 30^\\circ", "\\sin 31"), ("\\sin 30", "\\frac12"), ("\\frac{\\pi}{4}", "45^\\circ"),
    ("\\pi", "\\sqrt{9.8696044010893586}"), ("\\sqrt{2}", "\\sqrt{2.0000000001}"),   # no 1e-9 tolerance
    ("0.333", "\\frac{1}{3}"), ("\\sqrt{32}", "5.656854249"), ("\\log 100", "2"), ("\\log_0 5", "0"),
    ("1011_3", "1011_2"), ("11_2", "1011_2"), ("11", "1011_2"),
    ("x^2+y^2=1", "x^2+y^2=2"), ("b=3, a=2", "(2,3)"), ("\\frac{1}{0}", "\\infty"),
    ("", "3"), ("\\boxed{}", "0"), ("-", "0"), ("()", "0"), ("\\sqrt{}", "0"),
]


@pytest.mark.parametrize("a, b", EQUAL)
def test_equal_both_ways(a, b):
    assert check(a, b).equal, (a, b, check(a, b))
    assert check(b, a).equal, (b, a, check(b, a))


@pytest.mark.parametrize("a, b", DIFFERENT)
def test_different_both_ways(a, b):
    assert not check(a, b).equal, (a, b, check(a, b))
    assert not check(b, a).equal, (b, a, check(b, a))


@pytest.mark.parametrize("text, expected", [
    ("\\boxed{\\boxed{3}}", "3"), ("\\boxed 2", "2"), ("\\fbox{4}", "4"),
    ("\\boxed{1} then \\boxed{2}", "2"), ("\\boxed{}", ""), ("\\boxed{3", None), ("\\boxed{7} \\boxed{", "7"),
])
def test_extractor(text, expected):
    assert extract_boxed(text) == expected


@pytest.mark.parametrize("text", [
    "1" + " cm  " * 300 + "Q",          # exponential in the former unit regex (17 s at 12 units)
    "1" + "cm " * 600 + "x", "1\\text{" + " " * 1900 + "Q", "{" + " " * 1900 + "\\choose",
    "1" + " and " * 390, "0." + "\\overline{" * 200, "x = " * 400,
])
def test_normalize_is_fast_on_hostile_text(text):
    start = time.perf_counter()
    normalize(text)
    assert time.perf_counter() - start < 0.5


def test_huge_values_are_refused_not_computed():
    for answer in ("0.\\overline{" + "9" * 5000 + "}", "1e999999", "\\frac{1}{2}^{\\frac{1}{2}^{-30000}}",
                   "(1+\\sqrt2)^{20000}", "5!!!!!!!!!!!!!!!!!!!!", "(100!)!!"):
        start = time.perf_counter()
        assert not check(answer, "5").equal
        assert time.perf_counter() - start < 2.0, answer


def test_garbage_on_a_workers_stdout_never_becomes_a_verdict():
    """Library prints and C-level writes to fd 1 inside the checking process do not reach the
    replies; a reply of the wrong shape replaces the process instead of raising."""
    with AnswerChecker(timeout_s=5.0, workers=1, target="tests.answers.helpers:noisy") as c:
        assert c.check_sync("a", "b") == (False, "noisy")
        assert c.check_sync("a", "a") == (True, "noisy")
        assert c.crashes == 0
    with AnswerChecker(timeout_s=5.0, workers=1, target="tests.answers.helpers:odd_reply") as c:
        verdict = c.check_sync("a", "a")
        assert not verdict.equal


@pytest.mark.slow
def test_many_simultaneous_timeouts_each_return_within_the_bound():
    bound = 1.0
    with AnswerChecker(timeout_s=bound, workers=2, target="tests.answers.helpers:sleepy") as c:
        c.check_sync("0", "")                                       # started
        results: list = []

        def one() -> None:
            start = time.monotonic()
            verdict = c.check_sync("60", "")
            results.append((verdict, time.monotonic() - start))

        threads = [threading.Thread(target=one) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(results) == 6 and all(v == (False, "check exceeded 1 s") for v, _ in results)
        assert c.timeouts == 6
        assert c.check_sync("0", "").equal                          # still serving


def test_closing_while_a_check_runs_leaves_no_process_behind():
    c = AnswerChecker(timeout_s=3.0, workers=1, target="tests.answers.helpers:sleepy")
    c.check_sync("0", "")
    done: list = []
    t = threading.Thread(target=lambda: done.append(c.check_sync("1", "")))
    t.start()
    time.sleep(0.3)
    worker = c._threads                                             # noqa: F841 - keep pool alive
    c.close()
    t.join(10)
    assert done and done[0].equal
    with pytest.raises(RuntimeError):
        c.check_sync("0", "")
    assert c._idle.get_nowait() is None                            # the process was stopped


if sys.platform.startswith("linux"):
    @pytest.mark.slow
    def test_parent_killed_mid_check_leaves_no_orphan(tmp_path):
        """A parent SIGKILLed during a 60 s check: its checking process exits within seconds."""
        import os
        import signal
        import subprocess

        pidfile = tmp_path / "pids"
        code = ("import os, sys\n"
                "from rader_queue.answers.pool import AnswerChecker\n"
                "c = AnswerChecker(timeout_s=60, workers=1, target='tests.answers.helpers:sleepy')\n"
                "print(c.check_sync('0', '').reason.split()[-1], flush=True)\n"
                "c.check_sync('60', '')\n")
        parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                                  env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        child = int(parent.stdout.readline())
        time.sleep(0.5)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"checking process {child} outlived its parent")
        pidfile.write_text(str(child))


@pytest.mark.parametrize("a, b, equal", [
    ("0.\\bar{3}", "\\frac13", True), ("0.\\dot{3}", "\\frac13", True), ("0.\\overline3", "\\frac13", True),
    ("-221_3", "-221_{3}", True), ("0.0011_{2}", "0.0011_2", True), ("1A_{11}", "1A", True),
    ("A_1", "A", False), ("29_{2}", "29", False),          # A_1 is a name, 9 is no binary digit
])
def test_base_and_repeating_spellings(a, b, equal):
    assert check(a, b).equal is equal and check(b, a).equal is equal
