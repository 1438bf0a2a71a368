"""A real one-node Slurm cluster for tests: munged, slurmctld and slurmd from a generated
slurm.conf on free loopback ports, state and spool under a temporary folder, stopped by PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from rader_queue.ports import free_port

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol")

CONF = """\
ClusterName=radertest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
AuthInfo=socket={root}/munge/sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
KillWait={kill_wait}
# A loaded test machine can take over a minute to end a job's processes; a node drained for
# "Kill task failed" would hold every later job.
UnkillableStepTimeout=180
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
NodeName={host} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def missing() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None]


class LocalSlurm:
    def __init__(self, root: Path, kill_wait: int = 30) -> None:
        self.root = root
        self.kill_wait = kill_wait
        self.procs: list[subprocess.Popen] = []
        self.conf = root / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def _start(self, argv: list[str], log: str) -> subprocess.Popen:
        out = open(self.root / "log" / log, "ab")
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **self.env}, start_new_session=True)
        self.procs.append(proc)
        return proc

    def start(self, timeout: float = 60.0) -> None:
        for sub in ("state", "spool", "log", "munge"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        munge = self.root / "munge"
        munge.chmod(0o755)
        key = munge / "key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self.conf.write_text(CONF.format(host=socket.gethostname(), root=self.root,
                                         ctld_port=free_port(), slurmd_port=free_port(),
                                         kill_wait=self.kill_wait))
        self._start(["munged", "--force", "-F", f"--socket={munge}/sock", f"--key-file={key}",
                     f"--pid-file={munge}/pid", f"--seed-file={munge}/seed",
                     f"--log-file={self.root}/log/munged.log"], "munged.out")
        self._wait(lambda: (munge / "sock").exists(), timeout, "munged socket")
        self._start(["slurmctld", "-D", "-i"], "slurmctld.out")
        self._start(["slurmd", "-D"], "slurmd.out")
        self._wait(self._idle, timeout, "the node to be idle")

    def _idle(self) -> bool:
        out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True,
                             env={**os.environ, **self.env})
        return out.returncode == 0 and out.stdout.strip() in ("idle", "mix", "alloc")

    def _wait(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args[0]} exited {proc.returncode} (logs in {self.root}/log)")
            time.sleep(0.3)
        raise RuntimeError(f"timed out waiting for {what} (logs in {self.root}/log)")

    def run(self, *argv: str) -> str:
        return subprocess.run(list(argv), capture_output=True, text=True, check=True,
                              env={**os.environ, **self.env}).stdout

    def squeue(self) -> list[str]:
        return [l for l in self.run("squeue", "-h", "-o", "%i %j %T").splitlines() if l.strip()]

    def job_state(self, job_id: int) -> str:
        out = self.run("scontrol", "show", "job", str(job_id))
        for part in out.split():
            if part.startswith("JobState="):
                return part.split("=", 1)[1]
        return "?"

    def node_idle(self) -> bool:
        """The node runs nothing and is not completing a job (sinfo state ``idle``)."""
        return self.run("sinfo", "-h", "-o", "%t").strip() == "idle"

    def describe(self, job_id: int) -> str:
        """What the controller says of a job and the node, and its log's tail: for a failure."""
        parts = []
        for argv in (("scontrol", "show", "job", str(job_id)), ("sinfo", "-R"), ("sinfo", "-N", "-l")):
            try:
                parts.append(f"$ {' '.join(argv)}\n{self.run(*argv)}")
            except (subprocess.CalledProcessError, OSError) as exc:
                parts.append(f"$ {' '.join(argv)}: {exc}")
        log = self.root / "log" / "slurmctld.log"
        if log.exists():
            parts.append("--- slurmctld.log tail ---\n" + log.read_text(errors="replace")[-3000:])
        return "\n".join(parts)

    def stop(self) -> None:
        # Jobs first (their processes are children of slurmd's steps), then the daemons by PID.
        try:
            ids = [l.split()[0] for l in self.squeue()]
            if ids:
                subprocess.run(["scancel", *ids], env={**os.environ, **self.env}, timeout=30)
        except Exception:  # noqa: BLE001 - the controller may be gone already
            pass
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
