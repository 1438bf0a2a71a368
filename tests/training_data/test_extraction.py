"""Trajectories → samples on scripted trees stored in PostgreSQL (no model calls)."""

from __future__ import annotations

from sqlalchemy import select

from rader_queue.querygen import load_samples
from rader_queue.querygen.samples import THEOREM_STEP
from rader_queue.queue.status import find_run
from rader_queue.store import session_scope
from rader_queue.store.models import Judgement, Problem, Solution, TreeNode

from .conftest import QUESTIONS


def _problems(run_name):
    with session_scope() as s:
        run = find_run(s, run_name)
        return [(p.id, p.text) for p in s.scalars(select(Problem).where(Problem.run_id == run.id)
                                                  .order_by(Problem.position))]


def test_samples_come_from_rewarded_retrieval_trajectories(scripted_run):
    seen_two_theorems = False
    for problem_id, question in _problems(scripted_run):
        with session_scope() as s:
            samples = load_samples(s, problem_id)
            everything = load_samples(s, problem_id, min_reward=None)
            labels = {(j.qg_node_id, j.doc_id): j.label for j in s.scalars(
                select(Judgement).where(Judgement.problem_id == problem_id))}
            nodes = {n.node_id: n for n in s.scalars(select(TreeNode).where(TreeNode.problem_id == problem_id))}
            rewards = {f.node_id: f.reward for f in s.scalars(select(Solution).where(
                Solution.problem_id == problem_id, Solution.kind == "final"))}
        assert samples, "every scripted problem has a rewarded trajectory through d1"
        assert {s.doc_id for s in samples} <= {"d1", "d4"}           # accepted by self-reflection
        assert all(s.trajectory_reward == 1.0 for s in samples)
        assert len(everything) > len(samples)                        # d4-only paths have reward 0
        assert {s.trajectory_reward for s in everything} == {0.0, 1.0}
        for s in samples:
            assert nodes[s.rt_node_id].parent_node_id == s.qg_node_id
            assert nodes[s.rt_node_id].doc_id == s.doc_id
            assert all(rewards[n] >= 1.0 for n in s.solution_node_ids)
            # hard negatives: exactly the theorems the same QG node's self-reflection rejected
            assert s.doc_id not in s.negative_doc_ids
            assert s.negative_doc_ids and all(labels[(s.qg_node_id, d)] is False for d in s.negative_doc_ids)
            assert "d3" not in s.negative_doc_ids                    # unreadable verdict: not a negative
            # qcot: question + steps before the QG node, never the sample's own theorem
            assert s.qcot.startswith(question.strip())
            assert f"summary of {s.doc_id}" not in s.qcot
            if any(line.startswith(THEOREM_STEP.split("{")[0]) for line in s.steps):
                seen_two_theorems = True
                assert "summary of d1" in s.partial_solution or "summary of d4" in s.partial_solution
    assert seen_two_theorems, "a trajectory with two retrievals shows the earlier theorem inline"


def test_unparsed_verdicts_can_count_as_negatives(scripted_run):
    problem_id, _ = _problems(scripted_run)[0]
    with session_scope() as s:
        strict = load_samples(s, problem_id)
        loose = load_samples(s, problem_id, unparsed_as_negative=True)
    assert [x.rt_node_id for x in strict] == [x.rt_node_id for x in loose]
    assert all("d3" not in x.negative_doc_ids for x in strict)
    assert any("d3" in x.negative_doc_ids for x in loose)


def test_question_texts_are_the_problems(scripted_run):
    texts = [t for _, t in _problems(scripted_run)]
    assert texts == [q for _, q in QUESTIONS]
