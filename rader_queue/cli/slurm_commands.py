"""``rader-queue slurm …``: model-server replicas with their worker groups, training and
evaluation as Slurm batch jobs (``docs/slurm.md``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from rader_queue.cli.common import console, friendly_errors
from rader_queue.errors import ConfigError

slurm_app = typer.Typer(no_args_is_help=True, help=__doc__)

Partition = Annotated[Optional[str], typer.Option(help="Slurm partition.")]
Account = Annotated[Optional[str], typer.Option(help="Slurm account.")]
Qos = Annotated[Optional[str], typer.Option(help="Slurm QOS.")]
Mem = Annotated[Optional[str], typer.Option(help="Memory per node, e.g. 64G.")]
CpuOnly = Annotated[bool, typer.Option("--cpu-only", help="Drop every GPU request (tests, CPU clusters).")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the scripts; write and submit nothing.")]
Directory = Annotated[Path, typer.Option("--dir", help="Where scripts, the settings file and logs go (a shared file system).")]
SignalLead = Annotated[int, typer.Option(min=0, help="Seconds before the time limit at which the job is told to drain (SIGUSR1).")]
Extra = Annotated[Optional[list[str]], typer.Option("--sbatch", help="A further #SBATCH option, verbatim (repeatable), e.g. --sbatch=--constraint=a100.")]


def _resources(**kwargs):
    from rader_queue.slurm.spec import Resources

    extra = kwargs.pop("extra", None) or []
    return Resources(**kwargs, extra=list(extra))


def _finish(plan, dry_run: bool) -> None:
    if dry_run:
        for job in plan.jobs:
            console.rule(f"{job.script}")
            console.out(job.text, end="", highlight=False)
        for path, text in plan.files.items():
            console.rule(f"{path}")
            console.out(text, highlight=False)
        console.print(plan.describe_env(), markup=False, highlight=False, soft_wrap=True)
        return
    plan.submit(echo=lambda line: console.print(line, markup=False, highlight=False))


@slurm_app.command("up")
@friendly_errors
def up(
    run: Annotated[str, typer.Argument(help="Run name (enqueued already).")],
    replicas: Annotated[int, typer.Option(min=1, help="Model-server replicas: one job each.")] = 1,
    gpus_per_replica: Annotated[int, typer.Option(min=1, help="GPUs of a replica (vLLM tensor parallel size).")] = 1,
    workers_per_replica: Annotated[int, typer.Option(min=1, help="Worker processes of a replica's group.")] = 1,
    in_flight: Annotated[Optional[int], typer.Option(min=1, help="Problems in flight per worker process (default RADER_PROBLEMS_IN_FLIGHT).")] = None,
    queues: Annotated[str, typer.Option(help="Queues the workers consume.")] = "mcts,querygen,judge",
    model: Annotated[Optional[str], typer.Option(help="What vLLM serves (hub id or path; default RADER_LLM_MODEL, also the served name).")] = None,
    embedder: Annotated[Optional[str], typer.Option(help="Embedding model each replica also serves (vLLM --task embed) for dense retrieval; default RADER_EMBEDDER_MODEL when the run retrieves densely.")] = None,
    no_embedder: Annotated[bool, typer.Option("--no-embedder", help="Serve no embedder (the workers embed in-process or use RADER_EMBEDDER_BASE_URL).")] = False,
    server: Annotated[str, typer.Option(help="vllm, or simulated (the CPU stand-in used by tests).")] = "vllm",
    server_args: Annotated[str, typer.Option(help="Further arguments of the model server, verbatim.")] = "",
    time: Annotated[str, typer.Option("--time", help="Time limit of each job.")] = "1-00:00:00",
    partition: Partition = None,
    account: Account = None,
    qos: Qos = None,
    cpus: Annotated[int, typer.Option(min=1, help="CPUs per replica job.")] = 8,
    mem: Mem = None,
    cpu_only: CpuOnly = False,
    signal_lead: SignalLead = 120,
    drain_grace: Annotated[int, typer.Option(min=1, help="Seconds a draining worker lets its problems finish before handing them back.")] = 60,
    max_requeues: Annotated[int, typer.Option(min=0, help="Times a replica requeues itself at its time limit while the run has work.")] = 10,
    check_every: Annotated[int, typer.Option(min=1, help="Seconds between checks whether the run has finished (then the replica ends).")] = 30,
    directory: Directory = Path("slurm-jobs"),
    extra: Extra = None,
    dry_run: DryRun = False,
) -> None:
    """Submit one job per replica: model server(s) on the allocation, a health wait, then the
    replica's worker group; the job ends when the run has no unfinished job."""
    from rader_queue.settings import get_settings
    from rader_queue.slurm.jobs import ReplicaOptions, plan_up, run_uses_dense
    from rader_queue.slurm.spec import check_name

    check_name(run, "run name")
    resources = _resources(time=time, partition=partition, account=account, qos=qos, cpus=cpus,
                           mem=mem, cpu_only=cpu_only, signal_lead_s=signal_lead, extra=extra)
    settings = get_settings()
    serve_embedder = None
    if server == "vllm" and not no_embedder:
        if embedder or run_uses_dense(run):
            serve_embedder = embedder or settings.embedder_model
    opts = ReplicaOptions(replicas=replicas, gpus=gpus_per_replica, workers=workers_per_replica,
                          in_flight=in_flight or settings.problems_in_flight, queues=queues,
                          server=server, model=model, embedder=serve_embedder,
                          server_args=server_args, drain_grace_s=drain_grace,
                          max_requeues=max_requeues, check_every_s=check_every)
    _finish(plan_up(run, opts, resources, directory), dry_run)


@slurm_app.command("train")
@friendly_errors
def train(
    dataset: Annotated[str, typer.Argument(help="Tevatron JSONL file or a registered dataset name[@version].")],
    name: Annotated[str, typer.Option(help="Checkpoint name (SQL) and job name.")],
    base: Annotated[str, typer.Option(help="Base model: hub id or folder.")] = "all-MiniLM-L6-v2",
    output_dir: Annotated[Optional[Path], typer.Option(help="Checkpoint folder (default outputs/checkpoints/NAME).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="TrainConfig JSON (see rader-queue train --help).")] = None,
    deepspeed: Annotated[Optional[str], typer.Option(help="zero2, zero3 or a DeepSpeed JSON path.")] = None,
    nodes: Annotated[int, typer.Option(min=1, help="Nodes (torchrun on each, rendezvous on the first).")] = 1,
    gpus_per_node: Annotated[int, typer.Option(min=1, help="GPUs per node (one process each).")] = 1,
    time: Annotated[str, typer.Option("--time")] = "1-00:00:00",
    partition: Partition = None,
    account: Account = None,
    qos: Qos = None,
    cpus: Annotated[int, typer.Option(min=1, help="CPUs per node.")] = 8,
    mem: Mem = None,
    cpu_only: CpuOnly = False,
    directory: Directory = Path("slurm-jobs"),
    extra: Extra = None,
    dry_run: DryRun = False,
) -> None:
    """Submit a training job: torchrun across the allocation's GPUs (multi-node with --nodes)."""
    from rader_queue.slurm.jobs import plan_train

    train_cfg: dict = {}
    if config is not None:
        try:
            train_cfg = json.loads(config.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"--config {config}: {exc}") from exc
    train_cfg["base_model"] = base
    if deepspeed:
        train_cfg["deepspeed"] = deepspeed
    resources = _resources(time=time, partition=partition, account=account, qos=qos, cpus=cpus,
                           mem=mem, cpu_only=cpu_only, nodes=nodes, gpus=gpus_per_node,
                           extra=extra)
    plan = plan_train(dataset, resources, directory, name=name,
                      output_dir=output_dir or Path("outputs/checkpoints") / name, train=train_cfg)
    _finish(plan, dry_run)


@slurm_app.command("eval")
@friendly_errors
def evaluate(
    model: Annotated[str, typer.Argument(help="Checkpoint folder or name, hub id, or bm25.")],
    benchmark: Annotated[str, typer.Option("--benchmark", "-b", help="As for rader-queue eval run.")] = "champ",
    gpus: Annotated[int, typer.Option(min=1)] = 1,
    time: Annotated[str, typer.Option("--time")] = "12:00:00",
    partition: Partition = None,
    account: Account = None,
    qos: Qos = None,
    cpus: Annotated[int, typer.Option(min=1)] = 8,
    mem: Mem = None,
    cpu_only: CpuOnly = False,
    directory: Directory = Path("slurm-jobs"),
    extra: Extra = None,
    dry_run: DryRun = False,
    eval_args: Annotated[Optional[list[str]], typer.Argument(help="Further options of rader-queue eval run (after --).")] = None,
) -> None:
    """Submit an evaluation job (rader-queue eval run MODEL -b BENCHMARK on a GPU node)."""
    from rader_queue.slurm.jobs import plan_eval

    resources = _resources(time=time, partition=partition, account=account, qos=qos, cpus=cpus,
                           mem=mem, cpu_only=cpu_only, gpus=gpus, extra=extra)
    _finish(plan_eval(model, benchmark, resources, directory, eval_args or []), dry_run)


@slurm_app.command("services")
@friendly_errors
def services(
    time: Annotated[str, typer.Option("--time")] = "7-00:00:00",
    partition: Partition = None,
    account: Account = None,
    qos: Qos = None,
    cpus: Annotated[int, typer.Option(min=1)] = 4,
    mem: Mem = "16G",
    redis_port: Annotated[int, typer.Option(min=1, max=65535)] = 6379,
    pg_port: Annotated[int, typer.Option(min=1, max=65535)] = 5432,
    data_dir: Annotated[Path, typer.Option(help="Where Redis and PostgreSQL keep their data (shared FS).")] = Path("slurm-jobs/services/data"),
    directory: Directory = Path("slurm-jobs"),
    dry_run: DryRun = False,
) -> None:
    """Start Redis and PostgreSQL inside one long CPU job (clusters without a service node);
    the job's log and slurm-jobs/services/urls.txt give the URLs (passwords in the settings file)."""
    from rader_queue.slurm.jobs import plan_services

    resources = _resources(time=time, partition=partition, account=account, qos=qos, cpus=cpus,
                           mem=mem, cpu_only=True, signal_lead_s=60, gpus=0)
    plan = plan_services(resources, directory, redis_port=redis_port, pg_port=pg_port,
                         data_dir=data_dir)
    _finish(plan, dry_run)
    if not dry_run:
        console.print(f"when it runs: cat {plan.directory / 'urls.txt'}; the passwords are "
                      f"RADER_SERVICES_*_PASSWORD in {plan.env_file}", markup=False)


@slurm_app.command("status")
@friendly_errors
def status(
    run: Annotated[Optional[str], typer.Argument(help="Run name (default: every rader job and run).")] = None,
) -> None:
    """This user's rader jobs in squeue, then the run's progress (rader-queue status)."""
    from rader_queue.cli.status_view import show_status
    from rader_queue.slurm import cluster
    from rader_queue.slurm.spec import job_prefix

    jobs = cluster.squeue(job_prefix(run) if run else "rader-")
    table = Table("job", "name", "state", "elapsed", "limit", "nodes / reason",
                  title="Slurm jobs")
    for job in jobs:
        table.add_row(str(job.job_id), job.name, job.state, job.elapsed, job.time_limit, job.nodes)
    console.print(table if jobs else "no rader jobs in squeue")
    show_status(run)


@slurm_app.command("down")
@friendly_errors
def down(
    run: Annotated[str, typer.Argument(help="Run name.")],
    now: Annotated[bool, typer.Option("--now", help="Plain scancel: every process gets SIGTERM at once, the model server included (problems in flight fail over to other replicas).")] = False,
) -> None:
    """Stop the run's replica jobs. By default only each job script gets SIGTERM: its workers
    drain while the model server still answers, then the job ends."""
    from rader_queue.slurm import cluster
    from rader_queue.slurm.spec import job_prefix

    jobs = cluster.squeue(job_prefix(run))
    running = [j.job_id for j in jobs if j.state == "RUNNING"]
    if now:
        cluster.scancel([job.job_id for job in jobs])
    else:
        cluster.scancel([j.job_id for j in jobs if j.state != "RUNNING"])   # pending: just go
        cluster.scancel(running, signal="TERM", batch=True)
    console.print(f"stopped {len(jobs)} job(s): {' '.join(str(j.job_id) for j in jobs) or '-'}")


@slurm_app.command("remaining", hidden=True)
@friendly_errors
def remaining(run: Annotated[str, typer.Argument()]) -> None:
    """How many of the run's jobs are unfinished (the replica scripts ask)."""
    from rader_queue.slurm.jobs import remaining as count

    console.out(str(count(run)), highlight=False)
