"""Training rows that train well (issue 18): one row per query with all its positives, at least
train_group_size − 1 distinct negatives with their sources, no positive among a query's own
negatives or in-batch negatives, one qllmq per (trajectory, query node), per-type counts."""

from __future__ import annotations

import json

import pytest
import torch
from sqlalchemy import select

from rader_queue.errors import InputError
from rader_queue.querygen import QuerygenOptions
from rader_queue.queue.status import find_run
from rader_queue.store import session_scope
from rader_queue.store.models import GeneratedQuery
from rader_queue.train.config import TrainConfig
from rader_queue.train.data import Collator, GroupDataset, parse_row
from rader_queue.train.model import load_tokenizer
from rader_queue.train.loss import contrastive_logits, own_positive_mask
from rader_queue.training_data import BuildOptions, build_dataset, validate_jsonl
from rader_queue.training_data import rows as rows_mod
from rader_queue.training_data.rows import Candidate


def _stats(*types):
    return {t: dict.fromkeys(("pairs", "duplicates", "merged", "topped_up", "short_of_negatives", "no_negative"), 0)
            for t in types}


def test_one_row_per_query_with_every_positive_and_sourced_negatives():
    cands = [Candidate("qcot:a", "Find x", "qcot", "p1", ("n1", "p2")),
             Candidate("qquestion:a", "find   X", "qquestion", "p2", ("n2",)),
             Candidate("qcot:b", "Find x", "qcot", "p1", ("n3",)),
             Candidate("qlexical:p3", "What bounds sides?", "qlexical", "p3", ("m1",))]
    calls = []

    def mine(query, exclude, want):
        calls.append((query, set(exclude), want))
        return [(f"b{i}", rows_mod.SOURCE_BM25_BAND) for i in range(want)] + [("p1", "x")]

    stats = _stats("qcot", "qquestion", "qlexical")
    rows = rows_mod.assemble(cands, 4, mine, stats)
    assert [r.query for r in rows] == ["Find x", "What bounds sides?"]
    first = rows[0]
    assert first.positives == ["p1", "p2"]                         # all positives, one row
    assert [d for d, _ in first.negatives] == ["n1", "n2", "n3", "b0"]   # p2 is a positive: removed
    assert [s for _, s in first.negatives] == ["self_reflection"] * 3 + ["bm25_31_50"]
    assert calls[0] == ("Find x", {"p1", "p2", "n1", "n2", "n3"}, 1)
    assert [s for _, s in rows[1].negatives][0] == "qlexical_mined"
    assert stats["qquestion"]["merged"] == 1 and stats["qcot"]["duplicates"] == 1
    assert stats["qcot"]["pairs"] == 1 and stats["qquestion"]["pairs"] == 1
    assert stats["qcot"]["topped_up"] == 1 and stats["qlexical"]["topped_up"] == 1
    assert [len(r.negatives) for r in rows] == [4, 4]


def test_short_corpus_is_counted_not_hidden():
    stats = _stats("qcot")
    rows = rows_mod.assemble([Candidate("k", "q", "qcot", "p", ())], 5,
                             lambda q, ex, want: [("n", "bm25_lower_ranks")], stats)
    assert len(rows[0].negatives) == 1 and stats["qcot"]["short_of_negatives"] == 1
    assert rows_mod.assemble([Candidate("k", "q", "qcot", "p", ())], 5, lambda q, ex, w: [], stats) == []
    assert stats["qcot"]["no_negative"] == 1


def test_pipeline_rows(scripted_run, tmp_path):
    report = build_dataset(scripted_run, "rows", BuildOptions(min_negatives=11), out_dir=tmp_path,
                           querygen=QuerygenOptions(max_overlap=None))
    lines = [json.loads(x) for x in report.jsonl_path.read_text().splitlines()]
    assert validate_jsonl(report.jsonl_path) == len(lines) == report.counts["all"]
    queries = [" ".join(line["query"].split()).casefold() for line in lines]
    assert len(set(queries)) == len(queries)                       # no query in two rows
    for line in lines:
        positives = {p["docid"] for p in line["positive_passages"]}
        negatives = [n["docid"] for n in line["negative_passages"]]
        assert len(negatives) == len(set(negatives)) >= 11          # group 12 − 1, distinct
        assert not positives & set(negatives)
        sources = [n["source"] for n in line["negative_passages"]]
        order = ["self_reflection", "qlexical_mined", "bm25_31_50", "dense_topk", "bm25_lower_ranks"]
        assert sources == sorted(sources, key=order.index)         # reflection rejections first
    assert any(len(line["positive_passages"]) > 1 for line in lines)   # P1/P3: same question
    assert sum(report.negatives_per_row.values()) == len(lines) and min(report.negatives_per_row) >= 11
    assert report.negative_sources["self_reflection"] > 0
    # one qllmq per (trajectory, query node): as many rows as trajectories through each pair
    with session_scope() as s:
        run = find_run(s, scripted_run)
        llm = list(s.scalars(select(GeneratedQuery).where(GeneratedQuery.run_id == run.id,
                                                          GeneratedQuery.query_type == "qllmq")))
        cots = list(s.scalars(select(GeneratedQuery).where(GeneratedQuery.run_id == run.id,
                                                           GeneratedQuery.query_type == "qcot")))
    assert len(llm) == sum(len(c.extra["solution_node_ids"]) for c in cots) > len(cots)
    assert len({(g.qg_node_id, g.extra["solution_node_id"], g.problem_id) for g in llm}) == len(llm)
    assert not any((g.reject_reason or "").startswith("lexical overlap") for g in llm)
    # the overlap filter, when on, is reported per type
    strict = build_dataset(scripted_run, "rows-overlap", BuildOptions(min_negatives=11), out_dir=tmp_path)
    assert "overlap_dropped" in strict.stats["qllmq"]


def test_validator_rejects_a_query_in_two_rows(tmp_path):
    row = {"query_id": "a", "query": "Find x", "positive_passages": [{"docid": "1", "title": "", "text": "t"}],
           "negative_passages": [{"docid": "2", "title": "", "text": "u", "source": "bm25_31_50"}]}
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(row) + "\n" + json.dumps({**row, "query_id": "b", "query": "find  X"}) + "\n")
    with pytest.raises(InputError, match="one row per query"):
        validate_jsonl(path)


def test_a_querys_own_positives_are_never_its_in_batch_negatives():
    def ex(qid, positives, negatives):
        return parse_row({"query_id": qid, "query": qid,
                          "positive_passages": [{"docid": d, "text": d} for d in positives],
                          "negative_passages": [{"docid": d, "text": d} for d in negatives]})

    # q1 has positives p1 and p2; q2's group holds p2 (as its positive) and p1 (as a negative)
    ds = GroupDataset([ex("q1", ["p1", "p2"], ["n1", "n2"]), ex("q2", ["p2"], ["p1", "n3"])], 3, seed=1)
    items = [ds.item(0), ds.item(1)]
    batch = Collator(load_tokenizer("all-MiniLM-L6-v2"), TrainConfig(train_group_size=3))(items)
    keys, positive = batch["passage_keys"], batch["positive_keys"]
    assert keys.shape == (6,) and positive.shape == (2, 32) and (positive[0] >= 0).sum() == 2
    target = torch.tensor([0, 3])
    mask = own_positive_mask(keys, positive, target)
    own = items[0].passages[0]                                       # the positive sampled for q1
    other = "p2" if own == "p1" else "p1"
    cols = [j for j, text in enumerate(items[0].passages + items[1].passages) if text == other]
    assert cols and all(mask[0, j] for j in cols)                    # q1's other positive: masked
    assert not mask[0, 0] and not mask[1, 3]                         # targets never masked
    assert not mask[1, 1] and not mask[1, 2]                         # q2's view of q1's negatives
    q, p = torch.randn(2, 4), torch.randn(6, 4)
    logits, tgt = contrastive_logits(q, p, 0.1, gather=False, passage_keys=keys, positive_keys=positive)
    assert torch.equal(tgt, target)
    assert all(logits[0, j] < -1e30 for j in cols)


def test_build_cli_with_the_paper_preset_records_it(scripted_run, tmp_path):
    from typer.testing import CliRunner

    from rader_queue.cli.dataset_commands import dataset_app
    from rader_queue.store.models import Dataset

    out = CliRunner().invoke(dataset_app, ["build", scripted_run, "--name", "paper", "--out", str(tmp_path),
                                           "--types", "qcot,qquestion", "--local", "--preset", "rader-paper"],
                             terminal_width=160)
    assert out.exit_code == 0, out.output
    assert "Table 9" in out.output and "negatives per row: 11:" in out.output
    with session_scope() as s:
        d = s.scalars(select(Dataset).where(Dataset.name == "paper")).one()
        assert d.config["preset"] == "rader-paper" and d.config["min_negatives"] == 11
        assert d.config["negative_sources"]["self_reflection"] > 0
