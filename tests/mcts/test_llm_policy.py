"""Prompts and LLMPolicy over a fake TextGenerator and TheoremSearch."""

import asyncio

import pytest

from rader_queue.errors import ConfigError, InputError
from rader_queue.mcts import LLMPolicy, MCTSConfig, NodeType, run_search
from rader_queue.mcts import prompting
from rader_queue.mcts.nodes import PathContext, RetrievedDoc
from rader_queue.mcts.policy import Policy, TextGenerator, TheoremSearch

QUESTION = "A right triangle has legs 3 and 4. How long is its hypotenuse?"
CTX = PathContext(question=QUESTION, steps=(
    (NodeType.OST, "We need the hypotenuse."),
    (NodeType.QUERY_GENERATION, "Theorem Name: Pythagoras"),
    (NodeType.RETRIEVAL, "In a right triangle c^2 = a^2 + b^2."),
), node_id=5, depth=3, theorem_ids=("t1",))

REPLIES = {
    "one step at a time": ["The hypotenuse is \\boxed{5}.", "Square the legs: 9 and 16."],
    "finish solutions": ["sqrt(25) = \\boxed{5}", "\\boxed{7}", "\\boxed{5.0}", "no box"],
    "find theorems": ["Theorem 1: Pythagorean theorem\nTheorem statement: c^2 = a^2 + b^2\nSubject: Geometry"],
    "rewrite formal theorems": ["In a right triangle, c^2 = a^2 + b^2."],
    "retrieved theorem helps": ["Relevant: True\nReason: it gives c."],
    "compare two final answers": ["True"],
}


class FakeGenerator:
    def __init__(self, replies=REPLIES):
        self.replies, self.calls = replies, []

    async def generate(self, messages, *, n=1, max_tokens=256, temperature=0.8, top_p=0.95, stop=None,
                       seed=None, stage="mcts", reply_format=None):
        self.calls.append({"messages": messages, "n": n, "max_tokens": max_tokens, "temperature": temperature,
                           "top_p": top_p, "stop": stop, "seed": seed, "stage": stage,
                           "reply_format": reply_format})
        for key, outs in self.replies.items():
            if key in messages[0]["content"]:
                return list(outs)[:n]
        raise AssertionError("unknown prompt")

    def by_kind(self, key):
        return [c for c in self.calls if key in c["messages"][0]["content"]]


class FakeTheorems:
    def __init__(self):
        self.docs = {f"t{i}": (f"Theorem {i}", f"Statement {i}.\n\n  Details  here \\begin{{proof}} long proof {i}")
                     for i in range(1, 8)}
        self.searches = []

    def search(self, query, k=5, exclude=()):
        self.searches.append((query, k, tuple(exclude)))
        ids = [d for d in self.docs if d not in set(exclude)]
        return [(d, 1.0 - i / 10) for i, d in enumerate(ids)][:k]

    def document(self, doc_id):
        return self.docs[doc_id]


def make(config=None, gold="5", replies=REPLIES):
    gen, thm = FakeGenerator(replies), FakeTheorems()
    return LLMPolicy(gen, thm, gold, config or MCTSConfig()), gen, thm


def test_protocols_are_satisfied():
    policy, gen, thm = make()
    assert isinstance(policy, Policy) and isinstance(gen, TextGenerator) and isinstance(thm, TheoremSearch)


def test_every_prompt_loads_and_fills_its_slots():
    for name in prompting.PROMPT_NAMES:
        tpl = prompting.load_template(name)
        assert tpl.system and tpl.user and "{{" not in tpl.system
    msgs = prompting.ost_messages(PathContext(question="Is {{steps}} a slot? \\frac{1}{2}"))
    assert msgs[0]["role"] == "system" and msgs[1]["role"] == "user"
    assert "Is {{steps}} a slot? \\frac{1}{2}" in msgs[1]["content"]
    assert "Steps so far:\n(none)" in msgs[1]["content"]
    with pytest.raises(ConfigError):
        prompting.load_template("nope")


def test_steps_render_theorems_and_skip_queries():
    text = prompting.render_steps(CTX)
    assert text == "Step 1: We need the hypotenuse.\nUseful theorem: In a right triangle c^2 = a^2 + b^2."


def test_prompts_stay_small_for_a_tiny_model():
    theorem = "x " * 700
    builders = [prompting.ost_messages(CTX), prompting.crs_messages(CTX), prompting.query_generation_messages(CTX),
                prompting.summary_messages(prompting.clean_theorem_text(theorem, 1500)),
                prompting.reflection_messages(CTX, "c^2 = a^2 + b^2"),
                prompting.equivalence_messages(QUESTION, "5", "5.0")]
    for msgs in builders:
        chars = sum(len(m["content"]) for m in msgs)
        assert chars < 4500, chars                    # about 1,200 tokens at ~3.7 chars per token


def test_clean_theorem_text():
    assert prompting.clean_theorem_text("A  is\n B.\\begin{proof} secret \\end{proof}", 100) == "A is B."
    cut = prompting.clean_theorem_text("word " * 100, 40)
    assert len(cut) <= 44 and cut.endswith(" ...")


def test_action_calls_use_config_and_parse_replies():
    cfg = MCTSConfig(seed=9)
    policy, gen, thm = make(cfg)
    osts = asyncio.run(policy.one_step_thoughts(CTX, 2))
    assert osts == REPLIES["one step at a time"]
    call = gen.calls[-1]
    assert (call["n"], call["max_tokens"], call["temperature"], call["top_p"]) == (2, 256, 0.8, 0.95)
    assert call["stop"] == prompting.STOP_OST and call["stage"] == "mcts" and call["seed"] is not None
    assert "Useful theorem: In a right triangle" in call["messages"][1]["content"]
    crs = asyncio.run(policy.complete_remaining(CTX, 4))
    assert len(crs) == 4 and gen.calls[-1]["max_tokens"] == 1024
    [cand] = asyncio.run(policy.generate_queries(CTX))
    assert cand.name == "Pythagorean theorem" and cand.statement == "c^2 = a^2 + b^2"


def test_seeds_are_reproducible_and_differ_between_nodes_and_actions():
    policy, gen, _ = make()
    other = PathContext(question=QUESTION, node_id=6)
    asyncio.run(policy.one_step_thoughts(CTX, 2))
    asyncio.run(policy.one_step_thoughts(CTX, 2))
    asyncio.run(policy.one_step_thoughts(other, 2))
    asyncio.run(policy.complete_remaining(CTX, 4))
    seeds = [c["seed"] for c in gen.calls]
    assert seeds[0] == seeds[1] and len({seeds[0], seeds[2], seeds[3]}) == 3


def test_without_candidate_theorem_parsing_the_whole_reply_is_one_query():
    policy, _, _ = make(MCTSConfig(llm_candidate_theorems=False),
                        replies={**REPLIES, "find theorems": ["Pythagorean theorem and distance formula"]})
    [cand] = asyncio.run(policy.generate_queries(CTX))
    assert cand.statement == "Pythagorean theorem and distance formula" and cand.name == ""


def test_retrieve_summarize_and_judge():
    policy, gen, thm = make()
    docs = asyncio.run(policy.retrieve("Pythagoras", ["t1", "t3"], 3))
    assert [(d.doc_id, d.rank) for d in docs] == [("t2", 1), ("t4", 2), ("t5", 3)]
    assert thm.searches == [("Pythagoras", 3, ("t1", "t3"))]
    summary = asyncio.run(policy.summarize(docs[0]))
    assert summary == "In a right triangle, c^2 = a^2 + b^2."
    sent = gen.calls[-1]["messages"][1]["content"]
    assert "Statement 2. Details here" in sent and "proof" not in sent
    verdict = asyncio.run(policy.judge_relevance(CTX, summary, docs[0]))
    assert (verdict.label, verdict.reason) == (True, "it gives c.")
    assert gen.calls[-1]["temperature"] == 0.8 and gen.calls[-1]["max_tokens"] == 200   # the original temperature
    assert gen.calls[-1]["reply_format"].name == "verdict"      # a server may enforce it
    assert all(c["reply_format"] is None for c in gen.calls[:-1])


def test_empty_summary_falls_back_to_the_theorem_text():
    policy, _, _ = make(replies={**REPLIES, "rewrite formal theorems": ["   "]})
    doc = RetrievedDoc("t9", "T", "Every prime p > 2 is odd. \\begin{proof} ... \\end{proof}", 0.5, 1)
    assert asyncio.run(policy.summarize(doc)) == "Every prime p > 2 is odd."


def test_reward_uses_the_llm_judge_only_when_enabled():
    policy, gen, _ = make(gold="\\frac{1}{2}")
    assert asyncio.run(policy.reward(CTX, "\\boxed{0.5}")) == 1.0
    assert asyncio.run(policy.reward(CTX, "\\boxed{1/3}")) == 0.0
    assert gen.by_kind("compare two final answers") == []

    judged, gen2, _ = make(MCTSConfig(llm_judge_fallback=True), gold="\\frac{1}{2}")
    assert asyncio.run(judged.reward(CTX, "\\boxed{0.5}")) == 1.0        # rules suffice: no call
    assert gen2.by_kind("compare two final answers") == []
    assert asyncio.run(judged.reward(CTX, "\\boxed{one half}")) == 1.0   # judge says True
    assert asyncio.run(judged.reward(CTX, "no boxed answer")) == 0.0     # nothing to judge
    [call] = gen2.by_kind("compare two final answers")
    assert "Predicted answer: one half" in call["messages"][1]["content"] and call["max_tokens"] == 20

    refused, _, _ = make(MCTSConfig(llm_judge_fallback=True, format_reward=True), gold="2",
                         replies={**REPLIES, "compare two final answers": ["False"]})
    assert asyncio.run(refused.reward(CTX, "\\boxed{3}")) == 0.2


def test_gold_answer_is_required():
    with pytest.raises(InputError, match="gold_answer"):
        LLMPolicy(FakeGenerator(), FakeTheorems(), "  ")


def test_end_to_end_search_with_llm_policy():
    cfg = MCTSConfig(rollouts=6, seed=3)
    policy, gen, thm = make(cfg)
    result = asyncio.run(run_search(QUESTION, policy, cfg))
    again = asyncio.run(run_search(QUESTION, make(cfg)[0], cfg))
    assert result.to_dict() == again.to_dict()
    assert any(s.reward == 1.0 for s in result.final_solutions)
    assert any(n.type is NodeType.RETRIEVAL for n in result.nodes) and result.judgements
