"""Final answers: extraction, normalisation and exact, bounded equivalence checking.

Model and dataset text is hostile input here: nothing is evaluated (a restricted parser builds
expressions, :mod:`~rader_queue.answers.latex`), numbers compare exactly
(:mod:`~rader_queue.answers.equivalence`), and every check runs in a worker process under a
hard wall-clock bound (:mod:`~rader_queue.answers.pool`). The gold reward of the MCTS
(:mod:`rader_queue.mcts.reward`) and ``bench/bench_answers.py`` use exactly these functions.
"""

from rader_queue.answers.equivalence import Verdict, check
from rader_queue.answers.extract import extract_boxed
from rader_queue.answers.normalize import normalize

__all__ = ["Verdict", "check", "extract_boxed", "normalize"]
