"""`rader-queue run --engine auto` (the default) picks vLLM's CPU build when its virtualenv exists
and llama.cpp otherwise; an unknown engine is refused before anything starts."""

from __future__ import annotations

import pytest


@pytest.fixture
def settings_env(monkeypatch):
    from rader_queue.settings import get_settings

    def use(**env: str) -> None:
        for key in ("RADER_EMBEDDED_ENGINE", "RADER_VLLM_PYTHON"):
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


def test_auto_takes_vllm_only_when_its_virtualenv_exists(settings_env, tmp_path):
    from rader_queue.cli.embedded import resolve_engine

    python = tmp_path / "venv" / "bin" / "python"
    settings_env(RADER_VLLM_PYTHON=str(python))
    assert resolve_engine(None) == resolve_engine("auto") == "llamacpp"
    python.parent.mkdir(parents=True)
    python.write_text("")
    assert resolve_engine(None) == resolve_engine("auto") == "vllm"
    assert resolve_engine("llamacpp") == "llamacpp"          # an explicit choice wins
    settings_env(RADER_VLLM_PYTHON=str(python), RADER_EMBEDDED_ENGINE="llamacpp")
    assert resolve_engine(None) == "llamacpp"


def test_an_unknown_engine_is_refused(settings_env):
    from rader_queue.cli.embedded import resolve_engine
    from rader_queue.errors import ConfigError

    settings_env()
    with pytest.raises(ConfigError, match="--engine must be one of auto, llamacpp, vllm"):
        resolve_engine("tensorrt")
