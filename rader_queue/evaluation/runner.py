"""Evaluate one retriever on one benchmark: what ``rader.eval.run`` and ``rader-queue eval run`` do.

1. The model under test encodes the corpus (vectors cached by
   :mod:`rader_queue.retrieval.embedding_cache`, keyed by corpus hash and the encoder's
   fingerprint — weights and encoding spec) and the queries, with the same prefixes, pooling and
   truncation it was trained with; an exact inner-product index (faiss ``IndexFlatIP``, or torch
   on a GPU node without faiss) returns the top ``depth``.
   A base model is cut at its own ``max_seq_length`` unless ``query_max_len``/``passage_max_len``
   say otherwise; with ``instructions`` a BRIGHT split's instruction precedes each query.
   ``model="bm25"`` tokenises like :mod:`rader_queue.retrieval.bm25`; without
   ``bm25_stopwords`` every token is kept and the scores equal plain ``rank_bm25.BM25Okapi``.
2. Optional BM25 hybrid (``hybrid_alpha``) and optional LLM rerank of the top ``rerank_k``
   (by ``rerank_model``, default the generator's model).
3. Each query's excluded ids are removed, pytrec_eval scores the run, and the score files
   (``scores.json`` = ``{qid: {docid: score}}``, ``results.json``) are written under
   ``<out_dir>/<model>/<benchmark>/<config hash>/``.
4. Aggregate and per-query metrics go to ``eval_results`` / ``eval_query_results``, unique by
   (model, benchmark, config hash): re-running the same evaluation rewrites the same rows.

``model`` may be a checkpoint folder, a hub name, or the name of a ``checkpoints`` row.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field, field_validator, model_validator
from sqlalchemy import select

from rader_queue.config_model import StrictConfig

from rader_queue.errors import ConfigError
from rader_queue.evaluation.benchmarks import Benchmark, load_benchmark
from rader_queue.evaluation.fusion import hybrid_run, rerank_run
from rader_queue.evaluation.metrics import DEFAULT_KS, Scores, evaluate
from rader_queue.llm.generator import Generator
from rader_queue.retrieval.bm25 import BM25Retriever, top_k
from rader_queue.retrieval.bright import instruction_prefix
from rader_queue.retrieval.embedding_cache import load_vectors
from rader_queue.retrieval.flat_index import flat_ip_index
from rader_queue.settings import get_settings
from rader_queue.store.db import insert_ignore, session_scope
from rader_queue.store.models import Checkpoint, EvalQueryResult, EvalResult

Run = dict[str, dict[str, float]]


class EvalConfig(StrictConfig):
    config_label = "EvalConfig"

    model: str
    benchmark: str
    depth: Annotated[int, Field(ge=1)] = 1000
    hybrid_alpha: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    rerank_k: Annotated[int, Field(ge=0)] = 0
    rerank_weight: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    ks: Annotated[tuple[int, ...], Field(strict=False)] = DEFAULT_KS   # stored as a JSON list
    batch_size: int = 32
    query_prefix: str | None = None  # overrides of the checkpoint's own encoding spec
    passage_prefix: str | None = None
    query_max_len: int | None = None   # None: the model's own (max_seq_length / trained limits)
    passage_max_len: int | None = None
    bm25_stopwords: bool = False       # False: plain rank_bm25 over every token
    instructions: bool = False         # BRIGHT's per-split query instruction (instruction-tuned models)
    rerank_model: str | None = None    # None: the generator's model
    preset: str | None = None          # recorded only
    precision: str = "bf16"            # GPU encoding: bf16 (fastest), fp16 or fp32 (CPU: fp32)

    @field_validator("ks")
    @classmethod
    def _sorted_ks(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _dense_only_options(self) -> EvalConfig:
        if self.model == "bm25" and self.hybrid_alpha is not None:
            raise ValueError("field 'hybrid_alpha' needs a dense model, not bm25")
        if self.model == "bm25" and self.instructions:
            raise ValueError("field 'instructions' applies to (instruction-tuned) dense models, not bm25")
        return self


@dataclass
class EvalOutcome:
    model: str
    benchmark: str
    config_hash: str
    metrics: dict[str, float]
    per_query: dict[str, dict[str, float]] = field(repr=False, default_factory=dict)
    score_path: str | None = None
    eval_id: int | None = None
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        keep = ("ndcg_cut_10", "recall_10", "map", "mrr_10", "recip_rank", "ndcg_cut_100",
                "recall_100")
        return {"eval_id": self.eval_id, "model": self.model, "benchmark": self.benchmark,
                "config_hash": self.config_hash, "score_path": self.score_path,
                "seconds": round(self.seconds, 2),
                "metrics": {k: round(v, 6) for k, v in self.metrics.items() if k in keep}}


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[-80:] or "x"


def resolve_model(model: str, db_url: str | None = None) -> str:
    """A folder or hub name as given; a ``checkpoints`` name → its merged (else adapter) path."""
    if model == "bm25" or Path(model).exists():
        return model
    try:
        with session_scope(db_url) as s:
            row = s.scalars(select(Checkpoint).where(Checkpoint.name == model)).first()
            if row is not None and (row.merged_path or row.adapter_path):
                return row.merged_path or row.adapter_path
    except Exception:  # no store configured: the name is a hub id
        pass
    return model


def query_texts(bench: Benchmark, cfg: EvalConfig) -> list[str]:
    """The queries as the encoder sees them (before its own prefix): with ``instructions``,
    BRIGHT's instruction of the benchmark's split in front."""
    if not cfg.instructions:
        return list(bench.queries.values())
    if not bench.split:
        raise ConfigError(f"--instructions needs a BRIGHT benchmark; {bench.name} has no split")

    prefix = instruction_prefix(bench.split)
    return [prefix + q for q in bench.queries.values()]


def native_max_len(model: str) -> int | None:
    """A base model's own ``max_seq_length`` (sentence-transformers config), else None: a
    checkpoint's trained limits live in its encoder metadata and win anyway."""
    from rader_queue.train.model import ENCODER_META, resolve_model_path

    folder = Path(model) if Path(model).is_dir() else Path(resolve_model_path(model))
    if not folder.is_dir() or any((folder / sub / ENCODER_META).exists() for sub in ("", "merged", "adapter")):
        return None
    config = folder / "sentence_bert_config.json"
    try:
        value = json.loads(config.read_text()).get("max_seq_length") if config.is_file() else None
    except (OSError, json.JSONDecodeError):
        return None
    return int(value) if isinstance(value, int) and value > 0 else None


def _dense_run(bench: Benchmark, encoder, cfg: EvalConfig) -> Run:
    vectors = load_vectors(bench.corpus, encoder, cache_dir=get_settings().cache_dir)
    index = flat_ip_index(vectors)
    qids = list(bench.queries)
    q = encoder.encode_queries(query_texts(bench, cfg), batch_size=cfg.batch_size)
    extra = max((len(v) for v in bench.excluded.values()), default=0)
    scores, rows = index.search(np.ascontiguousarray(q, dtype=np.float32),
                                min(len(bench.corpus), cfg.depth + extra))
    ids = bench.corpus.ids
    run: Run = {}
    for qi, qid in enumerate(qids):
        drop = set(bench.excluded.get(qid, ()))
        hits = [(ids[r], float(s)) for r, s in zip(rows[qi], scores[qi]) if r >= 0 and ids[r] not in drop]
        run[qid] = dict(hits[:cfg.depth])
    return run


def _bm25_run(bench: Benchmark, depth: int, stopwords: bool = False) -> Run:
    bm25 = BM25Retriever(bench.corpus, cache_dir=get_settings().cache_dir, stopwords=stopwords)
    ids = bench.corpus.ids
    run: Run = {}
    for qid, text in bench.queries.items():
        excl = bm25.excluded_positions(bench.excluded.get(qid, ()))
        run[qid] = {ids[i]: s for i, s in top_k(bm25.scores(text), depth, excl)}
    return run


def run_eval(cfg: EvalConfig, *, db_url: str | None = None, out_dir: str | Path | None = None,
             encoder=None, generator=None, benchmark: Benchmark | None = None,
             record: bool = True) -> EvalOutcome:
    """Evaluate, write score files and (``record``) store the results in SQL."""
    started = time.monotonic()
    bench = benchmark or load_benchmark(cfg.benchmark)
    config: dict[str, Any] = cfg.model_dump(mode="json") | {"benchmark_hash": bench.corpus.content_hash}
    config.pop("model"), config.pop("benchmark")
    if cfg.model == "bm25":
        run = _bm25_run(bench, cfg.depth, cfg.bm25_stopwords)
    else:
        if encoder is None:
            from rader_queue.train.model import load_encoder

            path = resolve_model(cfg.model, db_url)
            native = native_max_len(path)
            encoder = load_encoder(path, precision=cfg.precision, query_prefix=cfg.query_prefix,
                                   passage_prefix=cfg.passage_prefix,
                                   query_max_len=cfg.query_max_len or native,
                                   passage_max_len=cfg.passage_max_len or native)
        config["model_fingerprint"] = encoder.fingerprint
        run = _dense_run(bench, encoder, cfg)
        if cfg.hybrid_alpha is not None:
            run = hybrid_run(run, _bm25_run(bench, cfg.depth, cfg.bm25_stopwords), cfg.hybrid_alpha)
    ratings = None
    if cfg.rerank_k:
        own = generator is None
        if own:                      # the ``rerank`` stage's endpoint (RADER_STAGE_ENDPOINTS)
            settings = get_settings()
            generator = Generator(settings, endpoint=settings.endpoint_for("rerank"),
                                  model=cfg.rerank_model)
        doc_text = {d.doc_id: d.full_text for d in bench.docs}
        try:
            run, ratings = asyncio.run(rerank_run(run, bench.queries, doc_text, generator,
                                                  k=cfg.rerank_k, weight=cfg.rerank_weight))
        finally:
            if own:
                generator.close()
        config["generator"] = getattr(generator, "model", type(generator).__name__)
    config_hash = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()
    scores: Scores = evaluate(bench.qrels, run, ks=cfg.ks, excluded=bench.excluded)
    folder = Path(out_dir or Path("outputs") / "eval") / slug(cfg.model) / slug(bench.name) \
        / config_hash[:12]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scores.json").write_text(json.dumps(run))
    (folder / "results.json").write_text(json.dumps(
        {"model": cfg.model, "benchmark": bench.describe(), "config": config,
         "aggregate": scores.aggregate, "per_query": scores.per_query}, indent=1, default=str))
    if ratings is not None:
        (folder / "llm_ratings.json").write_text(json.dumps(ratings))
    outcome = EvalOutcome(cfg.model, bench.name, config_hash, scores.aggregate, scores.per_query,
                          str(folder / "scores.json"))
    if record:
        outcome.eval_id = record_eval(db_url, outcome, config)
    outcome.seconds = time.monotonic() - started
    return outcome


def record_eval(db_url: str | None, outcome: EvalOutcome, config: dict[str, Any]) -> int:
    """Upsert the aggregate row and its per-query rows (idempotent). A repeat whose numbers
    differ (an LLM reranker need not be bit-for-bit deterministic) rewrites both, so the
    aggregate stays the mean of the per-query rows."""
    key = (EvalResult.model == outcome.model, EvalResult.benchmark == outcome.benchmark,
           EvalResult.config_hash == outcome.config_hash)
    with session_scope(db_url) as s:
        insert_ignore(s, EvalResult, [{"model": outcome.model, "benchmark": outcome.benchmark,
                                       "config": json.loads(json.dumps(config, default=str)),
                                       "config_hash": outcome.config_hash,
                                       "metrics": outcome.metrics,
                                       "score_path": outcome.score_path}],
                      ["model", "benchmark", "config_hash"])
        row = s.scalars(select(EvalResult).where(*key)).one()
        row.metrics, row.score_path = outcome.metrics, outcome.score_path
        s.flush()
        insert_ignore(s, EvalQueryResult, [{"eval_id": row.id, "query_id": qid, "metrics": m}
                                           for qid, m in outcome.per_query.items()],
                      ["eval_id", "query_id"])
        for stored in s.scalars(select(EvalQueryResult).where(EvalQueryResult.eval_id == row.id)):
            metrics = outcome.per_query.get(stored.query_id)
            if metrics is not None and stored.metrics != metrics:
                stored.metrics = metrics
        return row.id
