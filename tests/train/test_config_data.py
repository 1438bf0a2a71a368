from __future__ import annotations

import json

import pytest

from rader_queue.errors import ConfigError, InputError
from rader_queue.train.config import TrainConfig, encoding_defaults
from rader_queue.train.data import Collator, GroupDataset, parse_row, read_jsonl
from rader_queue.train.model import load_tokenizer


def test_defaults_follow_recipe_and_settings(monkeypatch):
    from rader_queue.settings import get_settings

    monkeypatch.setenv("RADER_QUERY_PREFIX", "Query: ")
    monkeypatch.setenv("RADER_PASSAGE_PREFIX", "Passage: ")
    get_settings.cache_clear()
    try:
        plain = TrainConfig()           # explicit defaults: no hidden read of the environment
        cfg = TrainConfig.model_validate({**encoding_defaults(get_settings()), "lora_r": 8})
    finally:
        get_settings.cache_clear()
    assert (plain.lora_r, plain.lora_alpha, plain.lora_dropout, plain.temperature) == (16, 64, 0.1, 0.01)
    assert plain.query_max_len >= 512  # long CoT queries are not cut to 32 tokens
    assert (plain.query_prefix, plain.passage_prefix, plain.pooling) == ("", "", "mean")
    assert (cfg.query_prefix, cfg.passage_prefix, cfg.lora_r) == ("Query: ", "Passage: ", 8)
    assert TrainConfig.model_validate(cfg.model_dump()) == cfg


def test_the_settings_defaults_are_the_models_defaults():
    from rader_queue.settings import Settings

    assert encoding_defaults(Settings()) == {k: getattr(TrainConfig(), k) for k in encoding_defaults(Settings())}


def test_a_stored_config_still_loads():
    """A ``checkpoints.config`` row written before the configuration became a pydantic model."""
    stored = {"base_model": "all-MiniLM-L6-v2", "kind": "biencoder", "lora": True, "lora_r": 16,
              "lora_alpha": 64, "lora_dropout": 0.1, "lora_target_modules": None, "temperature": 0.01,
              "train_group_size": 12, "pooling": "mean", "normalize": True, "query_prefix": "",
              "passage_prefix": "", "append_eos": None, "query_max_len": 512, "passage_max_len": 512,
              "pad_to_multiple_of": 16, "per_device_batch_size": 8, "gradient_accumulation_steps": 1,
              "learning_rate": 0.0001, "weight_decay": 0.0, "max_grad_norm": 1.0, "warmup_steps": None,
              "warmup_ratio": 0.1, "epochs": 1, "max_steps": 2, "gradient_checkpointing": False,
              "dataloader_workers": 0, "dropout": None, "bf16": "auto", "seed": 42, "deepspeed": None,
              "save_merged": True, "logging_steps": 1, "trainable_last_layers": None,
              "attn_implementation": None, "preset": None}
    cfg = TrainConfig.model_validate(stored)
    assert cfg.max_steps == 2 and cfg.epochs == 1.0 and cfg.model_dump() == stored
    assert {k: stored.get(k) for k in cfg.model_dump()} == cfg.model_dump()   # workers' done check


def test_wrong_types_name_the_field():
    with pytest.raises(ConfigError, match="'lora_r'"):
        TrainConfig.model_validate({"lora_r": "16"})
    with pytest.raises(ConfigError, match="valid dictionary"):
        TrainConfig.model_validate(["lora_r"])


@pytest.mark.parametrize("field,value", [
    ("temperature", 0.0), ("train_group_size", 1), ("pooling", "max"), ("query_max_len", 4),
    ("lora_dropout", 1.5), ("bf16", "yes"), ("deepspeed", "/no/such.json"), ("max_steps", 0),
    ("per_device_batch_size", 0), ("kind", "colbert"),
])
def test_invalid_values_name_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        TrainConfig(**{field: value})


def test_unknown_field_rejected():
    with pytest.raises(ConfigError, match="unknown field"):
        TrainConfig.model_validate({"learning_rat": 1e-4})


def _row(**over):
    row = {"query_id": "q1", "query": "sum of squares",
           "positive_passages": [{"docid": "p", "title": "T", "text": "pos"}],
           "negative_passages": [{"doc_id": "n1", "text": "neg1"}]}
    row.update(over)
    return row


def test_reader_reports_file_and_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(_row()) + "\n{not json\n")
    with pytest.raises(InputError) as err:
        read_jsonl(path)
    assert err.value.line == 2 and str(path) in str(err.value)


def test_row_without_negatives_is_an_error(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(_row()) + "\n" + json.dumps(_row(negative_passages=[])) + "\n")
    with pytest.raises(InputError, match="negative") as err:
        read_jsonl(path)
    assert err.value.line == 2
    with pytest.raises(InputError, match="positive"):
        parse_row(_row(positive_passages=[]))


def test_group_sampling_seeded_and_replacement_only_when_short():
    many = parse_row(_row(negative_passages=[{"docid": f"n{i}", "text": f"neg{i}"} for i in range(10)]))
    few = parse_row(_row(negative_passages=[{"docid": "a", "text": "A"}, {"docid": "b", "text": "B"}]))
    ds = GroupDataset([many, few], group_size=5, seed=7)
    q, group = ds[0]
    assert group[0] == "T\npos" and len(group) == 5 and len(set(group[1:])) == 4  # no repeats
    assert ds[0] == GroupDataset([many, few], 5, seed=7)[0]                      # reproducible
    epochs = set()
    for e in range(5):
        ds.set_epoch(e)
        epochs.add(tuple(ds[0][1]))
    assert len(epochs) > 1                                                    # resampled per epoch
    _, short = ds[1]
    assert len(short) == 5 and {"A", "B"} <= set(short[1:])                   # all used, topped up


def test_collator_truncates_and_flattens_groups():
    tok = load_tokenizer("all-MiniLM-L6-v2")
    cfg = TrainConfig(train_group_size=3, query_max_len=16, passage_max_len=24,
                      query_prefix="Query: ", passage_prefix="Passage: ")
    items = [("word " * 100, ["a " * 100, "b", "c"]), ("short", ["d", "e", "f"])]
    batch = Collator(tok, cfg)(items)
    assert batch["query"]["input_ids"].shape[0] == 2
    assert batch["passage"]["input_ids"].shape[0] == 6
    assert batch["query"]["attention_mask"].sum(1).max() <= 16
    assert batch["passage"]["attention_mask"].sum(1).max() <= 24
    first = tok.decode(batch["query"]["input_ids"][1], skip_special_tokens=True)
    assert first.startswith("query :") or first.startswith("query:")


def test_eos_appended_once_when_pooling_eos():
    tok = load_tokenizer("all-MiniLM-L6-v2")
    tok.eos_token = "[SEP]"  # BERT already ends with [SEP]: it must not be doubled
    cfg = TrainConfig(train_group_size=2, pooling="eos", query_max_len=8, passage_max_len=8)
    batch = Collator(tok, cfg)([("one two three four five six seven eight nine", ["p", "n"])])
    ids = batch["query"]["input_ids"][0][batch["query"]["attention_mask"][0].bool()].tolist()
    assert ids[-1] == tok.eos_token_id and ids.count(tok.eos_token_id) == 1 and len(ids) <= 8
