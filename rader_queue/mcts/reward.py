"""Gold-answer rewards (spec §S1.4): the last boxed answer of a solution, checked against gold.

Extraction, normalisation and equivalence are :mod:`rader_queue.answers` (the same functions
``bench/bench_answers.py`` measures): nothing is evaluated, numbers compare exactly, and every
check runs in a worker process under the hard bound ``RADER_ANSWER_CHECK_TIMEOUT_S`` (a check
over the bound is "not equivalent"). :func:`gold_reward_async` never blocks the event loop;
:func:`gold_reward` is the same bounded check for synchronous callers.

A reward is a :class:`Reward`: a float that also carries why it was given (``"same value"``,
``"different numbers"``, ``"no boxed answer"``, ``"check exceeded 5 s"`` ...), which the search
records on the node.
"""

from __future__ import annotations

from rader_queue.answers import Verdict, extract_boxed, normalize
from rader_queue.answers.pool import AnswerChecker, default_checker

FORMAT_REWARD = 0.2
NO_BOX = "no boxed answer"

#: The canonical string of an answer (MATH conventions; see :mod:`rader_queue.answers.normalize`).
normalize_answer = normalize

__all__ = ["FORMAT_REWARD", "Reward", "answers_equivalent", "extract_boxed", "gold_answer_from_solution",
           "gold_reward", "gold_reward_async", "needs_llm_judge", "normalize_answer"]


class Reward(float):
    """A reward value with the reason it was given."""

    reason: str

    def __new__(cls, value: float, reason: str = "") -> Reward:
        obj = super().__new__(cls, value)
        obj.reason = reason
        return obj

    def __repr__(self) -> str:
        return f"Reward({float(self)!r}, {self.reason!r})"


def gold_answer_from_solution(solution: str) -> str | None:
    """The gold answer of a MATH-style solution: its last boxed expression."""
    return extract_boxed(solution)


def _reward(verdict: Verdict, format_reward: bool) -> Reward:
    if verdict.equal:
        return Reward(1.0, verdict.reason)
    return Reward(FORMAT_REWARD if format_reward else 0.0, verdict.reason)


def gold_reward(completion: str | None, gold: str | None, *, format_reward: bool = False,
                checker: AnswerChecker | None = None) -> Reward:
    """1.0 if the last boxed answer of ``completion`` matches ``gold``; 0.0 without a boxed
    answer; otherwise 0.2 when ``format_reward`` is on, else 0.0. Bounded; blocks the caller."""
    boxed = extract_boxed(completion)
    if boxed is None:
        return Reward(0.0, NO_BOX)
    return _reward((checker or default_checker()).check_sync(boxed, gold), format_reward)


async def gold_reward_async(completion: str | None, gold: str | None, *, format_reward: bool = False,
                            checker: AnswerChecker | None = None) -> Reward:
    """:func:`gold_reward`, awaited: the check runs off the event loop's thread."""
    boxed = extract_boxed(completion)
    if boxed is None:
        return Reward(0.0, NO_BOX)
    return _reward(await (checker or default_checker()).check(boxed, gold), format_reward)


def answers_equivalent(pred: str | None, gold: str | None, *, checker: AnswerChecker | None = None) -> bool:
    """Whether two final answers mean the same thing (bounded; see :mod:`rader_queue.answers`)."""
    return (checker or default_checker()).check_sync(pred, gold).equal


def needs_llm_judge(completion: str | None, gold: str | None, *, llm_judge_fallback: bool) -> bool:
    """True when an LLM equivalence judge should have the last word: the fallback is on, the
    completion has a boxed answer, and the rule-based check did not find it equivalent."""
    if not llm_judge_fallback:
        return False
    boxed = extract_boxed(completion)
    return boxed is not None and not answers_equivalent(boxed, gold)
