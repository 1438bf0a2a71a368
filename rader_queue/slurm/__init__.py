"""Slurm: model-server replicas with their worker groups, training and evaluation as batch jobs.

* :mod:`~rader_queue.slurm.spec` — what a job asks of Slurm (``#SBATCH`` lines) and where its
  files go;
* :mod:`~rader_queue.slurm.render` — Jinja2 templates (``templates/*.sbatch.j2``) rendered to
  plain bash scripts the user can keep, and the 0600 settings file they read secrets from;
* :mod:`~rader_queue.slurm.cluster` — ``sbatch``/``squeue``/``scancel`` through subprocess.

``docs/slurm.md`` is the walk-through.
"""
