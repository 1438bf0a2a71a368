"""The retrieval-augmented MCTS core of rader-queue, as a pure library (no I/O, no Celery).

``await run_search(question, policy, config)`` grows one search tree per math problem; all
model and retriever calls go through the awaited ``policy`` (``LLMPolicy`` in production,
scripted policies in tests). The returned ``SearchResult`` holds every node, the leaf of
each rollout, the valid solutions, the retrievals and the self-reflection judgements.
"""

from rader_queue.mcts.config import MCTSConfig
from rader_queue.mcts.llm_policy import LLMPolicy
from rader_queue.mcts.nodes import CandidateTheorem, Judgement, Node, NodeType, PathContext, RetrievedDoc
from rader_queue.mcts.parsers import (parse_candidate_theorems, parse_equivalence, parse_query,
                                      parse_score_0_5, parse_verdict)
from rader_queue.mcts.policy import Policy, RStarPolicy, TextGenerator, TheoremSearch
from rader_queue.mcts.reward import (answers_equivalent, extract_boxed, gold_answer_from_solution,
                                     gold_reward, needs_llm_judge, normalize_answer)
from rader_queue.mcts.results import (FinalSolution, JudgementRecord, RetrievalRecord, RolloutSolution,
                                      SearchResult)
from rader_queue.mcts.search import run_search, uct_value

__all__ = [
    "CandidateTheorem", "FinalSolution", "Judgement", "JudgementRecord", "LLMPolicy", "MCTSConfig", "Node",
    "NodeType", "PathContext", "Policy", "RStarPolicy", "RetrievalRecord", "RetrievedDoc", "RolloutSolution",
    "SearchResult", "TextGenerator", "TheoremSearch", "answers_equivalent", "extract_boxed",
    "gold_answer_from_solution", "gold_reward", "needs_llm_judge", "normalize_answer",
    "parse_candidate_theorems", "parse_equivalence", "parse_query", "parse_score_0_5", "parse_verdict",
    "run_search", "uct_value",
]
