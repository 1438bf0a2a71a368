"""What ``rader-queue dataset build`` (and ``run --through dataset``) print about a version."""

from __future__ import annotations

from rich.table import Table

from rader_queue.cli.common import console
from rader_queue.terminal_text import cell


def empty_reason(problems: int, solved: int, all_rewards: bool) -> str:
    """Why the dataset has no row, in one line that says what to change."""
    if all_rewards:
        return (f"no trajectory of the {problems} problems used a retrieved theorem: try more "
                "--rollouts or a larger --limit")
    if solved == 0:
        return (f"0 of {problems} problems reached the gold answer; --all-rewards keeps "
                "unsolved trajectories")
    return (f"{solved} of {problems} problems reached the gold answer, but no solution used a "
            "retrieved theorem; --all-rewards keeps unsolved trajectories")


def print_counts(report) -> None:
    """The row counts of a dataset version by query type, against the paper's Table 9."""
    # the training_data package loads the whole query pipeline (sympy, scipy): not at CLI start
    from rader_queue.training_data.rows import table9

    table = Table("type", "rows", "share", "paper", "pairs", "dropped (overlap)", "judged out",
                  "low reward", "dup/merged", "topped up (short)",
                  title=f"{report.name} v{report.version}" + ("" if report.created else " (unchanged)")
                  + " — share of rows vs the paper's Table 9 (MATH)", title_justify="left")
    for qtype, count, share, paper in table9(report.counts):
        st = report.stats.get(qtype, {})
        table.add_row(cell(qtype), str(count), f"{share:.0%}", f"{paper:.0%}", str(st.get("pairs", 0)),
                      f"{st.get('dropped', 0)} ({st.get('overlap_dropped', 0)})",
                      str(st.get("judge_rejected", 0)), str(st.get("reward_filtered", 0)),
                      f"{st.get('duplicates', 0)}/{st.get('merged', 0)}",
                      f"{st.get('topped_up', 0)} ({st.get('short_of_negatives', 0)})")
    table.add_row("[bold]all[/]", f"[bold]{report.counts.get('all', 0)}[/]", *[""] * 8)
    console.print(table)
    histogram = getattr(report, "negatives_per_row", {}) or {}
    if histogram:
        console.print("negatives per row: " + ", ".join(f"{k}: {v} rows" for k, v in histogram.items()),
                      highlight=False)
    sources = getattr(report, "negative_sources", {}) or {}
    if sources:
        console.print("negative sources: " + ", ".join(f"{k} {v}" for k, v in sources.items()),
                      highlight=False)
    console.print(f"JSONL: {report.jsonl_path}" + (f"\nHugging Face: {report.hf_path}" if report.hf_path else ""),
                  highlight=False)
