"""Case 6: bad input through the CLI (``rader-queue enqueue``/``worker`` as subprocesses).

Each bad input exits non-zero with one clear ``error:`` line naming what was wrong (file, line
and field where there is one), and NOTHING is enqueued: no runs/problems/jobs rows in SQL and no
key under the test's Redis prefix.

Decisions made deliberately here:

* A problem of 1 MB of text is **rejected** (``--strict``, the default for files), naming the
  file, line, field, its size and the limit (``MAX_PROBLEM_CHARS`` = 50,000 characters ≈ 12k
  tokens): the text is part of every prompt of the search, so a 1 MB problem could never be
  solved. With ``--skip-invalid`` it is skipped and reported, and the good records are enqueued.
* NUL characters (``\\u0000``, valid JSON and UTF-8) and ids over 300 characters are rejected per
  record before anything is written (PostgreSQL cannot store the former; ``problems.source_id``
  is VARCHAR(300)) — they used to end in a SQL traceback.
* ``--corpus`` must name a known corpus or an existing file (it used to be accepted, and then
  every job of the run failed on the worker)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rader_queue.store import session_scope
from rader_queue.store.models import Job, Problem, Run
from tests.reliability.conftest import cli, figure

GOOD = {"problem": "What is $1+1$?", "answer": "2"}
RESULTS: list[tuple[str, float]] = []


def _jsonl(path: Path, records: list[dict | bytes]) -> str:
    with open(path, "wb") as out:
        for record in records:
            out.write(record if isinstance(record, bytes) else json.dumps(record).encode())
            out.write(b"\n")
    return str(path)


def _good(n: int) -> list[dict]:
    return [{"id": f"p{i}", **GOOD} for i in range(n)]


def _rows() -> dict[str, int]:
    with session_scope() as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m))
                for m in (Run, Problem, Job)}


# (case id, files to write {name: records}, CLI args with {dir}, exit code, needles in stderr)
CASES = [
    ("malformed-json", {"p.jsonl": [*_good(300), b'{"id": "bad", "problem": ']},
     ["enqueue", "{dir}/p.jsonl"], 2, ["p.jsonl:301: malformed JSON"]),
    ("not-an-object", {"p.jsonl": [*_good(2), b"[1, 2]"]},
     ["enqueue", "{dir}/p.jsonl"], 2, ["p.jsonl:3: expected a JSON object"]),
    ("non-utf8", {"p.jsonl": [*_good(5), b'{"id": "x", "problem": "\xff\xfe 1+1", "answer": "2"}']},
     ["enqueue", "{dir}/p.jsonl"], 2, ["p.jsonl:6: not valid UTF-8"]),
    ("one-mb-problem", {"p.jsonl": [*_good(3), {"id": "huge", "problem": "x" * 1_000_000, "answer": "1"}]},
     ["enqueue", "{dir}/p.jsonl", "--strict"], 2,
     ["p.jsonl:4 field 'problem': problem text is 1,000,000 characters; the limit is 50,000"]),
    ("nul-character", {"p.jsonl": [*_good(2), {"id": "z", "problem": "1+1\u0000", "answer": "2"}]},
     ["enqueue", "{dir}/p.jsonl"], 2, ["p.jsonl:3 field 'problem': contains a NUL character"]),
    ("id-too-long", {"p.jsonl": [*_good(2), {"id": "i" * 400, **GOOD}]},
     ["enqueue", "{dir}/p.jsonl"], 2, ["p.jsonl:3 field 'id': problem id is 400 characters; the limit is 300"]),
    ("problem-not-text", {"p.jsonl": [*_good(2), {"id": "l", "problem": ["1+1"], "answer": "2"}]},
     ["enqueue", "{dir}/p.jsonl"], 2, ["p.jsonl:3 field 'problem': expected a string, got list"]),
    ("duplicate-id", {"p.jsonl": [*_good(2), {"id": "p0", **GOOD}]},
     ["enqueue", "{dir}/p.jsonl"], 2, ["duplicate problem id 'p0'"]),
    ("empty-file", {"p.jsonl": []}, ["enqueue", "{dir}/p.jsonl"], 2, ["p.jsonl: dataset is empty"]),
    ("blank-lines-only", {"p.jsonl": [b"", b"   "]}, ["enqueue", "{dir}/p.jsonl"], 2,
     ["p.jsonl: dataset is empty"]),
    ("missing-gold-answer", {"p.jsonl": [*_good(4), {"id": "q", "problem": "2+2?"}]},
     ["enqueue", "{dir}/p.jsonl", "--strict"], 2,
     ["p.jsonl:5 field 'answer': no gold answer (rewards need one)"]),
    ("missing-file", {}, ["enqueue", "{dir}/nope.jsonl"], 2, ["nope.jsonl: no such file or directory"]),
    ("unknown-dataset", {}, ["enqueue", "NOSUCH"], 2, ["unknown dataset 'NOSUCH'", "MATH500"]),
    ("hybrid-alpha-without-hybrid", {}, ["enqueue", "MATH", "--split", "test", "--limit", "2",
                                         "--hybrid-alpha", "0.3"], 3,
     ["--hybrid-alpha only applies to --retriever hybrid (got --retriever dense)"]),
    ("limit-zero", {}, ["enqueue", "MATH", "--split", "test", "--limit", "0"], 2,
     ["Invalid value for '--limit'"]),
    ("unknown-retriever", {}, ["enqueue", "MATH", "--split", "test", "--retriever", "splade"], 3,
     ["--retriever must be one of dense, bm25, hybrid, not 'splade'"]),
    ("unknown-corpus", {}, ["enqueue", "MATH", "--split", "test", "--limit", "2", "--corpus",
                            "nosuchcorpus"], 3, ["--corpus 'nosuchcorpus': not a known corpus"]),
    ("field-on-builtin", {}, ["enqueue", "MATH", "--split", "test", "--field", "problem=q"], 3,
     ["--field applies to JSONL files"]),
    ("unknown-queue", {}, ["worker", "-Q", "mcts,nosuch"], 2,
     ["unknown queue(s) nosuch; known: mcts, judge, querygen, embed, train, eval"]),
]


# Each case is one CLI process (~1-2 s quiet, ~8 s on a loaded machine): the fast lane keeps one
# bad file, one bad name and one bad option; the full run checks them all.
FAST_CASES = {"malformed-json", "unknown-dataset", "unknown-retriever"}


@pytest.mark.parametrize("case, files, args, code, needles", [
    pytest.param(*c, id=c[0], marks=() if c[0] in FAST_CASES else pytest.mark.slow) for c in CASES])
def test_bad_input_is_refused_and_nothing_is_enqueued(case, files, args, code, needles, rader_env,
                                                      redis_client, queue_prefix, tmp_path):
    for name, records in files.items():
        _jsonl(tmp_path / name, records)
    before = _rows()
    started = time.monotonic()
    out = cli(*[a.format(dir=tmp_path) for a in args], env=rader_env, timeout=120)
    RESULTS.append((case, time.monotonic() - started))
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    stderr = out.stderr
    for needle in needles:
        assert needle in stderr, (needle, stderr)
    assert "Traceback" not in stderr and "Traceback" not in out.stdout
    if code != 2 or not needles[0].startswith("Invalid value"):       # typer's own usage errors
        assert stderr.count("error:") == 1 and len(stderr.strip().splitlines()) == 1, stderr
    assert _rows() == before                                  # no runs, problems or jobs
    assert list(redis_client.scan_iter(match=queue_prefix + "*", count=1000)) == []


@pytest.mark.slow
def test_one_mb_problem_is_skipped_with_skip_invalid(rader_env, redis_client, queue_prefix,
                                                     tmp_path):
    """The deliberate other half of the 1 MB decision: skipped and reported, the rest enqueued."""
    path = _jsonl(tmp_path / "p.jsonl", [*_good(3), {"id": "huge", "problem": "x" * 1_000_000,
                                                      "answer": "1"}])
    out = cli("enqueue", path, "--skip-invalid", "--run", "skip-big", "--retriever", "bm25",
              env=rader_env, timeout=120)
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "skipped" in text and "p.jsonl:4 field 'problem'" in text, text
    assert "3 new problems, 3 new jobs, 3 messages published" in text, text
    with session_scope() as s:
        ids = s.scalars(select(Problem.source_id).join(Run).where(Run.name == "skip-big")).all()
    assert sorted(ids) == ["p0", "p1", "p2"]
    assert redis_client.llen(queue_prefix + "mcts") == 3
    slowest = max(RESULTS, key=lambda r: r[1]) if RESULTS else ("-", 0.0)
    figure("bad-input", f"{len(RESULTS)}/{len(CASES)} bad inputs refused with a named reason and "
           f"0 rows / 0 Redis keys written (slowest {slowest[0]} {slowest[1]:.1f}s); 1 MB problem: "
           f"rejected with --strict, skipped with --skip-invalid (3/3 others enqueued)")
