"""A worker's shared event loop keeps serving while answers are checked.

16 problems are in flight on the real shared loop of a worker process
(:func:`rader_queue.queue.runtime.run`, as ``trees.solve`` runs them), each an ``LLMPolicy``
search whose solutions end in pathological boxed answers; the loop's lag, measured by the
monitor the worker exports (``rader_event_loop_lag_seconds``), stays under 0.5 s, and every
timed-out check is recorded on its node."""

from __future__ import annotations

import threading
import time

import pytest

from rader_queue.answers import pool
from rader_queue.answers.pool import AnswerChecker
from rader_queue.mcts import LLMPolicy, MCTSConfig, run_search
from rader_queue.ops import loop_lag
from rader_queue.ops.metrics import exposition
from rader_queue.queue import runtime

SLOW = "\\boxed{(x+y+z+1)^{60}}"                 # expands for minutes: always hits the bound
ANSWERS = [SLOW, "\\boxed{9^{9^{9}}}", "\\boxed{" + "{" * 400 + "1" + "}" * 400 + "}", "\\boxed{5}"]


class Generator:
    """A scripted chat model: every solution ends in one of ``ANSWERS``."""

    async def generate(self, messages, *, n=1, max_tokens=256, temperature=0.8, top_p=0.95, stop=None,
                       seed=None, stage="mcts", reply_format=None):
        return [f"So the answer is {ANSWERS[(int(seed or 0) + i) % len(ANSWERS)]}" for i in range(n)]


class Theorems:
    def search(self, query, k=5, exclude=()):
        return []

    def document(self, doc_id):
        return "", ""


@pytest.mark.slow
def test_sixteen_problems_in_flight_keep_the_loop_responsive(monkeypatch):
    checker = AnswerChecker(timeout_s=2.0, workers=2)
    monkeypatch.setattr(pool, "_default", checker)           # what default_checker() returns
    config = MCTSConfig(rollouts=2, max_depth=2, ost_samples=2, crs_samples=2, enable_qg=False)
    monitor = loop_lag.watch(runtime.loop())
    results, errors = [], []

    def solve(i: int) -> None:
        try:
            policy = LLMPolicy(Generator(), Theorems(), "5", MCTSConfig(**{**config.__dict__, "seed": i}))
            results.append(runtime.run(run_search(f"problem {i}", policy, policy.config)))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=solve, args=(i,)) for i in range(16)]
    worst, start = 0.0, time.monotonic()
    try:
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            worst = max(worst, monitor.max_lag())
            time.sleep(0.05)
        worst = max(worst, monitor.max_lag())
    finally:
        checker.close()
    assert not errors and len(results) == 16
    reasons = [n.reward_reason for r in results for n in r.nodes if n.valid_leaf]
    assert any("exceeded 2 s" in (x or "") for x in reasons)                   # bounded, recorded
    assert any(x == "same after normalisation" for x in reasons)             # and correct ones pass
    assert all(x for x in reasons)
    assert time.monotonic() - start > 2.0                                    # checks did overrun
    assert worst < 0.5, f"event loop lag {worst:.2f} s"
    assert b"rader_event_loop_lag_seconds" in exposition()
