"""Build, write and submit the jobs of ``rader-queue slurm …``: per-replica model server +
worker group, training, evaluation, services. The CLI (:mod:`rader_queue.cli.slurm_commands`)
only parses options."""

from __future__ import annotations

import json
import re
import secrets
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from rader_queue.errors import ConfigError
from rader_queue.settings import get_settings
from rader_queue.slurm import cluster, render
from rader_queue.slurm.spec import Resources, check_name, job_prefix
from rader_queue.store import session_scope
from rader_queue.store.models import Job as JobRow, JobState, Run


@dataclass
class Job:
    name: str
    script: Path
    text: str


@dataclass
class Plan:
    """Scripts to write and submit, and the settings file they read."""

    directory: Path
    env_file: Path
    env: dict[str, str]
    jobs: list[Job] = field(default_factory=list)
    files: dict[Path, str] = field(default_factory=dict)    # further files the jobs read

    def describe_env(self) -> str:
        names = ", ".join(self.env) or "none"
        return f"settings file {self.env_file} (mode 0600; values not shown): {names}"

    def write(self) -> None:
        (self.directory / "logs").mkdir(parents=True, exist_ok=True)
        render.write_env_file(self.env_file, self.env)
        for path, text in self.files.items():
            path.write_text(text)
        for job in self.jobs:
            job.script.write_text(job.text)
            job.script.chmod(0o750)

    def submit(self, echo: Callable[[str], None] = print) -> list[int]:
        self.write()
        env = render.submit_environ()
        ids = []
        for job in self.jobs:
            job_id = cluster.sbatch(job.script, env, workdir=Path.cwd())
            echo(f"submitted {job.name}: job {job_id} ({job.script})")
            ids.append(job_id)
        return ids


def _plan(directory: Path, name: str, extra_env: dict[str, str] | None = None) -> Plan:
    directory = directory.resolve() / name
    env = {**render.settings_vars(), **(extra_env or {})}
    return Plan(directory, directory / "rader.env", env)


def _header(plan: Plan, resources: Resources, job_name: str, title: str, command: str) -> dict:
    return dict(sbatch=resources.sbatch_lines(job_name, plan.directory / "logs"),
                env_file=plan.env_file, title=title, command=command)


def run_uses_dense(run: str) -> bool:
    """Whether the run retrieves with a dense retriever (then each replica serves the embedder)."""
    with session_scope() as session:
        config = session.scalar(select(Run.config).where(Run.name == run))
        if config is None and session.scalar(select(Run.id).where(Run.name == run)) is None:
            raise ConfigError(f"run {run!r} not found: enqueue it first (rader-queue enqueue … --run {run})")
    retriever = str((config or {}).get("retriever", "dense"))
    return retriever in ("dense", "hybrid")


@dataclass
class ReplicaOptions:
    replicas: int = 1
    gpus: int = 1
    workers: int = 1
    in_flight: int = 64
    queues: str = "mcts,querygen,judge"
    server: str = "vllm"                  # vllm, or simulated (CPU tests)
    model: str | None = None              # what vLLM serves; default RADER_LLM_MODEL
    embedder: str | None = None           # what the embedder replica serves (dense runs)
    server_args: str = ""
    generator_memory: float = 0.80
    embedder_memory: float = 0.10
    drain_grace_s: int = 60
    max_requeues: int = 10
    check_every_s: int = 30
    health_timeout_s: int = 1800


def plan_up(run: str, opts: ReplicaOptions, resources: Resources, directory: Path) -> Plan:
    check_name(run, "run name")
    if opts.replicas < 1 or opts.workers < 1 or opts.in_flight < 1:
        raise ConfigError("--replicas, --workers-per-replica and --in-flight must be at least 1")
    if opts.server not in ("vllm", "simulated"):
        raise ConfigError(f"--server must be vllm or simulated, not {opts.server!r}")
    if opts.server == "vllm" and resources.cpu_only:
        raise ConfigError("--cpu-only needs --server simulated (vLLM serves on GPUs)")
    if opts.drain_grace_s + 15 > resources.signal_lead_s and resources.signal_lead_s:
        raise ConfigError(f"--drain-grace ({opts.drain_grace_s}s) + 15s must fit in --signal-lead "
                          f"({resources.signal_lead_s}s): the workers must be gone before the limit")

    settings = get_settings()
    resources.gpus = 0 if resources.cpu_only else opts.gpus
    plan = _plan(directory, run)
    for i in range(1, opts.replicas + 1):
        name = f"{job_prefix(run)}r{i}"
        text = render.render(
            "replica.sbatch.j2",
            **_header(plan, resources, name, f"rader-queue run {run}: replica {i} of "
                      f"{opts.replicas} (model server + {opts.workers} worker(s))", "slurm up"),
            run=run, job_name=name, server=opts.server, vllm="vllm",
            model=opts.model or settings.llm_model, gpus=max(1, opts.gpus),
            generator_memory=opts.generator_memory, embedder_memory=opts.embedder_memory,
            server_args=opts.server_args,
            health_path="/health" if opts.server == "vllm" else "/v1/models",
            embedder=opts.embedder if opts.server == "vllm" else None,
            workers=opts.workers, in_flight=opts.in_flight, queues=opts.queues,
            drain_grace=opts.drain_grace_s, signal_lead=resources.signal_lead_s,
            max_requeues=opts.max_requeues, check_every=opts.check_every_s,
            health_timeout=opts.health_timeout_s)
        plan.jobs.append(Job(name, plan.directory / f"replica-{i}.sbatch", text))
    return plan


def plan_train(dataset: str, resources: Resources, directory: Path, *, name: str,
               output_dir: Path, train: dict) -> Plan:
    check_name(name, "checkpoint name")
    plan = _plan(directory, f"train-{name}")
    config = plan.directory / "run.json"
    job_name = f"rader-train-{name}"
    text = render.render("train.sbatch.j2", **_header(
        plan, resources, job_name, f"rader-queue training of {name} on {dataset} "
        f"({resources.nodes} node(s) x {resources.gpus or 1} process(es))", "slurm train"),
        gpus=max(1, resources.gpus), config=config)
    plan.jobs.append(Job(job_name, plan.directory / "train.sbatch", text))
    plan.files[config] = json.dumps({"dataset": dataset, "output_dir": str(output_dir.resolve()),
                                     "name": name, "train": train}, indent=2)
    return plan


def plan_eval(model: str, benchmark: str, resources: Resources, directory: Path,
              extra: list[str]) -> Plan:
    label = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{Path(model).name}-{benchmark}").strip("-")[:48]
    plan = _plan(directory, f"eval-{label}")
    job_name = f"rader-eval-{label}"
    text = render.render("eval.sbatch.j2", **_header(
        plan, resources, job_name, f"rader-queue evaluation of {model} on {benchmark}",
        "slurm eval"), model=model, benchmark=benchmark,
        extra=" ".join(shlex.quote(x) for x in extra))
    plan.jobs.append(Job(job_name, plan.directory / "eval.sbatch", text))
    return plan


def plan_services(resources: Resources, directory: Path, *, redis_port: int, pg_port: int,
                  data_dir: Path) -> Plan:
    previous = _plan(directory, "services")
    carried = {}
    if previous.env_file.exists():       # keep the passwords of an existing data directory
        for line in previous.env_file.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.startswith("RADER_SERVICES_"):
                carried[key] = shlex.split(value)[0] if value else ""
    extra = {"RADER_SERVICES_REDIS_PASSWORD": carried.get("RADER_SERVICES_REDIS_PASSWORD")
             or secrets.token_urlsafe(24),
             "RADER_SERVICES_PG_PASSWORD": carried.get("RADER_SERVICES_PG_PASSWORD")
             or secrets.token_urlsafe(24)}
    plan = _plan(directory, "services", extra)
    resources.gpus = 0
    text = render.render("services.sbatch.j2", **_header(
        plan, resources, "rader-services", "rader-queue services: Redis and PostgreSQL",
        "slurm services"), data_dir=data_dir.resolve(), redis_port=redis_port,
        pg_port=pg_port, urls_file=plan.directory / "urls.txt")
    plan.jobs.append(Job("rader-services", plan.directory / "services.sbatch", text))
    return plan


def remaining(run: str) -> int:
    """Jobs of ``run`` not finished yet (queued or running)."""
    with session_scope() as session:
        run_id = session.scalar(select(Run.id).where(Run.name == run))
        if run_id is None:
            raise ConfigError(f"run {run!r} not found")
        return int(session.scalar(select(func.count()).select_from(JobRow).where(
            JobRow.run_id == run_id, JobRow.state.in_([JobState.QUEUED, JobState.RUNNING]))) or 0)
