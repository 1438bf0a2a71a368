from __future__ import annotations

import json

import pytest

from rader_queue.errors import ConfigError, InputError
from rader_queue.train.config import TrainConfig
from rader_queue.train.data import Collator, GroupDataset, parse_row, read_jsonl
from rader_queue.train.model import load_tokenizer


def test_defaults_follow_recipe_and_settings(monkeypatch):
    from rader_queue.settings import get_settings

    monkeypatch.setenv("RADER_QUERY_PREFIX", "Query: ")
    monkeypatch.setenv("RADER_PASSAGE_PREFIX", "Passage: ")
    get_settings.cache_clear()
    try:
        cfg = TrainConfig()
    finally:
        get_settings.cache_clear()
    assert (cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.temperature) == (16, 64, 0.1, 0.01)
    assert cfg.query_max_len >= 512  # long CoT queries are not cut to 32 tokens
    assert (cfg.query_prefix, cfg.passage_prefix) == ("Query: ", "Passage: ")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


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
        TrainConfig.from_dict({"learning_rat": 1e-4})


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
