"""Gold answers of MATH-style solutions: the content of the last brace-matched ``\\boxed{...}``."""

from __future__ import annotations

import re

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")


def extract_last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces matched; ``None`` if
    there is none or its braces never close."""
    starts = [m.end() for m in _BOX.finditer(text)]
    for start in reversed(starts):
        depth = 1
        for i in range(start, len(text)):
            ch = text[i]
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return text[start:i].strip()
    # "\boxed 5" without braces
    m = re.findall(r"\\boxed\s+([^\s$]+)", text)
    return m[-1] if m else None


def gsm8k_answer(answer: str) -> str | None:
    """GSM8K: the gold answer follows ``####``; thousands separators removed."""
    if "####" not in answer:
        return None
    return answer.rsplit("####", 1)[1].strip().replace(",", "") or None
