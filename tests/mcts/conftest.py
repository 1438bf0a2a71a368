"""Fixtures of the MCTS tests."""

from __future__ import annotations

import pytest

from .scripted import ScriptedPolicy


@pytest.fixture
def policy() -> ScriptedPolicy:
    return ScriptedPolicy()
