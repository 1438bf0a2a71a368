"""``rader-queue llm check``: probe an OpenAI-compatible endpoint once and say what it honours.

Each probe is one or two small requests (a few tokens); the answers are facts about the server,
not about the model's quality:

* models served (``/v1/models``) and the server version (``/version``, vLLM only);
* ``n``: does one request with ``n=2`` return two choices (vLLM) or one (llama.cpp)?
* ``seed``: do two sampled requests with the same seed return the same text?
* structured outputs: for each dialect of :mod:`rader_queue.llm.structured`, is a verdict
  reply constrained (``honoured``), answered freely (``ignored``) or refused (``rejected``)?
* embeddings (``/v1/embeddings``, on ``embedder_url``): the vector dimension.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from rader_queue.llm.structured import DIALECTS, VERDICT

PROMPT = [{"role": "user", "content": "Write one short sentence about the sea."}]


@dataclass
class Probe:
    base_url: str
    server: str = "unknown"
    models: list[str] = field(default_factory=list)
    model: str | None = None
    n_choices: str = "-"
    seed: str = "-"
    dialects: dict[str, str] = field(default_factory=dict)
    embeddings: str = "-"
    embedder_url: str | None = None

    @property
    def recommended_dialect(self) -> str:
        return next((d for d, verdict in self.dialects.items() if verdict == "honoured"), "off")

    def rows(self) -> list[tuple[str, str]]:
        rows = [("endpoint", self.base_url), ("server", self.server),
                ("models served", ", ".join(self.models) or "none"),
                ("model probed", self.model or "-"), ("n=2 in one request", self.n_choices),
                ("same seed, same text", self.seed)]
        rows += [(f"structured outputs: {d}", v) for d, v in self.dialects.items()]
        rows += [("RADER_LLM_STRUCTURED_OUTPUTS", self.recommended_dialect),
                 (f"embeddings ({self.embedder_url or self.base_url})", self.embeddings)]
        return rows


def _error(exc: Exception | httpx.Response) -> str:
    if isinstance(exc, httpx.Response):
        return f"HTTP {exc.status_code}: {exc.text[:80]!r}"
    return f"{type(exc).__name__}: {str(exc)[:80]}"


def probe(base_url: str, *, model: str | None = None, api_key: str = "EMPTY",
          embedder_url: str | None = None, embedder_model: str | None = None,
          timeout_s: float = 120.0) -> Probe:
    """Probe ``base_url`` (ending in /v1); never raises for what the server does."""
    base_url = base_url.rstrip("/")
    result = Probe(base_url, embedder_url=embedder_url)
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(timeout=timeout_s, headers=headers) as client:
        try:
            reply = client.get(base_url.removesuffix("/v1") + "/version")
            if reply.status_code == 200 and isinstance(reply.json().get("version"), str):
                result.server = f"vLLM {reply.json()['version']}"
        except (httpx.HTTPError, ValueError, AttributeError):
            pass
        try:
            reply = client.get(base_url + "/models")
            reply.raise_for_status()
            result.models = [str(m.get("id")) for m in reply.json().get("data", [])]
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            result.models = []
            result.server = f"{result.server} (/models failed: {_error(exc)})"
        result.model = model if model and (model in result.models or not result.models) else (
            result.models[0] if result.models else model)

        def chat(**extra) -> list[str] | str:
            body = {"model": result.model, "messages": PROMPT, "max_tokens": 12,
                    "temperature": 1.0, **extra}
            try:
                reply = client.post(base_url + "/chat/completions", json=body)
            except httpx.HTTPError as exc:
                return _error(exc)
            if reply.status_code != 200:
                return _error(reply)
            try:
                return [c["message"]["content"] or "" for c in reply.json()["choices"]]
            except (ValueError, KeyError, TypeError) as exc:
                return f"malformed reply ({_error(exc)})"

        two = chat(n=2, seed=1)
        result.n_choices = (two if isinstance(two, str) else
                            "yes" if len(two) == 2 else f"no ({len(two)} choice returned)")
        first, second = chat(seed=11), chat(seed=11)
        result.seed = (first if isinstance(first, str) else second if isinstance(second, str)
                       else "yes" if first == second else "no")
        for dialect in DIALECTS:
            if dialect == "off":
                continue
            texts = chat(seed=3, max_tokens=24, **VERDICT.request_fields(dialect))
            if isinstance(texts, str):
                result.dialects[dialect] = f"rejected ({texts})"
            else:
                result.dialects[dialect] = ("honoured" if all(VERDICT.honoured_by(t) for t in texts)
                                            else "ignored")
        result.embeddings = _embeddings(client, (embedder_url or base_url).rstrip("/"),
                                        embedder_model or result.model)
    return result


def _embeddings(client: httpx.Client, url: str, model: str | None) -> str:
    try:
        reply = client.post(url + "/embeddings", json={"model": model, "input": ["a probe"]})
    except httpx.HTTPError as exc:
        return f"not served ({_error(exc)})"
    if reply.status_code != 200:
        return f"not served ({_error(reply)})"
    try:
        return f"dimension {len(reply.json()['data'][0]['embedding'])}"
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return f"malformed reply ({_error(exc)})"
