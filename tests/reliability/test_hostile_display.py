"""Display is data, not markup (issue 13): Rich markup and terminal escape sequences planted in a
dataset (file name, problem id, problem text, gold answer), in model output (node text, judge
reasons) and in a server's HTTP 400 message (``jobs.last_error``, produced by a real worker) are
shown literally by ``enqueue``, ``status``, ``status --watch``, ``runs``, ``tree`` and
``report``; no ESC or C1 CSI byte reaches stdout. Run names are validated before anything is
written. A problem whose every reply has ``content: null`` ends ``failed`` with the reason."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import func, select

from rader_queue.errors import InputError
from rader_queue.queue.run_names import default_run_name, validate_run_name

from rader_queue.mcts import MCTSConfig, run_search
from rader_queue.mcts.nodes import Judgement as Verdict
from rader_queue.store import session_scope
from rader_queue.store.models import Job, JobState, Problem, Run, TreeNode
from rader_queue.trees.persist import write_tree
from tests.llm.fake_server import FakeServer, chat, error
from tests.mcts.scripted import ScriptedPolicy
from tests.reliability.conftest import SMALL_MCTS, cli, wait_states, worker, worker_env

LINK = "[link=https://evil.example]click[/link]"
PAYLOAD = (f"pwn [/bold] {LINK} \x1b]8;;https://evil.example\x07here\x1b]8;;\x07 "
           "\x1b[2Jwipe \x9b31mred\r <script>alert(1)</script>")
SEEN = ["[/bold]", LINK]            # what must be shown literally (markup that must not apply)
WIDE = {"COLUMNS": "1000", "TERM": "xterm-256color"}


def _clean_output(out, *, must_show: list[str] = SEEN) -> None:
    assert out.returncode == 0, out.stderr[-2000:]
    assert "\x1b" not in out.stdout and "\x9b" not in out.stdout, out.stdout[-2000:]
    assert "\x1b" not in out.stderr
    for text in must_show:
        assert text in out.stdout, (text, out.stdout[-3000:])


def _plant_tree(run_name: str) -> None:
    """A stored tree whose node texts and judge reasons carry the payload (model output)."""
    policy = ScriptedPolicy(
        ost=lambda ctx, n: [f"step {k} {PAYLOAD}" for k in range(n)],
        verdicts=lambda ctx, summary, doc: Verdict(label=True, reason=f"because {PAYLOAD}",
                                                   raw="Relevant: True"))
    with session_scope() as s:
        problem = s.scalars(select(Problem).join(Run, Run.id == Problem.run_id)
                            .where(Run.name == run_name)
                            .order_by(Problem.position)).first()
        result = asyncio.run(run_search(problem.text, policy,
                                        MCTSConfig(rollouts=4, top_k=2, seed=1)))
        write_tree(s, problem.id, result, retriever="bm25", model="scripted")


@pytest.mark.slow
def test_planted_payloads_are_shown_literally(rader_env, tmp_path):
    (tmp_path / "data[").mkdir()
    data = tmp_path / "data[" / "bold]\x1b[2J.jsonl"       # .../data[/bold]<ESC>[2J.jsonl
    rows = [{"id": f"p0 {LINK}", "problem": f"What is 6 x 7? {PAYLOAD}",
             "answer": f"42 {PAYLOAD}"},
            {"id": "p1", "problem": "NULLCASE what is 1 + 1?", "answer": "2"},
            {"id": f"p2 {PAYLOAD}", "problem": "no answer here"}]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")

    def responder(body):
        prompt = json.dumps(body.get("messages"))
        return chat(None) if "NULLCASE" in prompt else error(400, f"bad request {PAYLOAD}")

    with FakeServer(responder) as server:
        env = worker_env({**rader_env, **WIDE}, RADER_LLM_BASE_URL=server.base_url,
                         RADER_LLM_MODEL="default", RADER_TASK_MAX_RETRIES=0,
                         RADER_LLM_CACHE="false")
        args = ["enqueue", str(data), "--run", "hostile", "--skip-invalid", "--seed", "913"]
        for key, value in SMALL_MCTS.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        out = cli(*args, env=env)
        _clean_output(out, must_show=["skipped", "data[/bold]"])
        with worker(env, tmp_path / "worker.log", concurrency=2):
            wait_states("hostile", {JobState.FAILED: 2}, 120, tmp_path / "worker.log")
        assert len(server.requests) >= 1 + 3      # the 400 once; null: 1 try + 2 bad retries

    with session_scope() as s:
        errors = [j.last_error for j in s.scalars(
            select(Job).join(Run, Run.id == Job.run_id).where(Run.name == "hostile"))]
        nodes = s.scalar(select(func.count()).select_from(TreeNode)
                         .join(Problem, Problem.id == TreeNode.problem_id)
                         .join(Run, Run.id == Problem.run_id).where(Run.name == "hostile"))
    assert any("[/bold]" in e and "400" in e for e in errors), errors
    assert any("no content (null)" in e for e in errors), errors    # failed, not a 1-node tree
    assert nodes == 0

    _plant_tree("hostile")
    # (status cuts reasons at 200 characters: the link tag is past the cut)
    shown = ["[/bold]", "no content (null)"]
    _clean_output(cli("status", "hostile", env=env), must_show=shown)
    _clean_output(cli("status", env=env), must_show=shown)
    _clean_output(cli("status", "hostile", "--watch", "--interval", "0.2", env=env, timeout=60),
                  must_show=shown)
    _clean_output(cli("runs", env=env), must_show=["hostile"])
    out = cli("tree", "hostile", "0", "--width", "400", env=env)
    _clean_output(out, must_show=[*SEEN, "because pwn [/bold]", "42 pwn [/bold]"])
    out = cli("report", "hostile", "--out", str(tmp_path / "report"), env=env)
    _clean_output(out, must_show=["hostile"])
    pages = [p.read_text() for p in (tmp_path / "report").rglob("*.html")]
    assert pages and not any("<script>alert(1)</script>" in p for p in pages)
    assert any("&lt;script&gt;alert(1)&lt;/script&gt;" in p for p in pages)


@pytest.mark.parametrize("name", ["[/bold]", "x\x1b[2J", "a b", "x" * 201, "-leading", "",
                                  "caf\u00e9", "a\x9b31m", "a/b", "a\nb", "a\u202eb"])
def test_invalid_run_names_are_refused(name):
    with pytest.raises(InputError, match="run name"):
        validate_run_name(name)


def test_valid_run_names_pass():
    for name in ["MATH-train", "ok-Name_1.2+x=y@z:w", "x" * 200, "7"]:
        assert validate_run_name(name) == name
    assert default_run_name("my file [v2].jsonl", "test") == "my_file_v2_.jsonl-test"


@pytest.mark.slow
def test_run_names_are_validated_before_anything_is_written(rader_env, tmp_path):
    data = tmp_path / "ok.jsonl"
    data.write_text(json.dumps({"id": "a", "problem": "1+1?", "answer": "2"}) + "\n")
    for bad in ["[/bold]", "x\x1b[2J", "x" * 201]:
        out = cli("enqueue", str(data), "--run", bad, env={**rader_env, **WIDE})
        assert out.returncode == 2, (bad, out.stdout, out.stderr)
        assert "run name" in out.stderr and "\x1b" not in out.stderr + out.stdout
    db = tmp_path / "embedded.db"
    out = cli("run", str(data), "--run", "a/b", "--database-url", f"sqlite:///{db}",
              env={**rader_env, **WIDE})
    assert out.returncode == 2 and "run name" in out.stderr and not db.exists()
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Run)
                        .where(Run.dataset.like("%ok.jsonl"))) == 0
    out = cli("enqueue", str(data), "--run", "ok-Name_1.2+x=y@z:w", env={**rader_env, **WIDE})
    assert out.returncode == 0, out.stderr
