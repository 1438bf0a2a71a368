"""``rader-queue llm check`` against the embedded llama.cpp server (its vLLM counterpart is in
tests/vllm/test_engine.py): what the probe reports is what the server does."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rader_queue.llm.embedded_server import embedded_server



def _rows(output: str) -> dict[str, str]:
    return {line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in output.splitlines() if line.count("│") >= 3}


@pytest.mark.model
@pytest.mark.slow
def test_llm_check_tells_what_llamacpp_honours(monkeypatch):
    from rader_queue.cli.llm_commands import llm_app
    from rader_queue.settings import get_settings

    monkeypatch.delenv("RADER_EMBEDDER_BASE_URL", raising=False)
    get_settings.cache_clear()
    with embedded_server(port=0, n_ctx=1024) as server:
        out = CliRunner().invoke(llm_app, ["check", "--base-url", server.base_url],
                                 terminal_width=200)
        # the endpoint a stage talks to (RADER_STAGE_ENDPOINTS), not the default one
        monkeypatch.delenv("RADER_LLM_BASE_URL", raising=False)
        monkeypatch.setenv("RADER_ENDPOINTS", json.dumps(
            {"judge32b": {"base_url": server.base_url, "model": server.model}}))
        monkeypatch.setenv("RADER_STAGE_ENDPOINTS", '{"judge": "judge32b"}')
        get_settings.cache_clear()
        by_stage = CliRunner().invoke(llm_app, ["check", "--stage", "judge"], terminal_width=200)
    assert by_stage.exit_code == 0, by_stage.output
    assert f"judge32b endpoint, {server.base_url}" in by_stage.output
    assert _rows(by_stage.output)["models served"] == server.model
    assert out.exit_code == 0, out.output
    rows = _rows(out.output)
    assert rows["server"] == "unknown"                 # no /version endpoint
    assert rows["models served"] == server.model
    assert rows["n=2 in one request"].startswith("no (1 choice")     # the generator fans out
    assert rows["same seed, same text"] == "yes"
    assert rows["structured outputs: llamacpp"] == "honoured"
    assert rows["structured outputs: vllm"] == "ignored"
    assert rows["RADER_LLM_STRUCTURED_OUTPUTS"] == "llamacpp"
    assert any(k.startswith("embeddings") and v.startswith("not served") for k, v in rows.items())


def test_llm_check_without_an_endpoint_says_what_to_set(monkeypatch):
    from rader_queue.cli.llm_commands import llm_app
    from rader_queue.settings import get_settings

    monkeypatch.delenv("RADER_LLM_BASE_URL", raising=False)
    get_settings.cache_clear()
    out = CliRunner().invoke(llm_app, ["check"])
    assert out.exit_code != 0 and "RADER_LLM_BASE_URL" in out.output


def test_llm_check_names_an_unknown_endpoint(monkeypatch):
    from rader_queue.cli.llm_commands import llm_app
    from rader_queue.settings import get_settings

    monkeypatch.setenv("RADER_ENDPOINTS", '{"judge32b": {"base_url": "http://127.0.0.1:9/v1", "model": "m"}}')
    get_settings.cache_clear()
    out = CliRunner().invoke(llm_app, ["check", "--endpoint", "nope"])
    assert out.exit_code != 0 and "no endpoint named 'nope' in RADER_ENDPOINTS" in out.output
    both = CliRunner().invoke(llm_app, ["check", "--endpoint", "judge32b", "--stage", "judge"])
    assert both.exit_code != 0 and "not both" in both.output
