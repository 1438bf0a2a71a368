"""Children rules per node type (spec §S1.2) and terminal detection."""

import asyncio

from rader_queue.mcts import MCTSConfig, NodeType, run_search
from rader_queue.mcts.nodes import CandidateTheorem, Judgement
from rader_queue.mcts.search import _Draft, _Search

from .scripted import ScriptedPolicy, make_corpus, qg_count

Q = "What is six times seven?"


def search(policy, **cfg) -> _Search:
    return _Search(Q, policy, MCTSConfig(**cfg))


def expand(s: _Search, node) -> list:
    asyncio.run(s._expand(node, 0))
    return [s.nodes[c] for c in node.children]


def add(s: _Search, parent, kind, text="x", **fields):
    return s._add(parent, _Draft(kind, text, fields=fields), 0)


def types(nodes):
    return [n.type for n in nodes]


def test_root_children_two_ost_one_crs_and_one_qg_per_candidate():
    s = search(ScriptedPolicy())
    kids = expand(s, s.root)
    assert types(kids) == [NodeType.OST, NodeType.OST, NodeType.CRS,
                           NodeType.QUERY_GENERATION, NodeType.QUERY_GENERATION]
    assert [k.node_id for k in kids] == [1, 2, 3, 4, 5]
    assert all(k.depth == 1 and k.parent_id == 0 for k in kids)
    qg = kids[3]
    assert qg.query == "Theorem Name: Theorem A\nTheorem Statement: statement 0 at node 0"
    assert qg.theorem_name == "Theorem A"


def test_ost_gets_ost_and_qg_but_no_crs():
    s = search(ScriptedPolicy())
    ost = add(s, s.root, NodeType.OST, "first step")
    assert types(expand(s, ost)) == [NodeType.OST, NodeType.OST, NodeType.QUERY_GENERATION,
                                     NodeType.QUERY_GENERATION]


def test_ost_without_children_falls_back_to_crs():
    s = search(ScriptedPolicy(ost=lambda ctx, n: [] if ctx.depth else ["a", "b"]), enable_qg=False)
    ost = add(s, s.root, NodeType.OST, "first step")
    kids = expand(s, ost)
    assert types(kids) == [NodeType.CRS]
    assert not ost.terminal


def test_qg_gives_one_rt_child_per_accepted_doc():
    policy = ScriptedPolicy(verdicts={"d1": True, "d3": True})
    s = search(policy)
    qg = add(s, s.root, NodeType.QUERY_GENERATION, "q", query="Theorem Name: A")
    kids = expand(s, qg)
    assert types(kids) == [NodeType.RETRIEVAL, NodeType.RETRIEVAL]
    assert [k.doc_id for k in kids] == ["d1", "d3"]
    assert kids[0].text == kids[0].summary == "summary of d1"
    assert kids[1].retrieval_rank == 3 and kids[1].depth == 2
    assert [(r.rank, r.doc_id) for r in s.retrievals] == [(i, f"d{i}") for i in range(1, 6)]
    assert all(r.qg_node_id == qg.node_id and r.query == "Theorem Name: A" for r in s.retrievals)


def test_qg_with_nothing_accepted_falls_back_to_ost_and_crs():
    s = search(ScriptedPolicy(verdicts={}))
    qg = add(s, s.root, NodeType.QUERY_GENERATION, "q", query="Theorem Name: A")
    assert types(expand(s, qg)) == [NodeType.OST, NodeType.OST, NodeType.CRS]
    assert len(s.judgements) == 5 and all(j.label is False for j in s.judgements)


def test_rt_gets_ost_and_crs():
    s = search(ScriptedPolicy())
    qg = add(s, s.root, NodeType.QUERY_GENERATION, "q", query="A")
    rt = add(s, qg, NodeType.RETRIEVAL, "summary", doc_id="d1")
    assert types(expand(s, rt)) == [NodeType.OST, NodeType.OST, NodeType.CRS]


def test_self_reflection_uses_each_docs_own_verdict():
    # T, F, T, F, T must accept exactly docs 1, 3, 5 and log the rejections of 2 and 4 by their own ids.
    verdicts = {"d1": True, "d2": False, "d3": True, "d4": False, "d5": True}
    s = search(ScriptedPolicy(verdicts=verdicts))
    qg = add(s, s.root, NodeType.QUERY_GENERATION, "q", query="A")
    kids = expand(s, qg)
    assert [k.doc_id for k in kids] == ["d1", "d3", "d5"]
    assert [(j.doc_id, j.rank, j.label) for j in s.judgements] == [
        ("d1", 1, True), ("d2", 2, False), ("d3", 3, True), ("d4", 4, False), ("d5", 5, True)]
    rejected = [j for j in s.judgements if j.label is False]
    assert [j.doc_id for j in rejected] == ["d2", "d4"]
    assert [j.reason for j in rejected] == ["reason for d2", "reason for d4"]
    assert all(j.qg_node_id == qg.node_id for j in s.judgements)


def test_unparseable_verdict_is_recorded_and_not_accepted():
    def verdict(ctx, summary, doc):
        if doc.doc_id == "d2":
            return Judgement(label=None, reason="gibberish", raw="gibberish")
        return Judgement(label=True, reason="ok", raw="Relevant: True")

    s = search(ScriptedPolicy(verdicts=verdict))
    qg = add(s, s.root, NodeType.QUERY_GENERATION, "q", query="A")
    kids = expand(s, qg)
    assert "d2" not in [k.doc_id for k in kids] and len(kids) == 4
    [none] = [j for j in s.judgements if j.doc_id == "d2"]
    assert none.label is None and none.raw == "gibberish"


def test_self_reflection_off_accepts_every_doc_without_judging():
    policy = ScriptedPolicy(verdicts={})
    s = search(policy, self_reflection=False, top_k=3)
    qg = add(s, s.root, NodeType.QUERY_GENERATION, "q", query="A")
    assert [k.doc_id for k in expand(s, qg)] == ["d1", "d2", "d3"]
    assert policy.count("judge_relevance") == 0 and s.judgements == []


def test_theorems_on_the_path_are_never_retrieved_again():
    policy = ScriptedPolicy(honour_exclude=False)          # the search must filter on its own
    s = search(policy, top_k=2)
    qg1 = add(s, s.root, NodeType.QUERY_GENERATION, "q1", query="A")
    rt1 = add(s, qg1, NodeType.RETRIEVAL, "s", doc_id="d1")
    qg2 = add(s, rt1, NodeType.QUERY_GENERATION, "q2", query="B")
    kids = expand(s, qg2)
    assert policy.calls[0] == ("retrieve", ("B", ("d1",), 2))   # the path's theorem ids are excluded
    assert [k.doc_id for k in kids] == ["d2"]                     # and filtered if a policy ignores that
    assert [r.doc_id for r in s.retrievals] == ["d2"]


def test_exclusion_passed_to_an_honouring_policy_still_yields_top_k():
    s = search(ScriptedPolicy(), top_k=2)
    qg1 = add(s, s.root, NodeType.QUERY_GENERATION, "q1", query="A")
    rt1 = add(s, qg1, NodeType.RETRIEVAL, "s", doc_id="d1")
    qg2 = add(s, rt1, NodeType.QUERY_GENERATION, "q2", query="B")
    assert [k.doc_id for k in expand(s, qg2)] == ["d2", "d3"]


def test_whole_search_respects_qg_budget_and_exclusions():
    policy = ScriptedPolicy(corpus=make_corpus(12), honour_exclude=False,
                            crs=lambda ctx, n: ["no answer here"] * n)
    result = asyncio.run(run_search(Q, policy, MCTSConfig(rollouts=30, max_depth=6, qg_budget=2, top_k=2)))
    assert any(n.type is NodeType.RETRIEVAL for n in result.nodes)
    for node in result.nodes:
        path = result.trajectory(node.node_id)
        assert sum(p.type is NodeType.QUERY_GENERATION for p in path) <= 2
        doc_ids = [p.doc_id for p in path if p.type is NodeType.RETRIEVAL]
        assert len(doc_ids) == len(set(doc_ids))
    for name, ctx in policy.calls:
        if name == "generate_queries":
            assert qg_count(ctx) < 2
    # some node did reach the budget, so the limit was actually exercised
    assert any(sum(p.type is NodeType.QUERY_GENERATION for p in result.trajectory(n.node_id)) == 2
               for n in result.nodes)


def test_qg_disabled_never_asks_for_queries():
    policy = ScriptedPolicy()
    asyncio.run(run_search(Q, policy, MCTSConfig(rollouts=4, enable_qg=False)))
    assert policy.count("generate_queries") == 0


def test_terminal_ost_detection():
    answers = {"boxed": "so x = \\boxed{42}", "answer is": "Thus The Answer Is 42.",
               "upper": "THE ANSWER IS 7", "plain": "we multiply six by seven"}
    s = search(ScriptedPolicy(ost=lambda ctx, n: list(answers.values())), ost_samples=4, enable_qg=False)
    kids = expand(s, s.root)
    osts = [k for k in kids if k.type is NodeType.OST]
    assert [k.terminal for k in osts] == [True, True, True, False]
    assert [k.valid_leaf for k in osts] == [True, True, True, False]
    assert [k.value for k in osts] == [1.0, 0.0, 0.0, None]   # only a boxed 42 matches the gold


def test_crs_is_terminal_and_keeps_best_sample():
    samples = ["\\boxed{42} right", "\\boxed{1} wrong", "\\boxed{2} wrong", "\\boxed{3} wrong"]
    s = search(ScriptedPolicy(crs=lambda ctx, n: samples), enable_qg=False)
    [crs] = [k for k in expand(s, s.root) if k.type is NodeType.CRS]
    assert crs.terminal and crs.valid_leaf
    assert crs.value == 1.0 and crs.text == samples[0]          # the best, not the last sample
    assert crs.sample_rewards == [1.0, 0.0, 0.0, 0.0]
    assert expand(s, crs) == [] and crs.terminal


def test_crs_ties_keep_the_first_best_sample():
    samples = ["\\boxed{1}", "\\boxed{42} a", "\\boxed{42} b"]
    s = search(ScriptedPolicy(crs=lambda ctx, n: samples), enable_qg=False, crs_samples=3)
    [crs] = [k for k in expand(s, s.root) if k.type is NodeType.CRS]
    assert crs.text == "\\boxed{42} a"


def test_max_depth_makes_nodes_terminal_and_qg_rt_take_a_level_each():
    s = search(ScriptedPolicy(), max_depth=3)
    qg = add(s, s.root, NodeType.QUERY_GENERATION, "q", query="A")
    rt = add(s, qg, NodeType.RETRIEVAL, "s", doc_id="d1")
    assert (qg.depth, rt.depth) == (1, 2) and not rt.terminal
    kids = expand(s, rt)
    assert all(k.depth == 3 and k.terminal for k in kids)
    ost = kids[0]
    assert ost.type is NodeType.OST and not ost.valid_leaf and ost.value is None


def test_expansion_without_children_makes_the_node_terminal():
    policy = ScriptedPolicy(ost=lambda ctx, n: [" ", ""] if ctx.depth else ["first"],
                            crs=lambda ctx, n: [] if ctx.depth else ["\\boxed{1}"],
                            queries=lambda ctx: [CandidateTheorem("", "")])
    result = asyncio.run(run_search(Q, policy, MCTSConfig(rollouts=5)))
    ost = next(n for n in result.nodes if n.type is NodeType.OST)
    assert ost.expanded and ost.children == [] and ost.terminal
    assert len(result.rollout_solutions) == 5
    # QG candidates without a query are dropped
    assert not any(n.type is NodeType.QUERY_GENERATION for n in result.nodes)
