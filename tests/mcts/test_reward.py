import pytest

from rader_queue.datasets.answers import extract_last_boxed
from rader_queue.mcts.reward import (answers_equivalent, extract_boxed, gold_reward, needs_llm_judge,
                                     normalize_answer)


@pytest.mark.parametrize("text, expected", [
    ("so \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("\\boxed{x^{2}+\\sqrt{y_{1}}}", "x^{2}+\\sqrt{y_{1}}"),
    ("first \\boxed{3}, then \\boxed{4}.", "4"),
    ("\\fbox{7}", "7"),
    ("\\boxed{1} and \\fbox{2}", "2"),
    ("answer: $\\boxed 5$", "5"),
    ("\\boxed{2} then \\boxed{broken", "2"),
    ("\\boxed{3} and later \\boxed 2", "2"),
    ("\\boxed 2 and later \\boxed{3}", "3"),
    ("\\boxed{\\{1,2\\}}", "\\{1,2\\}"),
    ("no box here", None),
    ("", None),
])
def test_extract_boxed(text, expected):
    assert extract_boxed(text) == expected
    assert extract_last_boxed(text) == expected         # dataset gold uses the same extractor


def test_extract_boxed_is_linear_on_many_unclosed_boxes():
    """Growth, not a wall-clock limit (the machine may be busy): 8x the unclosed boxes costs
    about 8x the time (quadratic scanning would cost 64x). Best of three runs per size."""
    import time

    def best_time(n: int) -> float:
        text = "\\boxed{1} " + "\\boxed{" * n
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            assert extract_boxed(text) == "1"
            runs.append(time.perf_counter() - start)
        return min(runs)

    small, large = best_time(25_000), best_time(200_000)
    assert large / small < 24, f"8x input took {large / small:.1f}x the time"


@pytest.mark.parametrize("pred, gold", [("100", "1"), ("10", "1"), ("1", "10"), ("100", "10"), ("2", "3")])
def test_trailing_zeros_of_integers_are_kept(pred, gold):
    assert normalize_answer("100") == "100" and normalize_answer("10") == "10"
    assert not answers_equivalent(pred, gold)


@pytest.mark.parametrize("raw, expected", [
    ("5.0", "5"), ("5.00", "5"), ("\\left( 1, 2 \\right)", "(1,2)"), ("\\dfrac{3}{4}", "\\frac{3}{4}"),
    ("\\tfrac12", "\\frac{1}{2}"), ("x = 5", "5"), ("10\\text{ cm}", "10"), ("50\\%", "50"),
    ("\\$3.50", "3.50"), ("0.5", "\\frac{1}{2}"), (".5", "\\frac{1}{2}"), ("3/4", "\\frac{3}{4}"),
    ("90^\\circ", "90"), ("\\text{True}", "yes"), ("No", "no"), ("\\sqrt2", "\\sqrt{2}"), ("3\\!000", "3000"),
])
def test_normalize(raw, expected):
    assert answers_equivalent(raw, expected) and answers_equivalent(expected, raw)


@pytest.mark.parametrize("raw, expected", [
    ("\\left( 1, 2 \\right)", "(1,2)"), ("\\dfrac{3}{4}", "\\frac{3}{4}"), ("x = 5", "5"), ("10\\text{ cm}", "10"),
    ("50\\%", "50"), ("\\$3.50", "3.50"), ("90^\\circ", "90"), ("\\text{True}", "yes"), ("No", "no"),
    ("3\\!000", "3000"), ("1,000", "1000"), ("\\text{(B)}", "B"), ("12 inches", "12"),
])
def test_normalize_strings(raw, expected):
    assert normalize_answer(raw) == expected


@pytest.mark.parametrize("pred, gold", [
    ("\\frac{1}{2}", "0.5"), ("0.5", "1/2"), ("1,000", "1000"), ("1000.0", "1,000"),
    ("x^2+2x+1", "(x+1)^2"), ("yes", "\\text{True}"), ("\\dfrac{\\sqrt{3}}{2}", "\\frac{\\sqrt3}{2}"),
    ("y = 2x", "2x"), ("-\\frac{1}{4}", "-0.25"),
])
def test_equivalent(pred, gold):
    assert answers_equivalent(pred, gold)


@pytest.mark.parametrize("pred, gold", [
    ("0.3", "\\frac{1}{3}"), ("0.33333", "\\frac{1}{3}"), ("x^2+1", "(x+1)^2"), ("1,2", "12"), ("", "1"),
    (None, "1"), ("3", None),
])
def test_not_equivalent(pred, gold):
    assert not answers_equivalent(pred, gold)


def test_huge_strings_are_compared_as_text():
    huge = "+".join(["x"] * 1500)                       # > 2000 chars: never parsed
    assert not answers_equivalent(huge, "1500x")
    assert answers_equivalent(huge, huge)
    assert answers_equivalent("x+x+x", "3x")


def test_gold_reward():
    assert gold_reward("therefore \\boxed{\\frac12}", "0.5") == 1.0
    assert gold_reward("the answer is 0.5", "0.5") == 0.0           # no boxed answer
    assert gold_reward("no box", "0.5", format_reward=True) == 0.0
    assert gold_reward("\\boxed{3}", "0.5") == 0.0
    assert gold_reward("\\boxed{3}", "0.5", format_reward=True) == 0.2
    assert gold_reward("\\boxed{100}", "1") == 0.0
    assert gold_reward("\\boxed{2} no wait \\boxed{1,000}", "1000") == 1.0
    assert gold_reward("no box", "1").reason == "no boxed answer"
    assert gold_reward("\\boxed{3}", "4").reason == "different numbers"


def test_needs_llm_judge():
    assert not needs_llm_judge("\\boxed{3}", "4", llm_judge_fallback=False)
    assert needs_llm_judge("\\boxed{3}", "4", llm_judge_fallback=True)
    assert not needs_llm_judge("\\boxed{4}", "4", llm_judge_fallback=True)
    assert not needs_llm_judge("no box", "4", llm_judge_fallback=True)
