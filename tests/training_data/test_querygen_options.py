"""Query-generation options as they travel in job payloads and dataset records."""

import json

import pytest

from rader_queue.errors import ConfigError, InputError
from rader_queue.querygen.options import QuerygenOptions

# ``jobs.payload["options"]`` as written before the options became a pydantic model.
STORED = {"types": ["qcot", "qquestion", "qllmq", "qlexical"], "min_reward": 1.0, "judge": False,
          "seed": None, "unparsed_as_negative": False, "max_overlap": 0.6, "lexical_top": 20,
          "lexical_bm25_ranks": [31, 50], "lexical_bm25_samples": 10, "lexical_dense_top": 10,
          "temperature": 0.8, "lexical_temperature": 1.0, "top_p": 0.95, "max_tokens": 512,
          "judge_max_tokens": 120, "max_theorem_chars": 1500}


def test_a_stored_payload_loads_and_dumps_the_same_json():
    options = QuerygenOptions.model_validate(STORED)
    assert options == QuerygenOptions() and options.lexical_bm25_ranks == (31, 50)
    assert options.model_dump(mode="json") == STORED
    assert json.loads(json.dumps(options.model_dump(mode="json"))) == STORED


def test_types_are_canonical_and_checked():
    assert QuerygenOptions(types="qllmq, QCOT").types == ("qcot", "qllmq")
    with pytest.raises(InputError, match="unknown query type"):
        QuerygenOptions(types=("qfancy",))


@pytest.mark.parametrize("data, field", [
    ({"lexical_bm25_ranks": [50, 31]}, "lexical_bm25_ranks"),
    ({"lexical_top": 0}, "lexical_top"),
    ({"lexical_dense_top": -1}, "lexical_dense_top"),
    ({"max_overlap": 0.0}, "max_overlap"),
    ({"judge": "yes"}, "judge"),
    ({"lexcial_top": 3}, "lexcial_top"),
])
def test_bad_options_name_the_field(data, field):
    with pytest.raises(ConfigError, match=field):
        QuerygenOptions.model_validate(data)
