"""``rader-queue slurm`` against a real one-node Slurm (slurmctld + slurmd started by the
fixture): replicas with the simulated OpenAI-compatible server standing in for vLLM
(``--cpu-only --server simulated``), scancel mid-run, a time limit with the pre-limit signal.

Each case prints one ``FIGURE <case>: ...`` line (``-s`` shows them)."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from rader_queue.pipeline import build_run_config, enqueue_dataset
from rader_queue.store import session_scope
from rader_queue.store.models import Job, JobState, Run
from tests.process_helpers import ROOT, wait_for
from tests.reliability.conftest import (SMALL_MCTS, figure, job_states, natural_key_duplicates,
                                        run_consistency, wait_states, worker_env)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def _enqueue(run: str, n: int) -> None:
    # A seed of its own per run: the response cache is keyed by prompt and seed, and a run
    # answered from another test's cache would finish before anything could interrupt it.
    seed = int(hashlib.sha256(run.encode()).hexdigest()[:6], 16)
    enqueue_dataset("MATH", split="test", limit=n, run_name=run,
                    config=build_run_config(**SMALL_MCTS, seed=seed), echo=lambda m: None)


def _env(rader_env: dict, cluster, tmp_path: Path, **extra: object) -> dict[str, str]:
    env = {**os.environ, **worker_env(rader_env, RADER_CACHE_DIR=tmp_path / "cache", **extra),
           **cluster.env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return {k: str(v) for k, v in env.items()}


def _up(env: dict[str, str], run: str, tmp_path: Path, *args: str) -> list[int]:
    cmd = [sys.executable, "-m", "rader_queue.cli.main", "slurm", "up", run, "--cpu-only",
           "--server", "simulated", "--cpus", "1", "--check-every", "3",
           "--dir", str(tmp_path / "jobs"), *args]
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return [int(m) for m in re.findall(r"job (\d+)", out.stdout)]


def _logs(tmp_path: Path, run: str) -> str:
    return "".join(p.read_text(errors="replace")
                   for p in sorted((tmp_path / "jobs" / run / "logs").glob("*.out")))


def _running_by_worker(run: str) -> dict[int, str]:
    with session_scope() as s:
        rows = s.execute(select(Job.id, Job.worker).join(Run, Run.id == Job.run_id).where(
            Run.name == run, Job.state == JobState.RUNNING)).all()
    return dict(rows)


def _pid(holder: str | None) -> str:
    """The PID field of a job's holder (``host:pid:machine.random``, rader_queue/queue/lease.py)."""
    parts = (holder or "").split(":")
    return parts[1] if len(parts) > 1 else ""


def _finished(cluster, run: str) -> bool:
    return not [line for line in cluster.squeue() if f"rader-{run}-" in line]


def test_slurm_up_finishes_a_run(slurm_cluster, rader_env, tmp_path):
    run, n = "slurm-e2e", 4
    _enqueue(run, n)
    env = _env(rader_env, slurm_cluster, tmp_path)
    started = time.monotonic()
    ids = _up(env, run, tmp_path, "--replicas", "1", "--workers-per-replica", "2",
              "--in-flight", "2", "--server-args", "--time-scale 0.02", "--time", "15",
              "--signal-lead", "60", "--drain-grace", "10")
    assert len(ids) == 1
    log = tmp_path / "jobs" / run / "logs"
    wait_states(run, {JobState.DONE: n}, 300)
    wait_for(lambda: _finished(slurm_cluster, run), 120, what="the replica job to end")
    text = _logs(tmp_path, run)
    assert "has no unfinished job" in text
    assert re.findall(r"worker \d \(pid \d+\) exited 0", text), text[-3000:]
    assert not {k: v for k, v in run_consistency(run).items() if v}
    assert not any(natural_key_duplicates().values())
    figure("slurm-up", f"{n}/{n} problems done through a Slurm replica in "
           f"{time.monotonic() - started:.0f}s; squeue empty; job state "
           f"{slurm_cluster.job_state(ids[0])}; logs in {log}")


def test_scancel_mid_run_hands_back(slurm_cluster, rader_env, tmp_path):
    run, n = "slurm-cancel", 8
    _enqueue(run, n)
    env = _env(rader_env, slurm_cluster, tmp_path)
    ids = _up(env, run, tmp_path, "--replicas", "2", "--workers-per-replica", "1",
              "--in-flight", "2", "--server-args", "--time-scale 0.3", "--time", "20",
              "--signal-lead", "60", "--drain-grace", "3")
    assert len(ids) == 2
    victim = ids[0]

    def victim_pids() -> set[str]:
        text = (tmp_path / "jobs" / run / "logs" / f"rader-{run}-r1-{victim}.out")
        found = re.findall(r"started \d+ worker\(s\): ([\d ]+)", text.read_text()) if text.exists() else []
        return set(found[-1].split()) if found else set()

    def held_by_victim() -> list[int]:
        pids = victim_pids()
        return [j for j, w in _running_by_worker(run).items() if _pid(w) in pids]

    wait_for(lambda: held_by_victim(), 240, what="a job running on replica 1")
    held = held_by_victim()
    t0 = time.monotonic()
    slurm_cluster.run("scancel", str(victim))

    def handed_back() -> bool:
        running = _running_by_worker(run)
        return all(_pid(running.get(j)) not in victim_pids() for j in held)
    wait_for(handed_back, 120, interval=0.2, what="the victim's jobs handed back")
    back_s = time.monotonic() - t0

    def picked_up() -> bool:
        running = _running_by_worker(run)
        states = job_states(run)
        with session_scope() as s:
            rows = dict(s.execute(select(Job.id, Job.state).where(Job.id.in_(held))).all())
        return all(rows[j] == JobState.DONE or (rows[j] == JobState.RUNNING
                   and _pid(running.get(j)) not in victim_pids())
                   for j in held) or states.get(JobState.DONE, 0) == n
    wait_for(picked_up, 120, interval=0.2, what="the victim's jobs running again elsewhere")
    again_s = time.monotonic() - t0
    wait_states(run, {JobState.DONE: n}, 400)
    wait_for(lambda: _finished(slurm_cluster, run), 120, what="the replica jobs to end")
    text = _logs(tmp_path, run)
    dups = sum(natural_key_duplicates().values())
    with session_scope() as s:
        attempts = {j: a for j, a in s.execute(select(Job.id, Job.attempts).where(Job.id.in_(held)))}
    figure("slurm-scancel", f"{len(held)} job(s) in flight on the cancelled replica handed "
           f"back {back_s:.1f}s and running again {again_s:.1f}s after scancel (the other "
           f"replica's slots were busy until then); {n}/{n} done, {dups} duplicate rows; "
           f"attempts of the handed-back jobs {sorted(attempts.values())}")
    assert dups == 0
    assert not {k: v for k, v in run_consistency(run).items() if v}
    assert "drain: SIGTERM" in text
    assert _running_by_worker(run) == {}


def test_time_limit_drains_before_the_limit(slurm_cluster, rader_env, tmp_path):
    # enough work to outlast the signal (30 s before the 1-minute limit) on a quiet machine:
    # 12 problems, 4 in flight, ~20 s each at time scale 3
    run, n = "slurm-limit", 12
    _enqueue(run, n)
    env = _env(rader_env, slurm_cluster, tmp_path)
    ids = _up(env, run, tmp_path, "--replicas", "1", "--workers-per-replica", "2",
              "--in-flight", "2", "--server-args", "--time-scale 3.0", "--time", "1",
              "--signal-lead", "30", "--drain-grace", "5", "--max-requeues", "0")
    job = ids[0]
    wait_for(lambda: _finished(slurm_cluster, run), 180, interval=1, what="the 1-minute job to end")
    text = _logs(tmp_path, run)
    state = slurm_cluster.job_state(job)
    drained = re.findall(r"worker \d \(pid \d+\) exited 0", text)
    figure("slurm-time-limit", f"job {job}: {state}; {len(drained)}/2 workers drained and "
           f"exited 0 before the limit; running jobs left: {len(_running_by_worker(run))}; "
           f"states {job_states(run)}")
    assert "SIGUSR1 (time limit" in text, text[-3000:]
    assert len(drained) == 2, text[-3000:]
    assert "DUE TO TIME LIMIT" not in text
    assert state == "COMPLETED"
    assert _running_by_worker(run) == {}


@pytest.mark.timeout(1500)        # its own waits add up to 1,320 s on a loaded machine
def test_time_limit_requeues_and_the_run_continues(slurm_cluster, rader_env, tmp_path):
    """The resubmission policy: at the time-limit signal the replica drains, requeues itself
    while the run has work, and its next allocation continues the run to the end."""
    # Slurm sends the time-limit signal up to a minute early, and a handed-back search starts
    # again from its beginning: with a 1-minute limit an allocation could end every time before
    # its ~20 s searches finish (seen: restarts 3-6 made no progress). A 2-minute limit leaves
    # each allocation at least 30 s (4 problems in flight, ~20 s each at time scale 3); 24
    # problems outlast one allocation's at most 90 s.
    run, n = "slurm-requeue", 24
    _enqueue(run, n)
    env = _env(rader_env, slurm_cluster, tmp_path)
    ids = _up(env, run, tmp_path, "--replicas", "1", "--workers-per-replica", "2",
              "--in-flight", "2", "--server-args", "--time-scale 3.0", "--time", "2",
              "--signal-lead", "30", "--drain-grace", "5", "--max-requeues", "6")
    log = tmp_path / "jobs" / run / "logs" / f"rader-{run}-r1-{ids[0]}.out"

    def stamp(pattern: str, last: bool = False) -> float | None:
        import datetime as dt

        text = log.read_text(errors="replace") if log.exists() else ""
        found = re.findall(r"^(\S+Z) rader\[\d+\]: " + pattern, text, re.M)
        if not found:
            return None
        return dt.datetime.fromisoformat(found[-1 if last else 0].replace("Z", "+00:00")).timestamp()

    def release_hold() -> None:
        # A requeued job is held ~2 min (Reason=BeginTime); docs/slurm.md: StartTime=now
        # releases it. The test is about the resubmission policy, not about sitting out holds.
        # Only once its previous allocation has ended on the node: released while that one was
        # still completing, the job was started at once and killed ("Killing non-startable
        # batch job: Job credential revoked", state FAILED) — seen in CI under load.
        requeued = stamp(r"requeueing", last=True)
        if requeued is not None and time.time() - requeued >= 5 and \
                slurm_cluster.job_state(ids[0]) == "PENDING" and slurm_cluster.node_idle():
            slurm_cluster.run("scontrol", "update", f"JobId={ids[0]}", "StartTime=now")

    wait_for(lambda: stamp(r"requeueing") is not None, 240, interval=1, what="a requeue")

    def restarted() -> bool:
        release_hold()
        return stamp(r".*restart 1") is not None

    def wait_telling(predicate, timeout: float, what: str) -> None:
        try:
            wait_for(predicate, timeout, interval=1, what=what)
        except AssertionError as exc:
            text = log.read_text(errors="replace") if log.exists() else ""
            raise AssertionError(f"{exc}\n{slurm_cluster.describe(ids[0])}\n--- job log tail "
                                 f"---\n{text[-3000:]}") from None

    wait_telling(restarted, 300, what="the requeued job to run")
    back_s = stamp(r".*restart 1") - stamp(r"SIGUSR1")

    def done_releasing_holds() -> bool:
        release_hold()
        return job_states(run).get(JobState.DONE, 0) == n
    wait_telling(done_releasing_holds, 600, what=f"{run}: all done")
    wait_for(lambda: _finished(slurm_cluster, run), 180, what="the replica job to end")
    text = log.read_text(errors="replace")
    restarts = max(int(r) for r in re.findall(r"restart (\d+)", text))
    drained = re.findall(r"worker \d \(pid \d+\) exited 0", text)
    figure("slurm-requeue", f"{n}/{n} done over {restarts + 1} allocations of job {ids[0]}; "
           f"{back_s:.0f}s from the time-limit signal to the requeued job running again "
           f"(its hold released with StartTime=now); {len(drained)} worker exits with 0")
    assert restarts >= 1
    assert "DUE TO TIME LIMIT" not in text
    assert not re.findall(r"worker \d \(pid \d+\) exited [1-9]", text)
    assert not any(natural_key_duplicates().values())
    assert not {k: v for k, v in run_consistency(run).items() if v}
