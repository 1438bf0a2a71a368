"""Problem datasets behind one interface: :class:`Problem` and :func:`load_problems`."""

from rader_queue.datasets.answers import extract_last_boxed
from rader_queue.datasets.loaders import KNOWN_DATASETS, Problem, load_problems

__all__ = ["KNOWN_DATASETS", "Problem", "extract_last_boxed", "load_problems"]
