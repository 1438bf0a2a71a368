"""Problem pages of the run report: one ``problems/<id>.html`` per problem.

Pages are independent, so a large run renders them in a process pool: the builder reads tree
rows from SQL in chunks and hands each chunk (plain, picklable records) to :func:`render_chunk`,
which writes the pages and returns what the index and the charts need."""

from __future__ import annotations

import datetime as dt
from collections import namedtuple
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from rader_queue.report.data import ProblemInfo, TreeRows
from rader_queue.report.trees import TreeView, build_tree

RunHeader = namedtuple("RunHeader", "name dataset split")


@dataclass
class PageJob:
    index: int
    total: int
    problem: ProblemInfo
    rows: TreeRows
    prev_id: int | None
    next_id: int | None


@dataclass
class IndexRow:
    id: int
    source_id: str
    position: int
    preview: str
    outcome: str
    failed: bool
    search: str
    nodes: int
    depth: int
    best_reward: float | None
    retrievals: int
    tokens: int
    jobs: list[Any]
    final_rewards: list[float] = field(default_factory=list)


def bucket(value: float | None) -> int:
    """Colour class 0..10 of a value in [0, 1] (red → green)."""
    if value is None or value != value:
        return 0
    return int(round(min(1.0, max(0.0, float(value))) * 10))


def _fixed(digits: int) -> Callable[[Any], str]:
    def fmt(value: Any) -> str:
        return "–" if value is None else f"{float(value):.{digits}f}"
    return fmt


@lru_cache(maxsize=1)
def environment() -> Environment:
    """Jinja2 with autoescaping on for every template: all store text is escaped."""
    env = Environment(loader=PackageLoader("rader_queue.report", "templates"), autoescape=True,
                      undefined=StrictUndefined)
    env.globals["bucket"] = bucket
    env.filters.update(bucket=bucket, f2=_fixed(2), f3=_fixed(3))
    return env


def built_at() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def preview(text: str, limit: int = 140) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def outcome(tree: TreeView) -> str:
    if tree.size == 0:
        return "pending"
    return "solved" if tree.solved else "unsolved"


def render_page(out: Path, common: dict[str, Any], job: PageJob) -> IndexRow:
    """Write ``problems/<id>.html`` for one problem and return its index row."""
    problem, tree = job.problem, build_tree(job.rows)
    result = outcome(tree)
    cost = problem.cost
    html = environment().get_template("problem.html.j2").render(
        **common, root="../", problem=problem, tree=tree, outcome=result, cost=cost,
        index=job.index, total=job.total, prev_id=job.prev_id, next_id=job.next_id)
    (out / "problems" / f"{problem.id}.html").write_text(html, encoding="utf-8")
    return IndexRow(
        problem.id, problem.source_id, problem.position, preview(problem.text), result,
        bool(problem.failed_jobs), f"{problem.source_id} {preview(problem.text, 400)}".lower(),
        tree.size, tree.max_depth, tree.best_reward,
        len({r.qg_node_id for r in job.rows.retrievals}), cost.tokens, problem.jobs,
        [s.reward for s in tree.solutions])


def render_chunk(out: Path, common: dict[str, Any], jobs: Sequence[PageJob]) -> list[IndexRow]:
    """Render a chunk of pages (the unit of work of a process-pool worker)."""
    return [render_page(out, common, job) for job in jobs]
