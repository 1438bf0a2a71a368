"""Models × benchmarks comparison from the ``eval_results`` table (the latest result of each
pair), as data and as a rich table with nDCG@10 and Recall@10 (×100).

A model evaluated with BM25 fusion or LLM reranking is its own row (``NAME +bm25 α=0.5``,
``NAME +rerank@20 w=0.5``), so the variants and the plain model are compared side by side."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from sqlalchemy import select

from rader_queue.store.db import session_scope
from rader_queue.store.models import EvalResult

DEFAULT_METRICS = ("ndcg_cut_10", "recall_10")
LABELS = {"ndcg_cut_10": "nDCG@10", "recall_10": "R@10", "map": "MAP", "mrr_10": "MRR@10"}


def label(model: str, config: dict | None) -> str:
    """The row name of an evaluation: the model, plus its hybrid / rerank settings if any."""
    config = config or {}
    name = model
    if config.get("hybrid_alpha") is not None:
        name += f" +bm25 α={float(config['hybrid_alpha']):g}"
    if config.get("rerank_k"):
        name += f" +rerank@{int(config['rerank_k'])} w={float(config.get('rerank_weight', 0.5)):g}"
    return name


def collect(db_url: str | None = None, *, models: Sequence[str] | None = None,
            benchmarks: Sequence[str] | None = None,
            metrics: Sequence[str] = DEFAULT_METRICS) -> dict[str, dict[str, dict[str, float]]]:
    """``{model: {benchmark: {metric: value}}}`` from the most recent row of each pair; the
    model key is :func:`label` (``models`` filters on the plain model name)."""
    with session_scope(db_url) as s:
        stmt = select(EvalResult).order_by(EvalResult.created_at, EvalResult.id)
        if models:
            stmt = stmt.where(EvalResult.model.in_(list(models)))
        if benchmarks:
            stmt = stmt.where(EvalResult.benchmark.in_(list(benchmarks)))
        table: dict[str, dict[str, dict[str, float]]] = {}
        for row in s.scalars(stmt):
            table.setdefault(label(row.model, row.config), {})[row.benchmark] = {
                m: float(row.metrics[m]) for m in metrics if m in (row.metrics or {})}
    return table


def render(data: dict[str, dict[str, dict[str, float]]],
           metrics: Sequence[str] = DEFAULT_METRICS) -> Table:
    benchmarks = sorted({b for per in data.values() for b in per})
    table = Table(title="Retrieval results (×100)")
    table.add_column("model", style="bold")
    for bench in benchmarks:
        table.add_column(f"{bench}\n" + " / ".join(LABELS.get(m, m) for m in metrics),
                         justify="right")
    for model in sorted(data):
        cells = []
        for bench in benchmarks:
            values = data[model].get(bench)
            cells.append("–" if not values else " / ".join(
                f"{100 * values[m]:.1f}" if m in values else "–" for m in metrics))
        table.add_row(model, *cells)
    return table
