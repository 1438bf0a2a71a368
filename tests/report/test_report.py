"""``rader-queue report``: a static HTML report built from a run stored in the real PostgreSQL
(trees written by ``write_tree`` from the pure MCTS core with the scripted policy), opened in
headless Chromium and checked through its DOM after the report's scripts ran."""

from __future__ import annotations

import os
import re
import shutil

import pytest
from sqlalchemy import func, select

from rader_queue.report import build_report
from rader_queue.store.db import session_scope
from rader_queue.store.models import Judgement, Retrieval, TreeNode

from . import browser
from .synthetic import make_run

PROBLEMS, PLANTED, FAILED, PENDING = 8, 1, 5, 6
needs_chromium = pytest.mark.skipif(not browser.available(),
                                    reason="headless Chromium missing (apt-get install chromium)")


@pytest.fixture(scope="module")
def built(pg_url, tmp_path_factory):
    info = make_run(pg_url, "report-ci", PROBLEMS, rollouts=5, planted=PLANTED, failed=(FAILED,),
                    pending=(PENDING,))
    out = tmp_path_factory.mktemp("report")
    result = build_report("report-ci", out, database_url=pg_url, workers=1)
    return info, result, out


def _page(out, pid, suffix=""):
    return (out / "problems" / f"{pid}.html").as_uri() + suffix


def test_files_and_counts(built, pg_url):
    info, result, out = built
    assert result.problems == PROBLEMS
    assert result.nodes == sum(info["nodes"].values())
    for pid in info["problems"]:
        assert (out / "problems" / f"{pid}.html").is_file()
    for name in ("index.html", "datasets.html", "assets/report.css", "assets/report.js"):
        assert (out / name).is_file(), name
    assert {p.name for p in (out / "plots").iterdir()} == {
        "rewards.png", "trees.png", "tokens.png", "loss.png", "eval.png"}
    index = (out / "index.html").read_text()
    assert index.count('<tr data-outcome="solved"') == len(info["solved"])
    assert 'data-outcome="pending"' in index and 'data-failed="1"' in index
    assert "TimeoutError: generator did not answer" in index  # failure with its reason
    assert "http://" not in index and "https://" not in index  # nothing from a network


def test_query_generation_nodes_show_topk_and_verdicts(built, pg_url):
    info, _, out = built
    pid = info["problems"][0]
    with session_scope(pg_url) as s:
        qg = s.scalar(select(func.min(Retrieval.qg_node_id)).where(Retrieval.problem_id == pid))
        hits = s.execute(select(Retrieval.doc_id, Retrieval.score).where(
            Retrieval.problem_id == pid, Retrieval.qg_node_id == qg).order_by(Retrieval.rank)).all()
        verdicts = dict(s.execute(select(Judgement.doc_id, Judgement.label).where(
            Judgement.problem_id == pid, Judgement.qg_node_id == qg)).all())
    html = (out / "problems" / f"{pid}.html").read_text()
    start = html.index(f'id="node-{qg}"')
    block = html[start:html.index("</table>", start)]
    words = {True: "relevant", False: "not relevant", None: "unparseable"}
    for doc_id, score in hits:
        row = re.search(rf"<td>{doc_id}</td><td class=\"num\">{score:.3f}</td><td>"
                        rf"<span class=\"verdict-\w+\">([^<]+)</span>", block)
        assert row and row.group(1) == words[verdicts[doc_id]], doc_id


@needs_chromium
@pytest.mark.slow
def test_tree_in_browser_node_count_and_expansion(built, pg_url):
    info, _, out = built
    pid = info["problems"][0]
    with session_scope(pg_url) as s:
        stored = s.scalar(select(func.count()).select_from(TreeNode).where(TreeNode.problem_id == pid))
    default = browser.TreeDom(browser.dump_dom(_page(out, pid)))
    assert len(default.nodes) == stored == info["nodes"][pid]
    assert sum(n["shown"] for n in default.nodes.values()) < stored  # most of the tree is folded
    # A node that is visible but closed, with children: its children are not rendered.
    target = next(nid for nid, n in default.nodes.items()
                  if n["shown"] and not n["open"] and default.children(nid))
    kids = default.children(target)
    assert not any(default.nodes[k]["shown"] for k in kids)

    expanded = browser.TreeDom(browser.dump_dom(_page(out, pid, f"?noscroll#expand={target}")))
    assert expanded.nodes[target]["open"] and "focus" in expanded.nodes[target]["class"]
    assert all(expanded.nodes[k]["shown"] for k in kids)
    # A deep node whose ancestors are all folded: expanding it opens the path down to it.
    deep = max((nid for nid, n in default.nodes.items() if not n["shown"] and default.children(nid)),
               key=lambda nid: len(_ancestors(default, nid)))
    opened = browser.TreeDom(browser.dump_dom(_page(out, pid, f"?noscroll#expand={deep}")))
    assert all(opened.nodes[a]["open"] for a in _ancestors(default, deep))
    assert all(opened.nodes[k]["shown"] for k in default.children(deep))


def _ancestors(dom, nid):
    out = []
    while dom.nodes[nid]["parent"] is not None:
        nid = dom.nodes[nid]["parent"]
        out.append(nid)
    return out


@needs_chromium
@pytest.mark.slow
def test_planted_script_is_escaped_and_never_runs(built):
    info, _, out = built
    pid = info["problems"][PLANTED]
    for url in (_page(out, pid, "?noscroll#expand=all"), (out / "index.html").as_uri(),
                (out / "datasets.html").as_uri()):
        dom_html = browser.dump_dom(url)
        dom = browser.TreeDom(dom_html)
        assert "data-pwned" not in dom.html_attrs, url
        assert "PWNED" not in dom.title, url
        assert [s.get("src") for s in dom.scripts] in (["assets/report.js"], ["../assets/report.js"])
        assert "&lt;script&gt;document.title='PWNED'" in dom_html, url
        assert '<img src="x"' not in dom_html, url
    page = (out / "problems" / f"{pid}.html").read_text()
    # planted in the problem, in every one-step thought and in every judgement reason
    assert page.count("&lt;script&gt;") > 10 and "<script>document" not in page


@needs_chromium
def test_screenshot(built, tmp_path):
    from PIL import Image

    info, _, out = built
    pid = info["problems"][0]
    default = browser.TreeDom(browser.dump_dom(_page(out, pid)))
    target = next(nid for nid, n in default.nodes.items()
                  if n["shown"] and not n["open"] and default.children(nid))
    shot = browser.screenshot(_page(out, pid, f"?noscroll#expand={target}"), tmp_path / "tree.png")
    image = Image.open(shot).convert("RGB")
    assert image.size == (1300, 1800)
    assert len(image.getcolors(maxcolors=1 << 20) or []) > 50  # drawn, not a blank page
    keep = os.environ.get("RADER_REPORT_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, os.path.join(keep, "report-tree.png"))
        shutil.copy(browser.screenshot((out / "index.html").as_uri(), tmp_path / "index.png"),
                    os.path.join(keep, "report-index.png"))


@needs_chromium
def test_index_pages_and_filters_in_browser(built):
    _, _, out = built
    dom = browser.dump_dom((out / "index.html").as_uri())
    assert re.search(r'id="page-info"[^>]*>page 1 of 1 · 8 of 8 problems<', dom)
    assert dom.count("<tr data-outcome=") == PROBLEMS


@pytest.mark.slow
def test_cli_report_command(built, pg_url, tmp_path):
    import typer
    from typer.testing import CliRunner

    from rader_queue.cli.report_commands import report

    app = typer.Typer()
    app.command()(report)
    app.command("noop")(lambda: None)  # keep Typer in multi-command mode: `report RUN`
    runner = CliRunner()
    ok = runner.invoke(app, ["report", "report-ci", "--out", str(tmp_path / "r"),
                             "--database-url", pg_url, "--workers", "2"])
    assert ok.exit_code == 0, ok.output
    assert "8 problems" in ok.output and (tmp_path / "r" / "index.html").is_file()
    # The pool renders the same pages as one process.
    _, _, out = built
    pid = built[0]["problems"][0]
    strip = lambda t: re.sub(r"built [^<]+UTC", "", t)  # noqa: E731
    assert strip((tmp_path / "r" / "problems" / f"{pid}.html").read_text()) == strip(
        (out / "problems" / f"{pid}.html").read_text())
    missing = runner.invoke(app, ["report", "no-such-run", "--out", str(tmp_path / "x"),
                                  "--database-url", pg_url])
    assert missing.exit_code == 2 and "no run named" in missing.output


def test_cost_table_shows_wall_time_per_problem_not_summed_latency(built, pg_url):
    """Issue 17: the summed latency of concurrent calls is named as such; time per problem is
    the jobs' wall time (synthetic jobs take 10 + i s; the pending one has no times)."""
    from rader_queue.report.data import load_overview

    info, _, out = built
    with session_scope(pg_url) as s:
        overview = load_overview(s, "report-ci")
    finished = [i for i in range(PROBLEMS) if i != PENDING]
    expected = sum(10 + i for i in finished) / len(finished)
    assert overview.wall_by_stage == {"mcts": pytest.approx(expected)}
    index = (out / "index.html").read_text()
    assert "seconds / problem" not in index and "LLM seconds" not in index
    assert "model time (s, summed over concurrent calls)" in index
    assert "wall time / problem (s)" in index
    table = index[index.index("model time (s, summed"):]
    row = table[table.index("<td>mcts</td>"):].split("</tr>")[0]
    assert row.endswith(f'<td class="num">{expected:.2f}</td>'), row
    judge = table[table.index("<td>judge</td>"):].split("</tr>")[0]
    assert judge.endswith('<td class="num">–</td>'), judge    # no judge jobs: no wall time
