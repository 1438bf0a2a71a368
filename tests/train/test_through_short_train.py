"""`run … --through train|eval` trains on whatever a small run produced: since rows are one per
query (positives merged), a 3-problem run can leave fewer rows than SHORT_TRAIN's batch of 4."""

from __future__ import annotations

import pytest

from rader_queue.errors import ConfigError
from rader_queue.cli.through import SHORT_TRAIN, short_train_config
from rader_queue.train.config import TrainConfig
from rader_queue.train.trainer import train

pytestmark = [pytest.mark.model, pytest.mark.slow]    # trains MiniLM on CPU


def test_short_train_fits_a_one_row_dataset(tmp_path, tiny_rows):
    from rader_queue.train.data import write_jsonl

    one = write_jsonl(tmp_path / "one.jsonl", tiny_rows[:1])
    fixed = TrainConfig.model_validate(dict(SHORT_TRAIN) | {"max_steps": 2})
    with pytest.raises(ConfigError, match="cannot fill one batch of 4"):   # the CI failure
        train(fixed, one, tmp_path / "fixed", save=False)
    cut = TrainConfig.model_validate(short_train_config(1) | {"max_steps": 2})
    assert cut.per_device_batch_size == 1
    result = train(cut, one, tmp_path / "cut", save=False)
    assert result.steps == 2 and all(loss == loss for _, loss, _ in result.losses)   # no NaN
    assert short_train_config(50)["per_device_batch_size"] == SHORT_TRAIN["per_device_batch_size"]
