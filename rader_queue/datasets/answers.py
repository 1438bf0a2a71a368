"""Gold answers of dataset records.

MATH-style solutions: the content of the last brace-matched ``\\boxed{...}``, by the same
extractor the reward applies to model replies (:func:`rader_queue.answers.extract_boxed`)."""

from __future__ import annotations

from rader_queue.answers.extract import extract_boxed


def extract_last_boxed(text: str) -> str | None:
    """Content of the last complete ``\\boxed{...}`` (or ``\\fbox{...}``, or ``\\boxed 5``);
    ``None`` if there is none."""
    return extract_boxed(text)


def gsm8k_answer(answer: str) -> str | None:
    """GSM8K: the gold answer follows ``####``; thousands separators removed."""
    if "####" not in answer:
        return None
    return answer.rsplit("####", 1)[1].strip().replace(",", "") or None
