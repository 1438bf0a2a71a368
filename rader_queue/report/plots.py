"""The report's charts, drawn with matplotlib (Agg, no display) into PNG files.

Each function writes one PNG and returns its file name, or None when there is nothing to draw
(no finished trees yet, no training run, no evaluation)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib import colormaps
from matplotlib.figure import Figure

# Metrics preferred for the evaluation chart, in order; the first one present is drawn.
EVAL_METRICS = ("ndcg_cut_10", "ndcg@10", "recall_100", "recall@100", "map")
_COLOR = "#3b6ea8"
_GOLD = "#c9a227"


def _save(fig: Figure, folder: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(folder / name, dpi=90)
    return name


def rewards(folder: Path, final_rewards: Sequence[float], best_rewards: Sequence[float]) -> str | None:
    if not final_rewards:
        return None
    fig = Figure(figsize=(8, 3))
    ax1, ax2 = fig.subplots(1, 2)
    bins = [i / 10 for i in range(11)]
    ax1.hist(final_rewards, bins=bins, color=_COLOR, edgecolor="white")
    ax1.set(title="Reward of every final solution", xlabel="reward", ylabel="solutions")
    ax2.hist(best_rewards, bins=bins, color=_GOLD, edgecolor="white")
    ax2.set(title="Best reward per problem", xlabel="reward", ylabel="problems")
    return _save(fig, folder, "rewards.png")


def tree_shape(folder: Path, sizes: Sequence[int], depths: Sequence[int]) -> str | None:
    if not sizes:
        return None
    fig = Figure(figsize=(8, 3))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.hist(sizes, bins=min(30, max(5, len(set(sizes)))), color=_COLOR, edgecolor="white")
    ax1.set(title="Tree size", xlabel="nodes", ylabel="problems")
    span = range(min(depths), max(depths) + 2)
    ax2.hist(depths, bins=[d - 0.5 for d in span], color=_COLOR, edgecolor="white")
    ax2.set(title="Tree depth", xlabel="max depth", ylabel="problems")
    ax2.set_xticks(list(span)[:-1])
    return _save(fig, folder, "trees.png")


def tokens(folder: Path, per_problem: Sequence[int], per_stage: dict[str, int]) -> str | None:
    if not per_problem and not per_stage:
        return None
    fig = Figure(figsize=(8, 3))
    ax1, ax2 = fig.subplots(1, 2)
    if per_problem:
        ax1.hist(per_problem, bins=30, color=_COLOR, edgecolor="white")
    ax1.set(title="Tokens per problem", xlabel="prompt + completion tokens", ylabel="problems")
    if per_stage:
        names = list(per_stage)
        ax2.barh(names, [per_stage[n] for n in names], color=_COLOR)
    ax2.set(title="Tokens per stage", xlabel="tokens")
    return _save(fig, folder, "tokens.png")


def loss(folder: Path, curves: dict[str, list[tuple[int, float]]]) -> str | None:
    curves = {name: points for name, points in curves.items() if points}
    if not curves:
        return None
    fig = Figure(figsize=(8, 3))
    ax = fig.subplots()
    for name, points in curves.items():
        ax.plot([s for s, _ in points], [v for _, v in points], label=name[:40])
    ax.set(title="Training loss", xlabel="step", ylabel="loss")
    ax.legend(fontsize="small")
    return _save(fig, folder, "loss.png")


def pick_metric(metric_sets: Sequence[dict]) -> str | None:
    for metric in EVAL_METRICS:
        if any(metric in m for m in metric_sets):
            return metric
    numeric = [k for m in metric_sets for k, v in m.items() if isinstance(v, (int, float))]
    return sorted(numeric)[0] if numeric else None


def evaluation(folder: Path, rows: Sequence[tuple[str, str, dict]],
               highlight: set[str]) -> tuple[str | None, str | None]:
    """Grouped bars: one group per benchmark, one bar per model. Returns (file, metric)."""
    metric = pick_metric([m for _, _, m in rows])
    if metric is None:
        return None, None
    benchmarks = sorted({b for _, b, _ in rows})
    models = sorted({m for m, _, _ in rows})
    values = {(m, b): float(x[metric]) for m, b, x in rows
              if isinstance(x.get(metric), (int, float))}
    fig = Figure(figsize=(8, 3.2))
    ax = fig.subplots()
    width = 0.8 / max(1, len(models))
    cmap = colormaps["tab10"]
    for i, model in enumerate(models):
        xs = [j + i * width for j in range(len(benchmarks))]
        ys = [values.get((model, b), 0.0) for b in benchmarks]
        ax.bar(xs, ys, width, label=("★ " if model in highlight else "") + model[-40:], color=cmap(i % 10))
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(benchmarks))], benchmarks, fontsize="small")
    ax.set(title=f"Evaluation: {metric}", ylabel=metric)
    ax.legend(fontsize="x-small")
    return _save(fig, folder, "eval.png"), metric
