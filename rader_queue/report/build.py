"""Build the static HTML report of one run from the SQL store.

Layout of the output folder (open ``index.html``; nothing is fetched from a network)::

    index.html            overview, cost ledger, failures, plots, paged/filterable problem list
    datasets.html         rows per query type, sample rows with positive and negatives side by side
    problems/<id>.html    one page per problem: its collapsible MCTS tree and solution paths
    plots/*.png           matplotlib charts
    assets/report.css, assets/report.js

All text from the store (problems, model output, theorems, errors) is HTML-escaped by Jinja2's
autoescaping, and the pages carry a Content-Security-Policy that only allows the report's own
script file."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from rader_queue.report import plots
from rader_queue.report.data import (QUERY_TYPES, ProblemInfo, TreeRows, iter_trees,
                                     load_datasets, load_overview, load_problems, load_training)
from rader_queue.report.pages import (IndexRow, PageJob, RunHeader, built_at, environment,
                                      render_chunk)
from rader_queue.store.db import session_scope
from rader_queue.store.models import JobState


@dataclass
class BuildResult:
    out: Path
    problems: int
    nodes: int
    seconds: float
    pages: list[Path] = field(default_factory=list)

    @property
    def index(self) -> Path:
        return self.out / "index.html"


def _prepare(out: Path) -> None:
    for sub, pattern in (("problems", "*.html"), ("plots", "*.png")):
        (out / sub).mkdir(parents=True, exist_ok=True)
        for stale in (out / sub).glob(pattern):  # pages of a previous build into this folder
            stale.unlink()
    assets = out / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    source = resources.files("rader_queue.report") / "assets"
    for name in ("report.css", "report.js"):
        with resources.as_file(source / name) as path:
            shutil.copyfile(path, assets / name)


def build_report(run_name: str, out: Path, *, database_url: str | None = None,
                 sample_rows: int = 5, chunk: int = 200, workers: int | None = None,
                 progress: Callable[[int, int], None] | None = None) -> BuildResult:
    """Write the report of run ``run_name`` into ``out``.

    Problem pages are rendered by ``workers`` processes while this process reads the next chunk
    of trees from SQL; 1 renders them here. Default: here for runs under 50 problems or
    machines under 4 CPUs, else one process per CPU but one (at most 8).
    ``progress(done, total)`` is called as pages are written."""
    started = time.perf_counter()
    out = Path(out)
    _prepare(out)
    env = environment()
    with session_scope(database_url) as session:
        overview = load_overview(session, run_name)
        run = overview.run
        problems = load_problems(session, run.id)
        datasets = load_datasets(session, run.id, sample_rows)
        training = load_training(session, [d.id for d in datasets])
        common = {"run": RunHeader(run.name, run.dataset, run.split), "built_at": built_at(),
                  "has_datasets": bool(datasets)}
        rows = _render_pages(session, out, common, problems, chunk, workers, progress)
    result = BuildResult(out, len(rows), sum(r.nodes for r in rows), 0.0,
                         [out / "problems" / f"{r.id}.html" for r in rows])
    trees = [r for r in rows if r.nodes]
    final_rewards = [x for r in trees for x in r.final_rewards]
    best_rewards = [r.best_reward or 0.0 for r in trees]
    sizes, depths = [r.nodes for r in trees], [r.depth for r in trees]

    plot_dir = out / "plots"
    charts: list[dict[str, str]] = []

    def chart(file: str | None, alt: str) -> None:
        if file:
            charts.append({"file": file, "alt": alt})

    chart(plots.rewards(plot_dir, final_rewards, best_rewards), "reward distribution")
    chart(plots.tree_shape(plot_dir, sizes, depths), "tree size and depth")
    chart(plots.tokens(plot_dir, [r.tokens for r in rows if r.tokens],
                       {s: c.tokens for s, c in overview.cost_by_stage.items()}), "tokens")
    chart(plots.loss(plot_dir, training.losses), "training loss")
    eval_file, eval_metric = plots.evaluation(
        plot_dir, [(e.model, e.benchmark, e.metrics or {}) for e in training.evals],
        training.run_models)
    chart(eval_file, "evaluation")

    states = list(JobState.ALL) + sorted({s for st in overview.status.stages for s in st.counts}
                                         - set(JobState.ALL))
    summary = {"problems": len(rows), "trees": len(sizes),
               "solved": sum(1 for r in rows if r.outcome == "solved"), "nodes": result.nodes,
               "failures": overview.failures_total}
    index_tpl = env.get_template("index.html.j2")
    (out / "index.html").write_text(index_tpl.render(
        dict(common, run=run), root="", summary=summary, status=overview.status, states=states,
        cost=overview.cost, cost_by_stage=overview.cost_by_stage, per=max(1, len(rows)),
        wall_by_stage=overview.wall_by_stage, wall_per_problem=overview.wall_per_problem,
        failures=overview.failures, failures_total=overview.failures_total, plots=charts,
        datasets=datasets, query_types=_query_types(datasets), training=training,
        eval_metric=eval_metric, rows=rows,
        config_json=json.dumps(run.config, indent=2, sort_keys=True, default=str)),
        encoding="utf-8")
    datasets_page = out / "datasets.html"
    if datasets:
        datasets_page.write_text(env.get_template("datasets.html.j2").render(
            dict(common, run=run), root="", datasets=datasets), encoding="utf-8")
    elif datasets_page.exists():
        datasets_page.unlink()
    result.seconds = time.perf_counter() - started
    return result


def _render_pages(session: Any, out: Path, common: dict[str, Any], problems: list[ProblemInfo],
                  chunk: int, workers: int | None,
                  progress: Callable[[int, int], None] | None) -> list[IndexRow]:
    if workers is None:
        cpus = os.cpu_count() or 1
        workers = 1 if cpus < 4 or len(problems) < 50 else min(8, cpus - 1)
    ids = [p.id for p in problems]
    by_id = {p.id: p for p in problems}
    total, done = len(ids), 0
    batches: Iterator[list[PageJob]] = _batches(iter_trees(session, ids, chunk), by_id, ids,
                                                max(1, chunk // max(1, workers)))
    results: list[list[IndexRow]] = []
    if workers <= 1:
        for batch in batches:
            results.append(render_chunk(out, common, batch))
            done += len(batch)
            if progress:
                progress(done, total)
        return [row for part in results for row in part]
    ctx = multiprocessing.get_context("forkserver" if sys.platform != "win32" else "spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        pending: dict[Future, int] = {}
        slots: list[list[IndexRow] | None] = []
        for batch in batches:
            while len(pending) >= 2 * workers:  # bound the trees held in memory
                done += _collect(pending, slots, wait(pending, return_when=FIRST_COMPLETED).done)
                if progress:
                    progress(done, total)
            pending[pool.submit(render_chunk, out, common, batch)] = len(slots)
            slots.append(None)
        while pending:
            done += _collect(pending, slots, wait(pending, return_when=FIRST_COMPLETED).done)
            if progress:
                progress(done, total)
    return [row for part in slots if part for row in part]


def _collect(pending: dict[Future, int], slots: list, finished: set[Future]) -> int:
    count = 0
    for future in finished:
        slots[pending.pop(future)] = part = future.result()
        count += len(part)
    return count


def _batches(trees: Iterator[tuple[int, TreeRows]], by_id: dict[int, ProblemInfo],
             ids: list[int], size: int) -> Iterator[list[PageJob]]:
    batch: list[PageJob] = []
    for i, (pid, rows) in enumerate(trees):
        batch.append(PageJob(i, len(ids), by_id[pid], rows, ids[i - 1] if i else None,
                             ids[i + 1] if i + 1 < len(ids) else None))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _query_types(datasets: list[Any]) -> list[str]:
    seen = {qt for d in datasets for qt in d.counts}
    return [qt for qt in QUERY_TYPES if qt in seen] + sorted(seen - set(QUERY_TYPES))
