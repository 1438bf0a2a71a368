"""Which tests are heavy, and the collection check that keeps them out of the fast lane.

The fast lane (`python -m pytest -q -m "not slow"`) leaves out every test marked `slow`. A test
that starts the vLLM servers or the Slurm cluster, or the embedded llama.cpp model, takes
minutes on a 2-core machine, so it must carry `slow` as well as its resource marker; one that
does not is a collection error (`tests/conftest.py`) rather than a silently slow fast lane."""

from __future__ import annotations

import inspect

import pytest

# fixture → the resource marker its tests carry
HEAVY_FIXTURES = {"vllm_engines": "vllm", "vllm_env": "vllm", "slurm_cluster": "slurm"}
HEAVY_MARKERS = ("vllm", "slurm")
# names a test's own code refers to when it starts the embedded llama.cpp server
EMBEDDED_NAMES = ("embedded_server", "start_server")


def _names(code) -> set[str]:
    """Global and local names *code* (and the functions nested in it) refers to."""
    names = set(code.co_names) | set(code.co_varnames)
    for const in code.co_consts:
        if inspect.iscode(const):
            names |= _names(const)
    return names


def _referenced(item: pytest.Item) -> set[str]:
    """Names the test function and the fixtures it uses refer to."""
    functions = [getattr(item, "function", None)]
    info = getattr(item, "_fixtureinfo", None)
    for defs in (info.name2fixturedefs.values() if info is not None else ()):
        functions += [getattr(fixturedef, "func", None) for fixturedef in defs]
    names: set[str] = set()
    for function in functions:
        code = getattr(inspect.unwrap(function), "__code__", None) if function else None
        if code is not None:
            names |= _names(code)
    return names


def heavy_reasons(item: pytest.Item) -> list[str]:
    """Why *item* is heavy (empty when it is not)."""
    fixtures = getattr(item, "fixturenames", ())
    reasons = [f"uses the {name} fixture" for name in HEAVY_FIXTURES if name in fixtures]
    reasons += [f"is marked {name}" for name in HEAVY_MARKERS if item.get_closest_marker(name)]
    names = _referenced(item)
    reasons += [f"starts the embedded model ({name})" for name in EMBEDDED_NAMES if name in names]
    return reasons


def unmarked_heavy(items: list[pytest.Item]) -> list[str]:
    """One line per heavy test that is not marked `slow`."""
    return [f"{item.nodeid}: {'; '.join(reasons)}" for item in items
            if item.get_closest_marker("slow") is None and (reasons := heavy_reasons(item))]


def check_heavy_tests_are_slow(items: list[pytest.Item]) -> None:
    offenders = unmarked_heavy(items)
    if offenders:
        raise pytest.UsageError(
            "heavy tests must be marked slow (the fast lane `-m \"not slow\"` would run them):\n  "
            + "\n  ".join(offenders))


RESOURCE_MARKERS = ("vllm", "slurm", "model")


def group_heavy_tests(items: list[pytest.Item], one_lane: bool) -> None:
    """Under pytest-xdist's ``--dist loadgroup``, tests that share one heavy resource run on one
    worker, one after another: the vLLM servers (a session fixture, ~6 GiB), the Slurm cluster
    (one slurmctld/slurmd per machine) and the embedded CPU model (CPU-bound tests would only
    slow each other down). With ``one_lane`` the three are one group: one worker runs every
    heavy test while the others take the light ones, so a time-limit test never competes with
    another heavy test. (pytest 9 no longer lets xdist 3.8 rename a test for its group, which
    silently spread the groups: pyproject keeps pytest below 9; tests/test_heavy_markers.py
    checks the grouping.)"""
    for item in items:
        for marker in RESOURCE_MARKERS:
            if item.get_closest_marker(marker) is not None:
                item.add_marker(pytest.mark.xdist_group("heavy" if one_lane else marker))
                break
