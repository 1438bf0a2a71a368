"""Case 3: PostgreSQL out of reach for 30 s mid-run. The workers reach PostgreSQL through a TCP
proxy the test controls (:mod:`tests.reliability.tcp_proxy`); cutting it drops every
connection and refuses new ones, as a crashed or partitioned database does.

Asserted: during the outage tasks retry with exponential backoff (not a hot loop, not given
up); after it every job finishes; nothing lost; no duplicate rows; no half-written tree (a
problem marked finished without its tree, or a tree without a done job).

Jobs retry 5-10 times in 30 s: with Celery's default retry limit (3, which ``task.retry(
max_retries=None)`` silently means) they would fail for good while still ``running`` in SQL,
with no message left: lost. ``job_runner`` passes an explicit, effectively unbounded limit."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy.engine import make_url

from rader_queue.pipeline import build_run_config, enqueue_dataset
from rader_queue.store.models import JobState
from tests.process_helpers import kill, start_process, wait_for
from tests.reliability.conftest import (SMALL_MCTS, figure, job_states, natural_key_duplicates,
                                        run_consistency, worker_command, worker_env)
from tests.reliability.publish import job_rows, sender
from tests.reliability.tcp_proxy import TcpProxy

N = 8
OUTAGE_S = 30.0
# Retry waits: uniform(0, min(cap, base * 2**retries)) (rader_queue.queue.job_runner.backoff_s);
# the cap is lowered from 120 s so jobs come back within seconds of the restore.
BACKOFF_BASE_S, BACKOFF_CAP_S = 1.0, 10.0
HOT_LOOP = 30     # more retries than this per job in 30 s would mean no backoff at all
# Celery logs "Retry in <countdown>s: <exception repr>" for a retry with an exception (the
# store outage: backoff_s) and "Retry in <countdown>s" for one without (a copy that found its
# job's lease held by another copy defers until that lease ends: lease time + 1-5 s, not backoff).
RETRY_LINE = re.compile(r"Task rader\.mcts\.solve\[mcts-(\d+)\] retry: Retry in ([\d.]+)s(?:: (\w+))?")
JOB_LEASE_S = 60.0      # RADER_JOB_LEASE_S's default (worker_env leaves it)



def retries(log_text: str) -> dict[int, list[tuple[float, str]]]:
    """(countdown, exception name or "" for a lease deferral) of the retries Celery logged, per
    job, in order (Celery's retry count, which sets the backoff, counts both kinds)."""
    out: dict[int, list[tuple[float, str]]] = {}
    for job, countdown, exc in RETRY_LINE.findall(log_text):
        out.setdefault(int(job), []).append((float(countdown), exc))
    return out


@pytest.mark.slow
def test_postgres_unreachable_for_30s(rader_env, sim_llm, own_pg_url, tmp_path, monkeypatch):
    direct = make_url(own_pg_url)
    monkeypatch.setenv("RADER_DATABASE_URL", own_pg_url)     # the test itself: PostgreSQL direct
    with TcpProxy(direct.host or "127.0.0.1", direct.port or 5432) as proxy:
        proxied = direct.set(port=proxy.port).render_as_string(hide_password=False)
        llm = sim_llm(time_scale=0.2, max_batch=64)
        env = worker_env(rader_env, RADER_LLM_BASE_URL=llm, RADER_DATABASE_URL=proxied,
                         RADER_TASK_BACKOFF_BASE_S=BACKOFF_BASE_S,
                         RADER_TASK_BACKOFF_CAP_S=BACKOFF_CAP_S)
        with sender() as send:
            enqueue_dataset("MATH", split="test", limit=N, run_name="db-outage",
                            config=build_run_config(**SMALL_MCTS), echo=lambda m: None, send=send)
        log = tmp_path / "worker.log"
        proc = start_process(worker_command(concurrency=4, name="outage@%h"), env, log)
        try:
            wait_for(lambda: job_states("db-outage", own_pg_url).get(JobState.DONE, 0) >= 1, 180,
                     what="a first finished job", log_path=log)
            at_cut = job_states("db-outage", own_pg_url)
            queued_at_cut = {r["id"] for r in job_rows("db-outage", own_pg_url)
                             if r["state"] == JobState.QUEUED}
            assert at_cut.get(JobState.DONE, 0) <= N - 3, f"too late to cut mid-run: {at_cut}"
            log_before = len(log.read_text(errors="replace"))
            dropped = proxy.cut()
            time.sleep(OUTAGE_S)
            proxy.restore()
            restored = time.monotonic()
            during = log.read_text(errors="replace")[log_before:]
            wait_for(lambda: job_states("db-outage", own_pg_url).get(JobState.DONE, 0) == N, 240,
                     what=f"all {N} jobs done after the outage", log_path=log)
            all_done_s = time.monotonic() - restored
            assert proc.poll() is None, "the worker exited"
        finally:
            kill(proc)
        refused = proxy.refused

    text = log.read_text(errors="replace")
    outage_retries = retries(during)
    all_retries = retries(text)
    rows = job_rows("db-outage", own_pg_url)
    lost = sum(r["state"] != JobState.DONE for r in rows)
    dups = {k: v for k, v in natural_key_duplicates(own_pg_url).items() if v}
    bad = {k: v for k, v in run_consistency("db-outage", own_pg_url).items() if v}
    countdowns = [c for cs in outage_retries.values() for c, exc in cs if exc]
    per_job = max(map(len, outage_retries.values()), default=0)
    figure("db_outage", f"PostgreSQL cut {OUTAGE_S:.0f}s with {at_cut.get(JobState.DONE, 0)}/{N} "
           f"done ({dropped} connections dropped, {refused} refused); {len(countdowns)} retries "
           f"of {len(outage_retries)} jobs during the outage (waits "
           f"{min(countdowns, default=0):.1f}-{max(countdowns, default=0):.1f}s, at most "
           f"{per_job} per job); all done {all_done_s:.0f}s after the restore; {N - lost}/{N} "
           f"finished, {lost} lost, {sum(dups.values())} duplicates, {sum(bad.values())} "
           f"half-written, {sum(r['attempts'] for r in rows)} attempts")
    # Jobs waiting at the cut were consumed during the outage and retried (not dropped or
    # failed); jobs running at the cut were retried when their final transaction failed.
    assert outage_retries, "no task retried during the outage"
    assert queued_at_cut <= set(outage_retries), (queued_at_cut, outage_retries)
    # Exponential backoff with full jitter: the r-th retry waits at most base * 2**r, capped ...
    # (a deferral is no backoff: it waits for the holder's lease, at most the lease + 5 s; under
    # load a retry that waits for a free thread past the visibility timeout is delivered twice)
    for job, cs in all_retries.items():
        for r, (countdown, exc) in enumerate(cs):
            bound = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** r) if exc else JOB_LEASE_S + 5
            assert countdown <= bound + 0.01, (job, r, cs)
    # ... and the waits grew: no hot loop (a retry every few ms would log hundreds).
    assert max(countdowns) > BACKOFF_BASE_S
    assert per_job <= HOT_LOOP
    assert lost == 0
    assert not dups
    assert not bad
