"""Time ``rader-queue report`` on a large synthetic run (not collected by pytest).

    python -m tests.report.bench_report --problems 1000 --rollouts 16

Creates a scratch PostgreSQL database, stores the trees of N problems through ``write_tree``
(scripted policy), builds the report into a temporary folder, prints the timings and drops the
database again."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rader_queue.report import build_report
from rader_queue.store import upgrade
from tests.conftest import create_pg_database, drop_pg_database
from tests.report.synthetic import make_run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=1000)
    parser.add_argument("--rollouts", type=int, default=16)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database (URL printed)")
    args = parser.parse_args()
    url = create_pg_database("rader_report_bench")
    try:
        upgrade(url)
        started = time.perf_counter()
        failed = tuple(range(7, args.problems, 97))
        info = make_run(url, "bench", args.problems, rollouts=args.rollouts, failed=failed)
        made = time.perf_counter() - started
        nodes = sum(info["nodes"].values())
        print(f"stored {args.problems} problems ({len(info['nodes'])} trees, {nodes} nodes) "
              f"in {made:.1f} s")
        out = args.out or Path(tempfile.mkdtemp(prefix="rader-report-"))
        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
        result = build_report("bench", out, database_url=url)
        if args.profile:
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        print(f"report: {result.problems} problems, {result.nodes} nodes, {len(result.pages)} "
              f"pages, {size / 1e6:.1f} MB, built in {result.seconds:.1f} s → {result.index}")
    finally:
        if args.keep:
            print(f"database kept: {url}")
        else:
            drop_pg_database(url)


if __name__ == "__main__":
    main()
