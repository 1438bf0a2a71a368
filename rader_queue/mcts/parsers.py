"""Parsers for model replies: candidate theorems, relevance verdicts, queries, yes/no, scores.

Model output is messy (markdown bold, numbering, echoed labels, lower-case field names), so
every parser is case-insensitive and tolerant, and returns None (or an empty list) rather
than guessing when a reply cannot be read.
"""

from __future__ import annotations

import re

from rader_queue.mcts.nodes import CandidateTheorem

DEFAULT_MAX_THEOREMS = 8

_MARKDOWN = re.compile(r"\*\*|__|`")
_HEADING = re.compile(r"^\s*#+\s*", re.MULTILINE)
_BULLET = re.compile(r"^\s*(?:[-*•+]\s+)+")
# "1. - name" / "2) * name": a number, then a (nested) bullet.
_NUMBERED_BULLET = re.compile(r"^(\d+[.)])\s+(?:[-*•+]\s+)+")
# "Theorem 1 (Vieta's formulas): statement" — the name in parentheses, the statement after.
_PAREN_HEADER = re.compile(r"^(?:\d+[.)]\s*)?theorem\s*\d*\s*\(([^()\n]{1,200})\)\s*[:.-]?\s*(.*)$",
                           re.IGNORECASE)
# Labels that often arrive on the same line as the previous field.
_INLINE_LABEL = re.compile(r"\s+(?:[-*•+]\s+)*(?=(?:theorem\s+statement|preconditions?|subjects?|theorem\s+\d+)\s*:)",
                           re.IGNORECASE)
_LABELLED = re.compile(
    r"^(?:\d+[.)]\s*)?(theorem\s*name|name|theorem\s+statement|statement|preconditions?[^:\n]{0,40}"
    r"|why[^:\n]{0,80}|subjects?|theorem\s*\d*)\s*:\s*(.*)$", re.IGNORECASE)
_NUMBERED = re.compile(r"^(\d+)[.)]\s+(.+)$")


def _strip_markdown(text: str) -> str:
    return _HEADING.sub("", _MARKDOWN.sub("", text or ""))


def _field_of(label: str) -> str:
    low = re.sub(r"\s+", " ", label.lower()).strip()
    if low.startswith("why"):
        return "why"
    if low.startswith("precondition"):
        return "preconditions"
    if low.startswith("subject"):
        return "subject"
    if low.endswith("statement"):
        return "statement"
    if low.endswith("name"):
        return "name"
    return "header"                                    # "Theorem", "Theorem 3"


def _clean_name(name: str) -> str:
    name = re.sub(r"^(?:[-*•+]\s*)+", "", name.strip())
    return re.sub(r"(?:\s*[-*•+])+$", "", name).strip().strip("*:\"'“” ").strip()


def _line(line: str) -> str:
    """One reply line without its (nested) bullet markers: "  - - x" → "x", "1. - x" → "1. x"."""
    line = _BULLET.sub("", line)
    return _NUMBERED_BULLET.sub(r"\1 ", line).strip()


def parse_candidate_theorems(text: str, max_theorems: int = DEFAULT_MAX_THEOREMS) -> list[CandidateTheorem]:
    """Candidate theorems from a query-generation reply.

    Understands blocks such as ``Theorem 1: <name>`` / ``1. <name>`` / ``- Theorem: <name>``
    followed by ``Theorem Statement:``, ``Preconditions:`` and ``Subject:`` fields, in any
    letter case and with markdown bold. A theorem needs a name or a statement; duplicates
    (same name, case-insensitively) are dropped; at most ``max_theorems`` are returned.
    """
    body = _INLINE_LABEL.sub("\n", _strip_markdown(text))
    lines = [_line(line) for line in body.splitlines()]
    explicit_headers = any(_PAREN_HEADER.match(line) or ((m := _LABELLED.match(line))
                                                         and _field_of(m.group(1)) == "header")
                           for line in lines)

    blocks: list[dict[str, list[str]]] = []
    current: dict[str, list[str]] | None = None
    field = ""

    def start(name: str) -> dict[str, list[str]]:
        block: dict[str, list[str]] = {"name": [name] if name else [], "raw": []}
        blocks.append(block)
        return block

    for line in lines:
        if not line:
            continue
        paren = _PAREN_HEADER.match(line)
        labelled = _LABELLED.match(line)
        numbered = _NUMBERED.match(line)
        if paren:
            current = start(paren.group(1).strip())
            field = "statement"
            if paren.group(2).strip():
                current.setdefault("statement", []).append(paren.group(2).strip())
        elif labelled:
            field = _field_of(labelled.group(1))
            value = labelled.group(2).strip()
            if field == "header" or (field == "name" and (current is None or current.get("name"))):
                current = start(value)
                field = "name"
            else:
                if current is None:
                    current = start("")
                current.setdefault(field, []).append(value)
        elif numbered and not explicit_headers:
            current = start(numbered.group(2).rstrip(":"))
            field = "name"
        elif current is not None and field:
            current.setdefault(field, []).append(line)
        if current is not None:
            current["raw"].append(line)

    out: list[CandidateTheorem] = []
    seen: set[str] = set()
    for block in blocks:
        def joined(key: str) -> str:
            return " ".join(part for part in block.get(key, []) if part).strip()

        name, statement = _clean_name(joined("name")), joined("statement")
        if not name and not statement:
            continue
        key = re.sub(r"\s+", " ", (name or statement).casefold())
        if key in seen:
            continue
        seen.add(key)
        out.append(CandidateTheorem(name=name, statement=statement, preconditions=joined("preconditions"),
                                    subject=joined("subject"), raw="\n".join(block["raw"])))
        if len(out) >= max_theorems:
            break
    return out


_POSITIVE = {"true", "yes", "relevant"}
# "Relevant:", "Relevance =", "Relevant to the problem?", "Label:", "Verdict -"
_VERDICT_LABEL = (r"(?:relevan(?:t|ce)|label|verdict)(?:\s+(?:to|for)\b[^?:=\n]{0,80})?\s*[?:=-]\s*")
_VERDICT_AT_START = re.compile(
    r"^\s*(?:" + _VERDICT_LABEL + r")?(true|false|yes|no|irrelevant|not\s+relevant"
    r"|relevant(?!\s*(?:[:=?-]|to\b|for\b)))\b", re.IGNORECASE)
_VERDICT_LABELLED = re.compile(_VERDICT_LABEL + r"(true|false|yes|no)\b", re.IGNORECASE)
_REASON = re.compile(r"reason\s*:\s*(.*?)(?=\n\s*question\s*:|$)", re.IGNORECASE | re.DOTALL)


def parse_verdict(text: str) -> tuple[bool | None, str]:
    """``(label, reason)`` from a self-reflection reply.

    Reads "Relevant: True" / "Relevance: False" / "Relevant to the problem? No." / "True" /
    "no, ..." at the start of the reply, else the first such labelled verdict anywhere. The reason is the text after "Reason:". A reply with no
    readable label gives ``(None, raw_text)``.
    """
    raw = text or ""
    clean = _strip_markdown(raw)
    m = _VERDICT_AT_START.match(clean) or _VERDICT_LABELLED.search(clean)
    if not m:
        return None, raw.strip()
    word = re.sub(r"\s+", " ", m.group(1).lower())
    reason_match = _REASON.search(clean)
    reason = reason_match.group(1).strip() if reason_match else ""
    return word in _POSITIVE, reason


def parse_query(text: str) -> str:
    """The text after the last "Query:" label (the whole reply when there is none)."""
    raw = (text or "").strip()
    labelled = labelled_query(raw)
    return raw if labelled is None else (labelled or raw)


def labelled_query(text: str) -> str | None:
    """The text after the last "Query:" label, stripped; None when the reply has no such label
    (callers that need a labelled query must then reject the reply, not guess)."""
    raw = text or ""
    matches = list(re.finditer(r"query\s*:", raw, re.IGNORECASE))
    if not matches:
        return None
    return raw[matches[-1].end():].strip()


_STEP_LABEL = re.compile(r"^\s*(?:(?:next\s+)?step(?:\s*\d+)?\s*[:.)-]\s*)+", re.IGNORECASE)


def clean_step(text: str) -> str:
    """A reasoning step without the labels models echo ("Step 2:", "Next step:", repeated),
    so the prompt's own "Step N:" numbering is the only one."""
    return _STEP_LABEL.sub("", (text or "").strip()).strip()


_EQUIV_AT_START = re.compile(
    r"^\s*(?:(?:prediction|answer|equivalent|verdict)\s*[:=-]\s*)?(true|false|yes|no|not\s+equivalent|equivalent)\b",
    re.IGNORECASE)
_EQUIV_ANYWHERE = re.compile(r"\b(true|false)\b", re.IGNORECASE)


def parse_equivalence(text: str) -> bool | None:
    """Whether an answer-equivalence reply says "equivalent" (True/Yes) or not; None if unreadable."""
    clean = _strip_markdown(text or "")
    m = _EQUIV_AT_START.match(clean) or _EQUIV_ANYWHERE.search(clean)
    if not m:
        return None
    return re.sub(r"\s+", " ", m.group(1).lower()) in {"true", "yes", "equivalent"}


_SCORE_LABELLED = re.compile(r"score\s*[:=]?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_SCORE_BARE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)(?!\.?\d)")


def parse_score_0_5(text: str) -> int | None:
    """An integer relevance score 0–5 ("Score: 4", "4/5", "4"); None if absent or out of range."""
    clean = _strip_markdown(text or "")
    m = _SCORE_LABELLED.search(clean) or _SCORE_BARE.search(clean)
    if not m:
        return None
    value = m.group(1)
    if "." in value:
        return None
    score = int(value)
    return score if 0 <= score <= 5 else None
