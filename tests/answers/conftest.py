"""One small checker per test module (2 processes, short bound) so the tests stay quick."""

from __future__ import annotations

import pytest

from rader_queue.answers.pool import AnswerChecker

BOUND_S = 2.0


@pytest.fixture(scope="module")
def checker():
    with AnswerChecker(timeout_s=BOUND_S, workers=2) as c:
        yield c
