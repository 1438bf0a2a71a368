"""Corpus loaders: TheoremQA from the shared data dir, CHAMP, JSONL with field mapping."""

from __future__ import annotations

import json

import pytest

from rader_queue.errors import InputError
from rader_queue.retrieval.corpus import load_corpus, load_jsonl


def test_theoremqa_from_data_dir(rader_env):
    corpus = load_corpus("theoremqa")
    assert len(corpus) == 354
    doc = corpus.get("kraft-inequality")
    assert doc.title == "Kraft inequality" and "prefix" in doc.text
    assert len(set(corpus.ids)) == len(corpus)
    assert load_corpus("TheoremQA").content_hash == corpus.content_hash


def test_champ_concepts_use_champ_ids(champ):
    assert len(champ) == 89
    assert champ.get("C_comb_sum").title == "rule of sum"
    assert all(d.doc_id.startswith("C_") and d.text for d in champ.docs)


def test_jsonl_with_field_mapping(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"key": 1, "body": "Pythagoras: a^2+b^2=c^2", "name": "Pythagorean theorem"},
        {"key": 2, "body": "Fermat's little theorem"}]) + "\n\n")
    corpus = load_corpus(path, id_field="key", text_field="body", title_field="name")
    assert corpus.ids == ["1", "2"]
    assert corpus.get("1").title == "Pythagorean theorem" and corpus.get("2").title == ""


@pytest.mark.parametrize("bad_line, field", [("{not json", None), ('{"id": "b"}', "text"),
                                             ('["a list"]', None)])
def test_jsonl_bad_line_names_file_and_line(tmp_path, bad_line, field):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "text": "fine"}\n' + bad_line + "\n")
    with pytest.raises(InputError) as info:
        load_jsonl(path)
    assert info.value.source == str(path) and info.value.line == 2
    assert f"{path}:2" in str(info.value)
    if field:
        assert info.value.field == field


def test_duplicate_ids_and_unknown_names(tmp_path):
    path = tmp_path / "dup.jsonl"
    path.write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n')
    with pytest.raises(InputError, match="duplicate"):
        load_jsonl(path)
    with pytest.raises(InputError, match="theoremqa, champ"):
        load_corpus("no-such-corpus")
