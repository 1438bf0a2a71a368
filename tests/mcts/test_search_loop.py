"""Selection, backpropagation, determinism and concurrency of run_search."""

import asyncio
import json
import math

import pytest

from rader_queue.errors import ConfigError, InputError
from rader_queue.mcts import MCTSConfig, NodeType, run_search, uct_value
from rader_queue.mcts.search import _Draft, _Search

from .scripted import ScriptedPolicy

Q = "What is six times seven?"


def run(policy, **cfg):
    return asyncio.run(run_search(Q, policy, MCTSConfig(**cfg)))


def test_uct_value_hand_computed():
    assert uct_value(3.0, 4, 10, 2.0) == pytest.approx(0.75 + 2.0 * math.sqrt(math.log(10) / 4))
    assert uct_value(3.0, 4, 10, 2.0) == pytest.approx(2.26743, abs=1e-5)
    assert uct_value(0.0, 0, 10, 2.0) == 999.0


@pytest.mark.parametrize("c, expected", [(2.0, "A"), (4.0, "B")])
def test_uct_selection_choice(c, expected):
    # A: 1 + c*sqrt(ln 3 / 2); B: 0 + c*sqrt(ln 3 / 1). c=2: 2.482 vs 2.096 -> A; c=4: 3.965 vs 4.193 -> B.
    s = _Search(Q, ScriptedPolicy(), MCTSConfig())
    a = s._add(s.root, _Draft(NodeType.OST, "A"), 0)
    b = s._add(s.root, _Draft(NodeType.OST, "B"), 0)
    s.root.expanded, s.root.n = True, 3
    a.q, a.n, b.q, b.n = 2.0, 2, 0.0, 1
    path = s._select(c)
    assert [n.text for n in path[1:]] == [expected]


def test_selection_prefers_unexplored_children():
    s = _Search(Q, ScriptedPolicy(), MCTSConfig())
    a = s._add(s.root, _Draft(NodeType.OST, "A"), 0)
    s._add(s.root, _Draft(NodeType.OST, "B"), 0)
    s.root.expanded, s.root.n, a.q, a.n = True, 5, 100.0, 5
    assert s._select(2.0)[-1].text == "B"


def test_backpropagation_hand_traced():
    # root -> [OST a (id 1), CRS c (id 2, best of [wrong, right] = 1.0)]; a -> [OST b (id 3), boxed 0 -> 0.0].
    # Rollouts 0 and 1 visit a->b and c in some order; rollout 2 picks c by UCT (2.665 vs 1.665).
    policy = ScriptedPolicy(ost=lambda ctx, n: ["a"] if ctx.depth == 0 else ["b \\boxed{0}"],
                            crs=lambda ctx, n: ["wrong \\boxed{0}", "right \\boxed{42}"] if ctx.depth == 0 else [])
    result = run(policy, rollouts=3, ost_samples=1, crs_samples=2, enable_qg=False)
    root, a, c, b = result.nodes
    assert (a.type, c.type, b.type, b.parent_id) == (NodeType.OST, NodeType.CRS, NodeType.OST, 1)
    assert (root.q, root.n) == (2.0, 3)
    assert (a.q, a.n) == (0.0, 1)
    assert (b.q, b.n, b.value, b.valid_leaf) == (0.0, 1, 0.0, True)
    assert (c.q, c.n, c.value, c.text) == (2.0, 2, 1.0, "right \\boxed{42}")
    assert sorted((s.node_id, s.reward) for s in result.rollout_solutions[:2]) == [(2, 1.0), (3, 0.0)]
    assert (result.rollout_solutions[2].node_id, result.rollout_solutions[2].reward) == (2, 1.0)
    assert [(f.node_id, f.reward) for f in result.final_solutions] == [(2, 1.0), (3, 0.0)]


def test_non_leaf_terminal_at_max_depth_backs_up_zero():
    policy = ScriptedPolicy(ost=lambda ctx, n: ["no answer yet"], crs=lambda ctx, n: ["\\boxed{42}"])
    result = run(policy, rollouts=4, max_depth=1, ost_samples=1, enable_qg=False)
    root, ost, crs = result.nodes
    assert ost.terminal and not ost.valid_leaf and ost.value is None
    assert ost.n >= 1 and ost.q == 0.0
    assert crs.q == crs.n and root.q == crs.n and root.n == 4
    assert {s.reward for s in result.rollout_solutions if s.node_id == ost.node_id} == {0.0}


def test_result_shape_and_json():
    result = run(ScriptedPolicy(), rollouts=6)
    assert [n.node_id for n in result.nodes] == list(range(len(result.nodes)))
    assert [s.rollout_id for s in result.rollout_solutions] == list(range(6))
    data = json.loads(json.dumps(result.to_dict()))
    assert data["nodes"][0]["type"] == "user_question" and data["config"]["rollouts"] == 6
    leaf = result.rollout_solutions[-1].node_id
    path = result.trajectory(leaf)
    assert path[0].node_id == 0 and path[-1].node_id == leaf
    assert all(child.parent_id == parent.node_id for parent, child in zip(path, path[1:]))
    assert result.final_solutions and all(result.node(f.node_id).valid_leaf for f in result.final_solutions)
    # the root is visited once per rollout; a parent's N is at least the sum over its visited children
    assert result.nodes[0].n == 6
    for node in result.nodes:
        assert node.n >= sum(result.nodes[c].n for c in node.children)


def test_same_seed_same_tree():
    a = run(ScriptedPolicy(), rollouts=10, seed=7).to_dict()
    b = run(ScriptedPolicy(), rollouts=10, seed=7).to_dict()
    assert a == b


def test_different_seed_different_tree():
    a = run(ScriptedPolicy(), rollouts=10, seed=1).to_dict()
    b = run(ScriptedPolicy(), rollouts=10, seed=2).to_dict()
    assert a["nodes"] != b["nodes"]


def test_determinism_when_calls_finish_in_shuffled_order():
    reference = run(ScriptedPolicy(), rollouts=8, seed=3).to_dict()
    for delay_seed in (11, 12):
        shuffled = run(ScriptedPolicy(delay_seed=delay_seed), rollouts=8, seed=3).to_dict()
        assert shuffled == reference


def test_summaries_and_judgements_of_top_k_run_concurrently():
    policy = ScriptedPolicy(fixed_delay=0.005)
    result = run(policy, rollouts=6, top_k=5)
    assert result.retrievals, "the search never retrieved"
    assert policy.max_in_flight["summarize"] >= 5
    assert policy.max_in_flight["judge_relevance"] >= 5


def test_ost_crs_and_qg_requests_of_one_expansion_run_together():
    policy = ScriptedPolicy(fixed_delay=0.005)
    run(policy, rollouts=1)
    assert policy.group_max["expansion"] >= 3


def test_node_ids_are_per_search_even_when_searches_interleave():
    async def both():
        return await asyncio.gather(
            run_search("first question", ScriptedPolicy(delay_seed=1), MCTSConfig(rollouts=6, seed=1)),
            run_search("second question", ScriptedPolicy(delay_seed=2), MCTSConfig(rollouts=6, seed=2)))

    first, second = asyncio.run(both())
    for result in (first, second):
        assert [n.node_id for n in result.nodes] == list(range(len(result.nodes)))
        for node in result.nodes[1:]:
            assert result.nodes[node.parent_id].children.count(node.node_id) == 1
    assert first.nodes[0].text == "first question" and second.nodes[0].text == "second question"


def test_bad_inputs():
    with pytest.raises(InputError, match="question"):
        run_search_sync("   ")
    with pytest.raises(ConfigError, match="enable_subquestion"):
        asyncio.run(run_search(Q, ScriptedPolicy(), MCTSConfig(enable_subquestion=True)))


def run_search_sync(question):
    return asyncio.run(run_search(question, ScriptedPolicy(), MCTSConfig(rollouts=1)))
