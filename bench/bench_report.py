"""Large runs stay usable: build and open the run report for a small and a large synthetic run,
in one process, and print the ratios.

    python bench/bench_report.py [--small 10] [--problems 1000] [--rollouts 16]

For each size: a scratch PostgreSQL database gets N problems' trees through ``write_tree``
(scripted policy, as ``tests/report`` does), ``rader-queue report`` builds the HTML, and headless
Chromium (Debian's ``chromium``) opens the index and the largest problem page and dumps the DOM
after their scripts ran (paging and filtering included). Wall times include Chromium's start, so
the small run is the baseline the large one is compared with. Databases are dropped at the end."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from rader_queue.report import build_report  # noqa: E402
from rader_queue.store import upgrade  # noqa: E402
from tests.conftest import create_pg_database, drop_pg_database  # noqa: E402
from tests.report import browser  # noqa: E402
from tests.report.synthetic import make_run  # noqa: E402


def timed(fn, *args, repeat: int = 3) -> float:
    """Best wall time of ``repeat`` calls (the machine is shared)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - started)
    return best


def measure(problems: int, rollouts: int) -> dict:
    url = create_pg_database("rader_report_bench")
    try:
        upgrade(url)
        started = time.perf_counter()
        info = make_run(url, "bench", problems, rollouts=rollouts,
                        failed=tuple(range(7, problems, 97)))
        stored = time.perf_counter() - started
        out = Path(tempfile.mkdtemp(prefix="rader-report-"))
        result = build_report("bench", out, database_url=url)
    finally:
        drop_pg_database(url)
    biggest = max(result.pages, key=lambda p: p.stat().st_size)
    row = {"problems": problems, "nodes": sum(info["nodes"].values()), "stored_s": stored,
           "build_s": result.seconds, "mb": sum(p.stat().st_size for p in out.rglob("*")
                                                if p.is_file()) / 1e6,
           "index_kb": result.index.stat().st_size / 1e3, "page_kb": biggest.stat().st_size / 1e3}
    if browser.available():
        row["index_open_s"] = timed(browser.dump_dom, result.index.as_uri())
        row["page_open_s"] = timed(browser.dump_dom, biggest.as_uri())
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=10, help="problems in the baseline run")
    parser.add_argument("--problems", type=int, default=1000, help="problems in the large run")
    parser.add_argument("--rollouts", type=int, default=16)
    args = parser.parse_args()
    small, large = measure(args.small, args.rollouts), measure(args.problems, args.rollouts)
    table = Table(title=f"run report, {args.rollouts} rollouts per problem"
                        + ("" if browser.available() else " (no chromium: open times skipped)"))
    for col in ("figure", f"{args.small} problems", f"{args.problems} problems", "ratio"):
        table.add_column(col)
    rows = [("tree nodes", "nodes", "{:,.0f}"), ("build s", "build_s", "{:.1f}"),
            ("report MB", "mb", "{:.1f}"), ("index kB", "index_kb", "{:,.0f}"),
            ("largest problem page kB", "page_kb", "{:,.0f}"),
            ("open index in Chromium s", "index_open_s", "{:.2f}"),
            ("open largest problem page s", "page_open_s", "{:.2f}")]
    for label, key, fmt in rows:
        if key in small:
            table.add_row(label, fmt.format(small[key]), fmt.format(large[key]),
                          f"{large[key] / small[key]:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
