"""The one boxed-answer extractor, used for dataset gold answers and for model replies alike.

``extract_boxed`` returns the content of the *last* ``\\boxed{...}`` / ``\\fbox{...}`` whose
braces close (an unclosed box is skipped in favour of an earlier one), or the token after a
brace-less ``\\boxed 5``. It runs in linear time on any input (one pass to match braces), so a
1 MB reply with thousands of unclosed boxes costs milliseconds, never quadratic time.
"""

from __future__ import annotations

import re

_BOX = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
_BARE_TOKEN = re.compile(r"[ \t]+([^\s$]+)")
_SPACE = re.compile(r"\s*")


def _closing_braces(text: str) -> dict[int, int]:
    """Position of every ``{`` that is closed -> position of its ``}`` (escaped braces ``\\{``
    count as braces too: MATH writes sets as ``\\{1,2\\}`` inside boxes and balances them)."""
    closing: dict[int, int] = {}
    stack: list[int] = []
    for i, ch in enumerate(text):
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            closing[stack.pop()] = i
    return closing


def extract_boxed(text: str | None) -> str | None:
    """Content of the last complete ``\\boxed{...}`` (or ``\\fbox{...}``), stripped; also the
    token of ``\\boxed 5``. None when there is no complete box."""
    if not text or not isinstance(text, str):
        return None
    starts = [m.end() for m in _BOX.finditer(text)]
    if not starts:
        return None
    closing = _closing_braces(text)
    for end in reversed(starts):
        brace = _SPACE.match(text, end).end()          # type: ignore[union-attr]
        if brace < len(text) and text[brace] == "{":
            close = closing.get(brace)
            if close is not None:
                return text[brace + 1:close].strip()
            continue                                   # unclosed: try an earlier box
        m = _BARE_TOKEN.match(text, end)
        if m:
            return m.group(1)
    return None
