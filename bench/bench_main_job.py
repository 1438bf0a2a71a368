"""Wall time of the README's main job (``rader-queue run CHAMP --limit 3``), run exactly as the
README prints it in a fresh directory with no RADER_* variables and no hub access, plus the
embedded server's single-stream throughput at 1, cores-1 and cores llama.cpp threads (what
decides most of the main job's time on a small machine).

The machine's load (1-minute load average before and after, and the CPU count) is printed with
every number: on a shared box the times say as much about the neighbours as about the code.

    python bench/bench_main_job.py                     # both parts
    python bench/bench_main_job.py --skip-main-job     # only the thread comparison
    python bench/bench_main_job.py --extra-args "--through eval --all-rewards"
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llm_throughput import generator, llamacpp, measure  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402


def load() -> float:
    return os.getloadavg()[0]


def readme_main_job() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## The main job"):]
    line = next(l.strip() for l in section.splitlines() if l.strip().startswith("rader-queue run "))
    return shlex.split(line)[1:]


def time_main_job(extra: list[str]) -> tuple[float, int, float, float, str]:
    with tempfile.TemporaryDirectory(prefix="rader-main-job-") as where:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RADER_", "HF_"))}
        env |= {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "RADER_CACHE_DIR": str(Path(where) / "cache")}
        before = load()
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "rader_queue.cli.main",
                               *readme_main_job(), *extra], cwd=where, env=env,
                              capture_output=True, text=True)
        wall = time.monotonic() - started
        tail = "\n".join(proc.stdout.strip().splitlines()[-9:])
        return wall, proc.returncode, before, load(), tail


def tokens_per_s(threads: int, requests: int, max_tokens: int) -> float:
    """One request at a time (a single stream) to the embedded server with ``threads`` threads."""
    with llamacpp(threads) as (base_url, model):
        return asyncio.run(measure(generator(base_url, model), requests, 1, max_tokens))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-main-job", action="store_true")
    parser.add_argument("--skip-threads", action="store_true")
    parser.add_argument("--requests", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--extra-args", default="", help="appended to the main job's command")
    args = parser.parse_args()
    console = Console()
    cores = len(os.sched_getaffinity(0))
    console.print(f"{cores} cores; 1-min load average now {load():.2f}")
    if not args.skip_threads:
        from rader_queue.llm.embedded_server import default_threads

        table = Table("llama.cpp threads", "tokens/s (1 stream)", "ratio to 1 thread", "load",
                      title="embedded server, SmolLM2-135M Q4_1", title_justify="left")
        base = None
        for threads in sorted({1, max(1, cores - 1), cores}):
            rate = tokens_per_s(threads, args.requests, args.max_tokens)
            base = base or rate
            mark = " (default)" if threads == default_threads(cores) else ""
            table.add_row(f"{threads}{mark}", f"{rate:.1f}", f"{rate / base:.2f}", f"{load():.2f}")
        console.print(table)
    if not args.skip_main_job:
        extra = shlex.split(args.extra_args)
        wall, code, before, after, tail = time_main_job(extra)
        table = Table("command", "wall s", "exit", "load before", "load after",
                      title="the README's main job", title_justify="left")
        table.add_row(" ".join(["rader-queue", *readme_main_job(), *extra]), f"{wall:.0f}",
                      str(code), f"{before:.2f}", f"{after:.2f}")
        console.print(table)
        console.print(tail, markup=False, highlight=False)


if __name__ == "__main__":
    main()
