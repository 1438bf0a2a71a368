"""The collection check of `tests/heavy_markers.py`: a test that starts vLLM, Slurm or the
embedded model without the `slow` marker stops the session before anything runs, naming it."""

from __future__ import annotations

import pytest

CONFTEST = """
import pytest
from tests.heavy_markers import check_heavy_tests_are_slow

@pytest.fixture
def slurm_cluster():
    return "cluster"

@pytest.fixture
def vllm_engines():
    return "engines"

def pytest_collection_modifyitems(config, items):
    check_heavy_tests_are_slow(items)
"""

MARKERS = ["slow: s", "model: m", "slurm: s", "vllm: v"]


@pytest.fixture
def sample(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nmarkers =\n    " + "\n    ".join(MARKERS) + "\n")
    return pytester


@pytest.mark.parametrize("body, reason", [
    ("def test_x(slurm_cluster):\n    pass\n", "uses the slurm_cluster fixture"),
    ("def test_x(vllm_engines):\n    pass\n", "uses the vllm_engines fixture"),
    ("import pytest\n@pytest.mark.vllm\ndef test_x():\n    pass\n", "is marked vllm"),
    ("def embedded_server(**kw):\n    pass\n\ndef test_x():\n    embedded_server(port=0)\n",
     "starts the embedded model (embedded_server)"),
    ("def test_x():\n    from rader_queue.llm.embedded_server import start_server\n"
     "    start_server\n", "starts the embedded model (start_server)"),
    ("import pytest\n@pytest.fixture\ndef server():\n    from x import embedded_server\n"
     "    yield embedded_server\n\ndef test_x(server):\n    pass\n",
     "starts the embedded model (embedded_server)"),
], ids=["slurm-fixture", "vllm-fixture", "vllm-marker", "embedded-call", "embedded-import",
        "embedded-fixture"])
def test_an_unmarked_heavy_test_is_a_collection_error(sample, body, reason):
    sample.makepyfile(test_sample=body)
    result = sample.runpytest("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*test_sample.py::test_x: {reason}*"])


def test_heavy_tests_marked_slow_and_light_tests_pass(sample):
    sample.makepyfile(test_sample="""
import pytest

@pytest.mark.slow
@pytest.mark.slurm
def test_heavy(slurm_cluster):
    assert slurm_cluster == "cluster"

def test_light():
    assert 1 + 1 == 2
""")
    sample.runpytest("-q").assert_outcomes(passed=2)
    fast = sample.runpytest("-q", "-m", "not slow")
    fast.assert_outcomes(passed=1, deselected=1)
