"""Query candidates → training rows: one row per query text with all its positives, and at
least ``min_negatives`` distinct negatives each with its source.

Pure (no SQL, no models): :func:`assemble` gets the candidates in a fixed order and a
``mine(query, exclude, want)`` callable for the top-up, so the rules can be tested alone.

* One row per query: candidates whose query text is equal (whitespace and case folded) are
  merged into the first one (``MERGE_ORDER``), whatever their type; the row keeps every
  positive, in order.
  A query in two rows would make its other positives false in-batch negatives of itself.
* Negatives, in this order, never a positive of the row: the stored ones (self-reflection
  rejections of the QG node; for qlexical the BM25-band and dense negatives mined when its
  query was kept), then what ``mine`` adds (BM25 ranks 31–50, then dense top-k, then lower
  BM25 ranks on a small corpus). Each negative records its ``source``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rader_queue.querygen.options import QUERY_TYPES

SOURCE_REFLECTION = "self_reflection"
SOURCE_LEXICAL = "qlexical_mined"          # BM25 ranks 31-50 sample + dense top-k at generation
SOURCE_BM25_BAND = "bm25_31_50"
SOURCE_DENSE = "dense_topk"
SOURCE_BM25_FALLBACK = "bm25_lower_ranks"

# Paper Table 9 (MATH): rows per query type.
PAPER_TABLE9 = {"qcot": 7312, "qquestion": 7312, "qllmq": 18586, "qlexical": 9910}

# Candidates are merged in this order: a qCoT without partial steps is the question itself, so
# the row counts as qquestion (the first type that produced it names the row); the other types
# follow in their canonical order (a new query type joins them by its entry in QUERY_TYPES).
MERGE_ORDER = ("qquestion", *(t for t in QUERY_TYPES if t != "qquestion"))

Mine = Callable[[str, set[str], int], list[tuple[str, str]]]


@dataclass(frozen=True)
class Candidate:
    key: str
    query: str
    query_type: str
    positive: str
    negatives: tuple[str, ...] = ()
    generated_query_id: int | None = None

    @property
    def stored_source(self) -> str:
        return SOURCE_LEXICAL if self.query_type == "qlexical" else SOURCE_REFLECTION


@dataclass
class Row:
    query_id: str
    query: str
    query_type: str
    generated_query_id: int | None
    positives: list[str]
    negatives: list[tuple[str, str]] = field(default_factory=list)     # (doc_id, source)


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def merge(candidates: Sequence[Candidate], stats: dict[str, dict[str, int]]) -> list[Row]:
    """One row per query text (first candidate's id and type); counts ``pairs`` (distinct
    (query, positive) pairs a type contributed), ``duplicates`` (same query and positive
    again) and ``merged`` (same query, another positive or type)."""
    rows: dict[str, Row] = {}
    for c in candidates:
        key = norm(c.query)
        row = rows.get(key)
        if row is None:
            row = rows[key] = Row(c.key, c.query.strip(), c.query_type, c.generated_query_id, [c.positive])
            stats[c.query_type]["pairs"] += 1
        elif c.positive in row.positives:
            stats[c.query_type]["duplicates"] += 1
        else:
            stats[c.query_type]["merged"] += 1
            stats[c.query_type]["pairs"] += 1
            row.positives.append(c.positive)
        have = {d for d, _ in row.negatives}
        for d in c.negatives:
            if d not in have:
                have.add(d)
                row.negatives.append((d, c.stored_source))
    return list(rows.values())


def assemble(candidates: Sequence[Candidate], min_negatives: int, mine: Mine,
             stats: dict[str, dict[str, int]]) -> list[Row]:
    """Rows with their negatives topped up to ``min_negatives`` (fewer only when the corpus
    has no more documents; a row left with none is dropped and counted ``no_negative``)."""
    out = []
    for row in merge(candidates, stats):
        positives = set(row.positives)
        negatives = [(d, s) for d, s in row.negatives if d not in positives]
        if len(negatives) < min_negatives:
            exclude = positives | {d for d, _ in negatives}
            extra: list[tuple[str, str]] = []
            want = min_negatives - len(negatives)
            for d, source in mine(row.query, set(exclude), want):
                if d not in exclude and len(extra) < want:
                    exclude.add(d)
                    extra.append((d, source))
            stats[row.query_type]["topped_up"] += bool(extra)
            negatives += extra
        if not negatives:
            stats[row.query_type]["no_negative"] += 1
            continue
        if len(negatives) < min_negatives:
            stats[row.query_type]["short_of_negatives"] += 1
        row.negatives = negatives
        out.append(row)
    return out


def negatives_histogram_of(rows: Sequence[dict]) -> dict[int, int]:
    """Number of exported rows (dicts) by number of distinct negatives (``negative_passages``)."""
    return dict(sorted(Counter(len(r["negative_passages"]) for r in rows).items()))


def table9(counts: dict[str, int]) -> list[tuple[str, int, float, float]]:
    """(type, rows, share here, share in the paper's Table 9) for each type built."""
    total = sum(v for k, v in counts.items() if k != "all") or 1
    paper_total = sum(PAPER_TABLE9.values())
    return [(t, n, n / total, PAPER_TABLE9.get(t, 0) / paper_total)
            for t, n in counts.items() if t != "all"]
