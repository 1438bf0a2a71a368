"""Every check returns within its bound; a worker that overruns or dies is killed and replaced."""

from __future__ import annotations

import time

import pytest

from rader_queue.answers.pool import AnswerChecker
from rader_queue.mcts.reward import gold_reward

from .conftest import BOUND_S

# Killing and reaping a process; and when the previous check in the slot overran, the rest of
# its replacement's start (a fresh interpreter importing SymPy, about 1-2 s on a loaded host).
SLACK_S = 3.0

PATHOLOGICAL = [
    "9^{9^{9}}", "10^{10^{10}}", "2^{2^{2^{2^{2^{2}}}}}", "{" * 3000 + "1" + "}" * 3000,
    "(" * 3000 + "1" + ")" * 3000, "\\sqrt{" * 500 + "2" + "}" * 500, "x" * 100_000,
    "1+" * 50_000 + "1", "(x+y+z+1)^{60}", "\\frac{(x+1)^{100}}{(x-1)^{100}}", "1000000!",
    "\\binom{10^{9}}{5}", "((((x+1)^{99})^{99})^{99})",
]


@pytest.mark.parametrize("answer", PATHOLOGICAL)
def test_pathological_answer_returns_within_the_bound(checker, answer):
    for gold in ("5", "(x+y+z+2)^{60}"):
        start = time.monotonic()
        reward = gold_reward("\\boxed{" + answer + "}", gold, checker=checker)
        assert time.monotonic() - start < BOUND_S + SLACK_S, reward
        assert reward == 0.0 and reward.reason


@pytest.mark.slow
def test_overrunning_check_is_killed_and_replaced():
    with AnswerChecker(timeout_s=1.0, workers=1, target="tests.answers.helpers:sleepy") as c:
        first = c.check_sync("0", "")
        start = time.monotonic()
        verdict = c.check_sync("30", "")
        assert time.monotonic() - start < 1.0 + SLACK_S
        assert verdict == (False, "check exceeded 1 s") and c.timeouts == 1
        second = c.check_sync("0", "")
        assert second.equal and second.reason != first.reason      # a fresh process (new pid)


def test_crashed_or_memory_hungry_worker_is_replaced():
    with AnswerChecker(timeout_s=5.0, workers=1, target="tests.answers.helpers:crash") as c:
        verdict = c.check_sync("1", "1")
        assert not verdict.equal and "died" in verdict.reason and c.crashes == 1
    with AnswerChecker(timeout_s=10.0, workers=1, memory_mb=512, target="tests.answers.helpers:hog") as c:
        assert not c.check_sync("64", "").equal                    # 4 GB > 512 MB: refused
        assert c.check_sync("1", "").equal                         # still serving
