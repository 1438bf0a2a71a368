"""Dataset loaders on the shared data and CHAMP, and their errors on bad input."""

import json

import pytest

from rader_queue.datasets import extract_last_boxed, load_problems
from rader_queue.errors import InputError, UnknownDatasetError
from tests.conftest import data_dir


@pytest.fixture(autouse=True)
def _data_dir(monkeypatch):
    from rader_queue.settings import get_settings

    monkeypatch.setenv("RADER_DATA_DIR", str(data_dir()))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_math_test_split_from_jsonl():
    problems = load_problems("MATH", split="test", limit=5).problems
    assert len(problems) == 5
    assert problems[0].source_id == "test/algebra/1.json"
    assert problems[0].gold_answer == "2"
    assert problems[0].meta["type"] == "Algebra"


def test_math_train_skips_records_without_answer_only_when_asked():
    with pytest.raises(InputError) as err:
        load_problems("MATH", split="train")
    assert "train.jsonl:5530" in str(err.value) and "gold answer" in str(err.value)
    result = load_problems("MATH", split="train", skip_invalid=True)
    assert len(result.problems) == 7500 - len(result.skipped)
    assert {e.line for e in result.skipped} >= {5530}


def test_math_folder_layout(tmp_path):
    (tmp_path / "test" / "algebra").mkdir(parents=True)
    for n, answer in [(2, "7"), (10, "\\frac{1}{2}")]:
        (tmp_path / "test" / "algebra" / f"{n}.json").write_text(json.dumps(
            {"problem": f"p{n}", "solution": f"so \\boxed{{{answer}}}.", "level": "Level 1", "type": "Algebra"}))
    problems = load_problems(str(tmp_path / "test")).problems
    assert [p.source_id for p in problems] == ["test/algebra/2.json", "test/algebra/10.json"]
    assert problems[1].gold_answer == "\\frac{1}{2}"


def test_math500_gsm8k_champ():
    math500 = load_problems("MATH500").problems
    assert len(math500) == 500 and math500[0].gold_answer.startswith("\\left( 3")
    gsm = load_problems("GSM8K", split="test", limit=3).problems
    assert gsm[0].gold_answer == "18"
    champ = load_problems("CHAMP").problems
    assert len(champ) == 270
    assert champ[0].source_id == "P_Combinatorics_1" and champ[0].gold_answer == "239"
    assert champ[0].meta["concepts"]


def test_last_boxed_is_brace_matched():
    assert extract_last_boxed(r"a \boxed{1} then \boxed{\frac{a}{b^{2}}} end") == r"\frac{a}{b^{2}}"
    assert extract_last_boxed("no box") is None
    assert extract_last_boxed(r"\boxed{unclosed") is None


def test_jsonl_with_field_mapping(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"qid": "a", "question": "1+1?", "final": "2"}\n\n{"qid": "b", "question": "2+2?", "final": "4"}\n')
    problems = load_problems(str(path), mapping={"id": "qid", "problem": "question", "answer": "final"}).problems
    assert [(p.source_id, p.gold_answer) for p in problems] == [("a", "2"), ("b", "4")]


@pytest.mark.parametrize("content, needle", [
    (b'{"id": "a", "problem": "x", "answer": "1"}\n{"id": "b", "problem": "y", "answer": \n', "p.jsonl:2"),
    (b'{"id": "a", "problem": "x"}\n', "p.jsonl:1 field 'answer'"),
    (b'{"id": "a", "problem": "x", "answer": "1"}\n{"id": "b", "problem": "\xff\xfe", "answer": "2"}\n', "p.jsonl:2: not valid UTF-8"),
    (b'[1, 2]\n', "p.jsonl:1: expected a JSON object"),
    (b'', "dataset is empty"),
])
def test_bad_jsonl_names_file_and_line(tmp_path, content, needle):
    path = tmp_path / "p.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        load_problems(str(path))
    assert needle in str(err.value)


def test_oversized_problem_is_rejected(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "big", "problem": "x" * 1_000_000, "answer": "1"}) + "\n")
    with pytest.raises(InputError, match="1,000,000 characters"):
        load_problems(str(path))


def test_unknown_dataset_and_missing_path():
    with pytest.raises(UnknownDatasetError, match="unknown dataset 'NOPE'.*MATH"):
        load_problems("NOPE")
    with pytest.raises(InputError, match="no such file"):
        load_problems("/nonexistent/problems.jsonl")
