"""rStar actions A3/A4/A5 behind their flags."""

import asyncio

from rader_queue.mcts import MCTSConfig, NodeType, run_search
from rader_queue.mcts.search import _Search

from .scripted import ScriptedPolicy


class RStarScripted(ScriptedPolicy):
    async def propose_subquestions(self, ctx, n):
        return [("What is 6 * 7?", "6 * 7 = 42."), ("Now we can answer the question: what is it?", "\\boxed{42}")]

    async def reanswer_subquestion(self, ctx):
        return "Again, \\boxed{42}."

    async def rephrase_question(self, ctx):
        return "Given: two numbers 6 and 7. Find their product."


def test_flags_add_subquestion_rephrase_and_reanswer_children():
    cfg = MCTSConfig(enable_subquestion=True, enable_reanswer=True, enable_rephrase=True, enable_qg=False)
    s = _Search("What is six times seven?", RStarScripted(), cfg)
    asyncio.run(s._expand(s.root, 0))
    kids = [s.nodes[c] for c in s.root.children]
    assert [k.type for k in kids] == [NodeType.OST, NodeType.OST, NodeType.CRS, NodeType.SUBQUESTION,
                                      NodeType.SUBQUESTION, NodeType.REPHRASED_QUESTION]
    plain, final = kids[3], kids[4]
    assert not plain.terminal and plain.subanswer == "6 * 7 = 42."
    assert final.terminal and final.valid_leaf and final.value == 1.0
    asyncio.run(s._expand(plain, 0))
    assert NodeType.RE_SUBANSWER in [s.nodes[c].type for c in plain.children]
    rephrased = kids[5]
    asyncio.run(s._expand(rephrased, 0))
    assert NodeType.REPHRASED_QUESTION not in [s.nodes[c].type for c in rephrased.children]


def test_flags_off_never_call_rstar_actions():
    policy = RStarScripted()
    result = asyncio.run(run_search("q?", policy, MCTSConfig(rollouts=4)))
    assert not any(n.type in (NodeType.SUBQUESTION, NodeType.REPHRASED_QUESTION) for n in result.nodes)
