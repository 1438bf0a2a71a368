"""The collection check of `tests/heavy_markers.py`: a test that starts vLLM, Slurm or the
embedded model without the `slow` marker stops the session before anything runs, naming it."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

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


@pytest.mark.slow
@pytest.mark.parametrize("one_lane", [True, False], ids=["one-heavy-lane", "group-per-resource"])
def test_xdist_runs_each_heavy_group_on_one_worker(pytester, monkeypatch, one_lane):
    """Under `-n 2 --dist loadgroup` every test of a heavy group runs on the same worker (with
    one lane, all heavy tests on one): checked on real xdist workers, because a pytest release
    that stops xdist from renaming a test for its group spreads the groups without a word."""
    pytester.makeconftest(f"""
import pytest
from tests.heavy_markers import group_heavy_tests

@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    group_heavy_tests(items, one_lane={one_lane})
""")
    pytester.makeini("[pytest]\nmarkers =\n    " + "\n    ".join(MARKERS) + "\n")
    pytester.makepyfile(test_sample="""
import time
import pytest

@pytest.mark.model
@pytest.mark.parametrize("i", range(3))
def test_model(i):
    time.sleep(0.3)

@pytest.mark.slurm
@pytest.mark.parametrize("i", range(3))
def test_slurm(i):
    time.sleep(0.3)

@pytest.mark.parametrize("i", range(4))
def test_light(i):
    time.sleep(0.3)
""")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))             # the workers import tests.heavy_markers
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadgroup", "-v", "-p",
                                           "no:cacheprovider")
    result.assert_outcomes(passed=10)
    workers: dict[str, set[str]] = {}
    for line in result.outlines:
        found = re.match(r"\[(gw\d)\].*PASSED test_sample\.py::test_(model|slurm)\[\d\](@\w+)?", line)
        if found:
            workers.setdefault(found.group(2), set()).add(found.group(1))
            assert found.group(3) == ("@heavy" if one_lane else f"@{found.group(2)}"), line
    assert set(workers) == {"model", "slurm"}, result.outlines
    assert all(len(w) == 1 for w in workers.values()), workers
    if one_lane:
        assert workers["model"] == workers["slurm"]
