"""Every command of the design is reachable from ``rader-queue`` and explains itself."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from rader_queue.cli.main import app

COMMANDS = [["enqueue"], ["worker"], ["status"], ["runs"], ["retry"], ["judge"], ["run"],
            ["flower"], ["metrics"], ["tree"], ["retrieve"], ["train"], ["report"],
            ["db", "upgrade"], ["db", "downgrade"], ["llm", "serve-embedded"], ["corpus", "embed"],
            ["dataset", "querygen"], ["dataset", "build"], ["dataset", "list"], ["eval", "run"],
            ["eval", "compare"], ["preset", "list"], ["preset", "show"]]


def test_top_level_help_lists_every_command():
    result = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for name in {c[0] for c in COMMANDS}:
        assert f" {name} " in result.output, f"{name} missing from rader-queue --help"


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_each_command_has_help(command):
    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and "--help" in result.output
