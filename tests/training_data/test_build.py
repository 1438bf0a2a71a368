"""Dataset assembly on scripted trees, with the simulated generator for qllmq, qlexical and
the query judge: fields, reward filter, negatives, JSONL format, dedupe, determinism, versions."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, func, select
from typer.testing import CliRunner

from rader_queue.errors import InputError
from rader_queue.querygen import QUERY_TYPES, QuerygenOptions
from rader_queue.queue.status import find_run
from rader_queue.store import session_scope
from rader_queue.store.models import (Dataset, GeneratedQuery, LLMCacheEntry, LLMCall,
                                      TrainingExample)
from rader_queue.training_data import BuildOptions, build_dataset, validate_jsonl

from .conftest import QUESTIONS, THEOREMS


def _rows(run_name):
    with session_scope() as s:
        run = find_run(s, run_name)
        return list(s.scalars(select(GeneratedQuery).where(GeneratedQuery.run_id == run.id)
                              .order_by(GeneratedQuery.key)))


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_local_build_writes_every_query_type(scripted_run, tmp_path):
    report = build_dataset(scripted_run, "scripted", out_dir=tmp_path,
                           querygen=QuerygenOptions(judge=True))
    assert report.created and report.version == 1
    assert all(report.counts[t] > 0 for t in QUERY_TYPES), report.counts
    assert report.counts["all"] == sum(report.counts[t] for t in QUERY_TYPES)

    rows = _rows(scripted_run)
    by_type = {t: [r for r in rows if r.query_type == t] for t in QUERY_TYPES}
    questions = {q for _, q in QUESTIONS}
    for r in by_type["qcot"] + by_type["qquestion"] + by_type["qllmq"]:
        assert r.qg_node_id is not None and r.rt_node_id is not None and r.problem_id is not None
        assert r.trajectory_reward == 1.0 and r.positive_doc_id in {"d1", "d4"}
        assert r.positive_doc_id not in r.negative_doc_ids and r.negative_doc_ids
    assert all(r.query in questions for r in by_type["qquestion"])
    assert all(any(r.query.startswith(q) for q in questions) for r in by_type["qcot"])
    assert all(r.query and r.extra["raw"] and "seed" in r.extra for r in by_type["qllmq"])
    assert {r.key for r in by_type["qlexical"]} == {"qlexical:d1", "qlexical:d4"}
    for lexical in by_type["qlexical"]:
        assert lexical.kept and lexical.extra["bm25_rank"] <= 20
        assert lexical.positive_doc_id not in lexical.negative_doc_ids
    # the judge saw every kept row; its rejections stay in SQL but not in the dataset
    assert all(r.judge_label is not None for r in rows if r.kept)
    rejected = {r.key for r in rows if r.judge_label is False}
    assert rejected and sum(st["judge_rejected"] for st in report.stats.values()) == len(rejected)

    lines = _jsonl(report.jsonl_path)
    assert validate_jsonl(report.jsonl_path) == len(lines) == report.counts["all"]
    pairs = set()
    for line in lines:
        assert list(line) == ["query_id", "query", "positive_passages", "negative_passages"]
        assert line["query_id"] not in rejected
        pos = line["positive_passages"][0]
        assert pos == {"docid": pos["docid"], "title": THEOREMS[pos["docid"]][0],
                       "text": THEOREMS[pos["docid"]][1]}                    # original corpus text
        negatives = [n["docid"] for n in line["negative_passages"]]
        assert negatives and pos["docid"] not in negatives
        pairs.add((line["query"].casefold(), pos["docid"]))
    assert len(pairs) == len(lines)                                           # deduped
    assert report.stats["qquestion"]["duplicates"] > 0                        # P1 and P3 ask the same
    with session_scope() as s:
        dataset = s.get(Dataset, report.dataset_id)
        assert dataset.counts == report.counts and dataset.config["min_reward"] == 1.0
        assert s.scalar(select(func.count()).select_from(TrainingExample)
                        .where(TrainingExample.dataset_id == dataset.id)) == len(lines)
        assert s.scalar(select(func.count()).select_from(LLMCall)
                        .where(LLMCall.run_id == dataset.run_id)) > 0


def test_reward_filter_and_all_rewards(scripted_run, tmp_path):
    types = ("qcot", "qquestion")
    strict = build_dataset(scripted_run, "strict", BuildOptions(types=types), out_dir=tmp_path,
                           querygen=QuerygenOptions(types=types))
    loose = build_dataset(scripted_run, "loose", BuildOptions(types=types, min_reward=None),
                          out_dir=tmp_path, querygen=QuerygenOptions(types=types, min_reward=None))
    reward = {r.key: r.trajectory_reward for r in _rows(scripted_run)}
    assert {reward[line["query_id"]] for line in _jsonl(strict.jsonl_path)} == {1.0}
    assert {reward[line["query_id"]] for line in _jsonl(loose.jsonl_path)} == {0.0, 1.0}
    assert loose.counts["all"] > strict.counts["all"]
    # the strict build of the same rows leaves out what only low-reward paths gave
    again = build_dataset(scripted_run, "strict", BuildOptions(types=types), out_dir=tmp_path)
    assert again.version == strict.version and not again.created
    assert again.stats["qcot"]["reward_filtered"] > 0


@pytest.mark.slow
def test_same_seed_gives_identical_bytes_and_versions_follow_content(scripted_run, tmp_path):
    first = build_dataset(scripted_run, "det", out_dir=tmp_path / "a", querygen=QuerygenOptions())
    data = first.jsonl_path.read_bytes()
    with session_scope() as s:                     # forget every generated row and cached reply
        run = find_run(s, scripted_run)
        s.execute(delete(GeneratedQuery).where(GeneratedQuery.run_id == run.id))
        s.execute(delete(LLMCacheEntry))
    second = build_dataset(scripted_run, "det", out_dir=tmp_path / "b", querygen=QuerygenOptions())
    assert second.jsonl_path.read_bytes() == data
    assert (second.version, second.created) == (first.version, False)
    narrower = build_dataset(scripted_run, "det", BuildOptions(types=("qcot",)), out_dir=tmp_path / "a")
    assert narrower.created and narrower.version == first.version + 1
    assert set(narrower.counts) == {"qcot", "all"}
    back = build_dataset(scripted_run, "det", out_dir=tmp_path / "c")
    assert (back.version, back.created) == (first.version, False)


def test_top_up_negatives_never_include_positives(scripted_run, tmp_path):
    types = ("qcot", "qquestion")
    report = build_dataset(scripted_run, "topped", BuildOptions(types=types, min_negatives=5),
                           out_dir=tmp_path, querygen=QuerygenOptions(types=types))
    lines = _jsonl(report.jsonl_path)
    positives_of = {}
    for line in lines:
        positives_of.setdefault(line["query"], set()).add(line["positive_passages"][0]["docid"])
    for line in lines:
        negatives = [n["docid"] for n in line["negative_passages"]]
        assert len(negatives) == len(set(negatives)) >= 5
        assert not set(negatives) & positives_of[line["query"]]
    assert report.stats["qcot"]["topped_up"] > 0


def test_hugging_face_copy(scripted_run, tmp_path):
    import datasets

    report = build_dataset(scripted_run, "hf", BuildOptions(types=("qquestion",)), out_dir=tmp_path,
                           hf=True, querygen=QuerygenOptions(types=("qquestion",)))
    loaded = datasets.load_from_disk(str(report.hf_path))
    assert len(loaded) == report.counts["all"]
    assert loaded[0]["query_id"] == _jsonl(report.jsonl_path)[0]["query_id"]


def test_bad_input_is_a_clear_error(scripted_run, tmp_path):
    with pytest.raises(InputError, match="no run named 'nope'"):
        build_dataset("nope", "x", out_dir=tmp_path)
    with pytest.raises(InputError, match="unknown query type"):
        BuildOptions(types="qcot,qfancy")
    with pytest.raises(InputError, match="dataset name"):
        build_dataset(scripted_run, "../escape", out_dir=tmp_path)


def test_cli_build_prints_counts_and_rejects_bad_input(scripted_run, tmp_path):
    from rader_queue.cli.dataset_commands import dataset_app

    runner = CliRunner()
    result = runner.invoke(dataset_app, ["build", scripted_run, "--name", "cli", "--out", str(tmp_path),
                                         "--types", "qcot,qquestion", "--local"])
    assert result.exit_code == 0, result.output
    assert "qcot" in result.output and "all" in result.output and "cli-v1.jsonl" in result.output
    bad_run = runner.invoke(dataset_app, ["build", "nope", "--name", "x", "--out", str(tmp_path)])
    assert bad_run.exit_code == 2 and "no run named" in bad_run.output
    bad_type = runner.invoke(dataset_app, ["build", scripted_run, "--name", "x", "--types", "qfoo"])
    assert bad_type.exit_code == 2 and "unknown query type" in bad_type.output
    listed = runner.invoke(dataset_app, ["list", "cli"])
    assert listed.exit_code == 0 and "cli" in listed.output
