"""``train`` queue: ``rader.train.run`` trains one retriever. Decodes (dataset, output dir,
checkpoint name, TrainConfig dict), calls :func:`rader_queue.train.service.run_training`, which
writes the ``checkpoints`` row and the loss curve. A redelivered task whose checkpoint is already
``done`` with the same config returns that result instead of training again. A relative output
dir is resolved against the worker's working directory, so the paths recorded in SQL are the
ones the worker really wrote (eval workers elsewhere need absolute, shared paths)."""

from __future__ import annotations

from pathlib import Path

from rader_queue.errors import ConfigError, InputError, TaskFailed
from rader_queue.queue.app import app
from rader_queue.settings import get_settings


@app.task(name="rader.train.run", bind=True, acks_late=True)
def train_task(self, dataset: str, output_dir: str, name: str, config: dict) -> dict:
    from rader_queue.store.models import JobState
    from rader_queue.train.config import TrainConfig, encoding_defaults
    from rader_queue.train.records import checkpoint_by_name
    from rader_queue.train.service import run_training

    db_url = get_settings().db_url
    output_dir = str(Path(output_dir).resolve())
    try:
        cfg = TrainConfig.model_validate({**encoding_defaults(get_settings()), **config})
        existing = checkpoint_by_name(db_url, name)
        if existing and existing["state"] == JobState.DONE \
                and existing["config"].get("dataset") == dataset \
                and {k: existing["config"].get(k) for k in cfg.model_dump()} == cfg.model_dump():
            return {"checkpoint_id": existing["id"], "name": name, "steps": existing["steps"],
                    "adapter_path": existing["adapter_path"],
                    "merged_path": existing["merged_path"], "already_done": True}
        return run_training(cfg, dataset, output_dir, name=name, db_url=db_url)
    except (ConfigError, InputError) as exc:
        raise TaskFailed(f"train {name!r}: {exc}") from exc
