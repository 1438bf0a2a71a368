"""Named model endpoints and which pipeline stage talks to which.

    RADER_ENDPOINTS='{"gen7b":    {"base_url": "http://gpu1:8000/v1", "model": "Qwen2.5-7B"},
                      "judge32b": {"base_url": "http://gpu2:8000/v1", "model": "Qwen2.5-32B",
                                   "api_key_env": "JUDGE_API_KEY"},
                      "emb":      {"base_url": "http://gpu3:8000/v1", "model": "bge-large"}}'
    RADER_STAGE_ENDPOINTS='{"mcts": "gen7b", "querygen": "gen7b", "judge": "judge32b",
                            "rerank": "judge32b", "embed": "emb"}'

Without a map every model stage uses the ``default`` endpoint, the one the single-endpoint
settings describe (``RADER_LLM_BASE_URL``, ``RADER_LLM_MODEL``, ``RADER_LLM_API_KEY`` …), and the
embedder is the one ``RADER_EMBEDDER_*`` describes. A stage may also be mapped to ``default``
explicitly. Unknown stages and endpoint names are refused when the settings are read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

# How an endpoint is told to constrain its output (rader_queue.llm.structured): off, vLLM's
# structured_outputs, the older guided_* fields, or a llama.cpp grammar.
Dialect = Literal["off", "vllm", "vllm-guided", "llamacpp"]

# The stages that call a model: MCTS search (its own summaries and relevance verdicts included),
# query generation, judgements (query verdicts and post-hoc re-judging), evaluation reranking,
# and the embedder of dense retrieval.
ENDPOINT_STAGES: tuple[str, ...] = ("mcts", "querygen", "judge", "rerank", "embed")
DEFAULT_ENDPOINT = "default"


class EndpointConfig(BaseModel):
    """One OpenAI-compatible (or Azure OpenAI) server, as written in ``RADER_ENDPOINTS``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(min_length=1)
    model: str = "default"
    # the name of the environment variable that holds the API key (keys never sit in the map)
    api_key_env: str | None = None
    api: Literal["openai", "azure"] = "openai"
    # None: RADER_LLM_STRUCTURED_OUTPUTS
    structured_outputs: Dialect | None = None
    # None: RADER_LLM_MAX_IN_FLIGHT
    max_in_flight: int | None = Field(None, ge=1)
    # the server's name in the response-cache key (None: its base URL)
    cache_name: str | None = None


@dataclass(frozen=True)
class Endpoint:
    """An endpoint with every value resolved: what a generator or embedder is built from."""

    name: str
    base_url: str | None
    model: str
    api_key: SecretStr
    api: Literal["openai", "azure"]
    azure_api_version: str
    structured_outputs: Dialect
    max_in_flight: int
    cache_endpoint: str | None     # the response-cache key's endpoint identity

    def __repr__(self) -> str:      # never the key
        return f"Endpoint({self.name!r}, base_url={self.base_url!r}, model={self.model!r})"


def resolve(name: str, config: EndpointConfig, *, azure_api_version: str,
            structured_outputs: Dialect, max_in_flight: int) -> Endpoint:
    """``config`` with the defaults filled in from the single-endpoint settings."""
    key = os.environ.get(config.api_key_env, "") if config.api_key_env else ""
    return Endpoint(name=name, base_url=config.base_url, model=config.model,
                    api_key=SecretStr(key or "EMPTY"), api=config.api,
                    azure_api_version=azure_api_version,
                    structured_outputs=config.structured_outputs or structured_outputs,
                    max_in_flight=config.max_in_flight or max_in_flight,
                    cache_endpoint=config.cache_name or config.base_url)


def check_stage_map(endpoints: dict[str, EndpointConfig], stage_map: dict[str, str]) -> None:
    """Refuse a ``default`` entry in the named endpoints, unknown stages and unknown names."""
    if DEFAULT_ENDPOINT in endpoints:
        raise ValueError(f"RADER_ENDPOINTS may not define {DEFAULT_ENDPOINT!r}: that name is the "
                         "endpoint of RADER_LLM_BASE_URL/RADER_LLM_MODEL")
    for stage, name in stage_map.items():
        if stage not in ENDPOINT_STAGES:
            raise ValueError(f"RADER_STAGE_ENDPOINTS names unknown stage {stage!r}; stages are "
                             f"{', '.join(ENDPOINT_STAGES)}")
        if name != DEFAULT_ENDPOINT and name not in endpoints:
            known = ", ".join([DEFAULT_ENDPOINT, *sorted(endpoints)])
            raise ValueError(f"RADER_STAGE_ENDPOINTS maps stage {stage!r} to unknown endpoint "
                             f"{name!r}; RADER_ENDPOINTS defines {known}")
