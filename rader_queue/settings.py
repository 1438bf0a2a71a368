"""The one settings object. Every value comes from the environment (prefix ``RADER_``) or ``.env``.

    RADER_DATABASE_URL   SQL store (default: SQLite file ``rader_queue.db`` in the working dir)
    RADER_BROKER_URL     Celery broker (default ``redis://127.0.0.1:6379/0``)
    RADER_QUEUE_PREFIX   prefix of every Redis key the broker writes (isolates deployments/tests)
    RADER_DATA_DIR       local dataset root (MATH/, MATH500/, GSM8K/, TheoremQA/)
    RADER_CACHE_DIR      on-disk caches (corpus embeddings, BM25 indexes)
    RADER_LLM_*          generator endpoint (OpenAI-compatible or Azure): the ``default`` endpoint
    RADER_ENDPOINTS      more named endpoints (JSON), RADER_STAGE_ENDPOINTS: stage → endpoint
                         name (rader_queue.endpoints; unmapped stages use ``default``)
    RADER_EMBEDDER_*     embedder: in-process model name/path, or a remote /v1/embeddings URL
    RADER_WATCHDOG_*     worker heartbeat period and stall exit (see rader_queue.queue.watchdog)
    RADER_ANSWER_CHECK_* bound, processes and memory of answer checks (rader_queue.answers.pool)

Secrets are ``SecretStr``: they never print (URLs are shown through ``secrets.redact_url``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rader_queue import endpoints as endpoint_map
from rader_queue.endpoints import Dialect, Endpoint, EndpointConfig
from rader_queue.secrets import redact_url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RADER_", env_file=".env", extra="ignore")

    # --- store and queue -------------------------------------------------------------
    database_url: SecretStr = SecretStr("sqlite:///rader_queue.db")
    broker_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    queue_prefix: str = Field("rader:", description="prefix of every broker key in Redis")
    task_hard_time_limit_s: int = 3 * 3600
    visibility_timeout_s: int = 4 * 3600
    task_max_retries: int = 5            # a job fails for good after 1 + this many claims
    job_lease_s: float = 60.0            # a running job's lease, renewed every third of it
    task_backoff_base_s: float = 2.0     # retry waits: uniform(0, min(cap, base * 2**retries))
    task_backoff_cap_s: float = 120.0

    # --- data ------------------------------------------------------------------------
    data_dir: Path = Path("data")
    cache_dir: Path = Path(".rader_cache")

    # --- generator (OpenAI-compatible: vLLM, llama.cpp server, Azure OpenAI) ----------
    llm_base_url: str | None = None
    llm_api_key: SecretStr = SecretStr("EMPTY")
    llm_model: str = "default"
    llm_api: Literal["openai", "azure"] = "openai"
    llm_azure_api_version: str = "2024-06-01"
    llm_max_in_flight: int = 256
    llm_timeout_s: float = 600.0
    llm_max_retries: int = 6
    llm_backoff_base_s: float = 1.0
    llm_backoff_cap_s: float = 60.0
    llm_cache: bool = True
    # n > 1 as n separate requests (true), as one request (false), or learned from the first
    # short reply (unset: the default); see rader_queue.llm.generator
    llm_fanout_n: bool | None = None
    # the endpoint's structured-outputs dialect (rader_queue.llm.structured): off, vllm,
    # vllm-guided, llamacpp; verdict replies are then constrained to their format
    llm_structured_outputs: Dialect = "off"
    embedded_llm_port: int = 8765
    embedded_llm_gguf: Path | None = None

    # --- embedder ----------------------------------------------------------------------
    embedder_model: str = "all-MiniLM-L6-v2"
    embedder_base_url: str | None = None
    embedder_api_key: SecretStr = SecretStr("EMPTY")
    embedder_pooling: Literal["mean", "cls", "eos"] = "mean"
    embedder_normalize: bool = True
    query_prefix: str = ""
    passage_prefix: str = ""
    embedder_max_length: int = 256
    embedder_batch_size: int = 64

    # --- workers -------------------------------------------------------------------------
    problems_in_flight: int = 64
    metrics_port: int | None = None
    # watchdog (rader_queue.queue.watchdog): heartbeat period; a worker with messages waiting,
    # a free slot and nothing received for watchdog_stall_s exits 75 (0: never)
    watchdog_interval_s: float = 5.0
    watchdog_stall_s: float = 120.0
    # issue 13 - answer checking (rader_queue.answers.pool): each equivalence check runs in a
    # worker process under this hard wall-clock bound (past it: "not equivalent", process
    # replaced); processes per worker; address-space cap of each (0: none)
    answer_check_timeout_s: float = Field(5.0, gt=0)
    answer_check_workers: int = Field(2, ge=1)
    answer_check_memory_mb: int = Field(2048, ge=0)

    # --- graceful drain and Slurm (issue 19) ------------------------------------------------
    # on SIGTERM a worker stops taking messages and gives the problems in flight this long to
    # finish before handing them back (rader_queue.queue.drain)
    drain_grace_s: float = 30.0

    # --- delivery guarantees (issue 15; see README "Delivery guarantee") -------------------
    # wall-clock bound of one job's search (asyncio wait_for); then the job fails "timed out"
    job_timeout_s: float = 2 * 3600.0
    # reconciler (rader_queue.queue.reconcile) inside every worker: seconds between passes
    # (0: off); a queued job published longer than reconcile_grace_s ago with no message in
    # the broker is published again
    reconcile_interval_s: float = 60.0
    reconcile_grace_s: float = 45.0
    deadletter_max: int = 10_000         # dead-letter entries kept (oldest dropped)
    # SQL connections per worker process (0: worker concurrency + 4; pool waits are retried)
    db_pool_size: int = 0
    db_pool_timeout_s: float = 30.0
    clock_offset_s: float = 0.0          # test-only: shifts this process's wall clock

    # --- vLLM engine (issue 16: rader_queue.llm.embedded_vllm, scripts/setup_vllm.sh) --------
    vllm_python: Path | None = None      # interpreter of the vLLM virtualenv (default .venv-vllm)
    # the embedded mode's model server (`rader-queue run --engine`): auto takes vLLM's CPU build
    # when its virtualenv exists (the main job ran ~2x faster on 2 cores: bench_generator), else
    # llama.cpp, which the one-command setup installs
    embedded_engine: Literal["auto", "llamacpp", "vllm"] = "auto"
    # remote embedder: ask the server to cut inputs at embedder_max_length tokens (vLLM's
    # truncate_prompt_tokens; it rejects longer inputs otherwise). Off for servers that refuse
    # unknown request fields (OpenAI).
    embedder_truncate_prompt_tokens: bool = True

    # --- issue 18: BRIGHT ------------------------------------------------------------------
    # a local BRIGHT-layout folder (documents/<split>.jsonl, examples/<split>.jsonl) that
    # `bright:<split>` corpora and benchmarks read before the hub; None: <data_dir>/BRIGHT
    bright_dir: Path | None = None

    # --- response cache identity -------------------------------------------------------------
    # the endpoint's name in the response-cache key (default: its base URL). The embedded
    # server listens on a new port every run, so the embedded mode names the model file instead:
    # a re-run or a resumed run replays the same server's answers, never another endpoint's.
    llm_cache_endpoint: str | None = None

    # --- named endpoints per stage (rader_queue.endpoints) -------------------------------
    endpoints: dict[str, EndpointConfig] = Field(default_factory=dict)
    stage_endpoints: dict[str, str] = Field(default_factory=dict)

    # --- issue 17: a worker whose queues call the model (mcts, judge, querygen) refuses to
    # start without a reachable generator endpoint (false: start anyway; its jobs then fail)
    worker_require_generator: bool = True

    @model_validator(mode="after")
    def _check_stage_endpoints(self) -> Settings:
        endpoint_map.check_stage_map(self.endpoints, self.stage_endpoints)
        return self

    def endpoint_for(self, stage: str) -> Endpoint:
        """The endpoint ``stage`` talks to: its entry in ``stage_endpoints``, else ``default``."""
        if stage not in endpoint_map.ENDPOINT_STAGES:
            from rader_queue.errors import ConfigError

            raise ConfigError(f"no model stage {stage!r}; stages are "
                              f"{', '.join(endpoint_map.ENDPOINT_STAGES)}")
        return self.endpoint(self.stage_endpoints.get(stage, endpoint_map.DEFAULT_ENDPOINT))

    def endpoint(self, name: str) -> Endpoint:
        """The named endpoint, resolved; ``default`` is the RADER_LLM_* one."""
        common = dict(azure_api_version=self.llm_azure_api_version,
                      structured_outputs=self.llm_structured_outputs,
                      max_in_flight=self.llm_max_in_flight)
        if name != endpoint_map.DEFAULT_ENDPOINT:
            if name not in self.endpoints:
                from rader_queue.errors import ConfigError

                raise ConfigError(f"no endpoint named {name!r} in RADER_ENDPOINTS")
            return endpoint_map.resolve(name, self.endpoints[name], **common)
        return Endpoint(name=name, base_url=self.llm_base_url, model=self.llm_model,
                        api_key=self.llm_api_key, api=self.llm_api,
                        cache_endpoint=self.llm_cache_endpoint or self.llm_base_url, **common)

    def redacted(self) -> dict:
        """Settings as a dict that is safe to log: secrets masked, URL passwords removed."""
        out = {}
        for name, value in self.model_dump().items():
            if name == "endpoints":
                out[name] = {key: {**cfg, "base_url": redact_url(cfg["base_url"])}
                             for key, cfg in value.items()}
            elif isinstance(value, SecretStr):
                raw = value.get_secret_value()
                out[name] = redact_url(raw) if "://" in raw else "**********"
            else:
                out[name] = str(value) if isinstance(value, Path) else value
        return out

    @property
    def db_url(self) -> str:
        return self.database_url.get_secret_value()

    @property
    def broker(self) -> str:
        return self.broker_url.get_secret_value()


@lru_cache(maxsize=1)
def _from_environment() -> Settings:
    return Settings()


_chosen: Settings | None = None


def get_settings() -> Settings:
    """This process's settings: the ones its entry point installed with
    :func:`install_settings`, else read once from the environment. Library code takes settings (or a worker context) as an
    argument where it can; this is for the edges. ``get_settings.cache_clear()`` forgets both
    (tests that change the environment)."""
    return _chosen if _chosen is not None else _from_environment()


def install_settings(settings: Settings) -> Settings:
    """Make ``settings`` this process's settings. Entry points (the CLI, the embedded mode) build
    them once, override values explicitly (``settings.model_copy(update=...)``) and hand them
    here; the environment is never rewritten to reconfigure the process."""
    global _chosen
    _chosen = settings
    return settings


def _forget() -> None:
    global _chosen
    _chosen = None
    _from_environment.cache_clear()


get_settings.cache_clear = _forget      # type: ignore[attr-defined]
