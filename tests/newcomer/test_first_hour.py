"""A newcomer's first commands, the quick ones: bad input and set-up mistakes fail at once with
one line that says what to do, and nothing slow starts first."""

from __future__ import annotations

import sqlite3
import time

import click
import pytest
import typer
from typer.testing import CliRunner

from rader_queue.cli.main import app
from tests.conftest import PG_ADMIN_URL
from tests.newcomer.helpers import cli, newcomer_env


def _commands(group: click.Group, path=()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


@pytest.mark.slow
def test_help_text_is_unwrapped_and_markup_free():
    root = typer.main.get_command(app)
    commands = dict(_commands(root))
    for path, command in commands.items():
        for paragraph in (command.help or "").split("\n\n"):
            lines = paragraph.splitlines()
            if len(lines) > 1 and not all(l.lstrip().startswith(("* ", "- ")) for l in lines) \
                    and not any(l.startswith((" ", "\t")) for l in lines[1:]):
                pytest.fail(f"`{' '.join(path)}` help is hard-wrapped: {paragraph!r}")
        result = CliRunner().invoke(app, [*path, "--help"], terminal_width=80)
        assert result.exit_code == 0, result.output
        assert "``" not in result.output and ":class:" not in result.output, path
    run_help = CliRunner().invoke(app, ["run", "--help"], terminal_width=200).output
    assert "--max-depth" in run_help and "Maximum tree depth" in run_help
    embed_help = CliRunner().invoke(app, ["corpus", "embed", "--help"], terminal_width=200).output
    assert "--queue embed" not in embed_help and "-Q embed" in embed_help
    split = {name: next(p.default for p in commands[(name,)].params if p.name == "split")
             for name in ("run", "enqueue")}
    assert split["run"] == split["enqueue"], split


@pytest.mark.slow
def test_bad_dataset_fails_before_anything_starts(tmp_path):
    env = newcomer_env(tmp_path)
    started = time.monotonic()
    out = cli("run", "MAHT", cwd=tmp_path, env=env)
    assert out.returncode == 2 and "unknown dataset 'MAHT'" in out.stderr
    assert time.monotonic() - started < 30
    assert not list(tmp_path.glob("*.db")), "a rejected run wrote a store"
    out = cli("run", "MATH", "--limit", "2", cwd=tmp_path, env=env)
    assert out.returncode == 2, out.stderr
    line = out.stderr.strip()
    assert len(line.splitlines()) == 1 and "RADER_DATA_DIR" in line and "MATH/train.jsonl" in line
    assert "starting the embedded model" not in out.stdout
    out = cli("run", "CHAMP", "--corpus", "theoremqa", cwd=tmp_path, env=env)
    assert out.returncode == 3 and "TheoremQA/all_theorems.json" in out.stderr


@pytest.mark.slow
def test_store_setup_errors_are_one_line_with_the_fix(tmp_path, fresh_pg_url):
    env = newcomer_env(tmp_path)
    missing = PG_ADMIN_URL.rsplit("/", 1)[0] + "/rader_no_such_db_i17"
    out = cli("db", "upgrade", "--database-url", missing, cwd=tmp_path, env=env, offline=False)
    assert out.returncode == 4 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "createdb rader_no_such_db_i17" in out.stderr
    for command in (["status"], ["runs"], ["tree", "r", "0"], ["retry", "r", "--broker"],
                    ["enqueue", "CHAMP", "--limit", "1"]):
        out = cli(*command, "--database-url", fresh_pg_url, cwd=tmp_path, env=env, offline=False)
        assert out.returncode == 4, (command, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1 and "rader-queue db upgrade" in out.stderr
    secret = "postgresql://postgres:hunter2@127.0.0.1:9/x"
    out = cli("runs", "--database-url", secret, cwd=tmp_path, env=env, offline=False)
    assert out.returncode == 4 and "hunter2" not in out.stderr and "127.0.0.1:9" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_report_of_an_unknown_run_creates_nothing(tmp_path):
    env = newcomer_env(tmp_path)
    db = f"sqlite:///{tmp_path / 'r.db'}"
    assert cli("db", "upgrade", "--database-url", db, cwd=tmp_path, env=env).returncode == 0
    out = cli("report", "nope", "--out", str(tmp_path / "rep"), "--database-url", db,
              cwd=tmp_path, env=env)
    assert out.returncode == 2 and "no run named 'nope'" in out.stderr
    assert not (tmp_path / "rep").exists()


@pytest.mark.slow
def test_worker_refuses_to_start_without_a_generator(tmp_path, rader_env):
    env = {**newcomer_env(tmp_path), **rader_env, "RADER_WORKER_REQUIRE_GENERATOR": "true"}
    env.pop("RADER_LLM_BASE_URL", None)
    out = cli("worker", "-Q", "mcts", cwd=tmp_path, env=env, offline=False)
    assert out.returncode == 3 and "RADER_LLM_BASE_URL is not set" in out.stderr
    assert "llm serve-embedded" in out.stderr
    env["RADER_LLM_BASE_URL"] = "http://127.0.0.1:9/v1"
    out = cli("worker", "-Q", "judge,embed", cwd=tmp_path, env=env, offline=False)
    assert out.returncode == 3 and "not reachable" in out.stderr


@pytest.mark.slow
def test_all_failing_run_exits_non_zero_and_retry_runs_in_process(tmp_path):
    """Every job fails (the configured generator is a closed port): exit 1 with the reason;
    `retry --failed` on the SQLite store runs the job again here (no broker), failing again."""
    env = newcomer_env(tmp_path, RADER_LLM_BASE_URL="http://127.0.0.1:9/v1",
                       RADER_LLM_MAX_RETRIES="0", RADER_TASK_MAX_RETRIES="0")
    out = cli("run", "CHAMP", "--limit", "1", cwd=tmp_path, env=env, timeout=600)
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-2000:]
    assert "failed" in out.stdout
    with sqlite3.connect(tmp_path / "rader_queue.db") as conn:
        first = conn.execute("select state, finished_at from jobs").fetchall()
    assert [s for s, _ in first] == ["failed"]
    out = cli("retry", "CHAMP-train", "--failed", cwd=tmp_path, env=env, timeout=600)
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-2000:]
    assert "1 failed/cancelled job(s) re-queued" in out.stdout
    with sqlite3.connect(tmp_path / "rader_queue.db") as conn:
        second = conn.execute("select state, finished_at from jobs").fetchall()
    assert [s for s, _ in second] == ["failed"] and second[0][1] > first[0][1]


def test_eta_moves_smoothly_and_rates_read_without_zeros():
    from rader_queue.cli.status_view import SmoothEta, rate_text
    from rader_queue.queue.status import StageProgress

    stage = StageProgress("mcts", {"done": 1, "queued": 9})
    smooth = SmoothEta()
    assert smooth(stage, 13_000.0, now=0.0) == 13_000.0
    # a burst of finishes halves the raw estimate; the shown one moves a fifth of the way
    shown = smooth(stage, 6_000.0, now=10.0)
    assert 11_000 < shown < 12_000
    # with no news the estimate counts down with the clock
    assert abs(smooth(stage, shown - 100, now=110.0) - (shown - 100)) < 1
    assert smooth(stage, None, now=120.0) is None
    assert rate_text(3 / 500) == "21.6/h" and rate_text(0.5) == "30.0/min" and rate_text(2) == "2.0/s"
