"""A corpus's documents: :class:`Doc` and the ordered, id-indexed :class:`TheoremCorpus`."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from rader_queue.errors import InputError


@dataclass(frozen=True)
class Doc:
    doc_id: str
    title: str
    text: str

    @property
    def full_text(self) -> str:
        """Title and text as one passage (what BM25 and the embedders index)."""
        return f"{self.title}\n{self.text}" if self.title else self.text


class TheoremCorpus:
    """An ordered, immutable list of documents with unique ids."""

    def __init__(self, name: str, docs: Iterable[Doc]) -> None:
        self.name = name
        self.docs: list[Doc] = list(docs)
        self._by_id: dict[str, int] = {}
        for pos, doc in enumerate(self.docs):
            if doc.doc_id in self._by_id:
                raise InputError(f"duplicate document id {doc.doc_id!r}", source=name)
            self._by_id[doc.doc_id] = pos
        self._hash: str | None = None

    def __len__(self) -> int:
        return len(self.docs)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._by_id

    def __repr__(self) -> str:
        return f"TheoremCorpus({self.name!r}, {len(self)} docs)"

    def get(self, doc_id: str) -> Doc:
        try:
            return self.docs[self._by_id[doc_id]]
        except KeyError:
            raise InputError(f"no document {doc_id!r} in corpus {self.name!r}") from None

    def position(self, doc_id: str) -> int:
        return self._by_id[doc_id]

    @property
    def ids(self) -> list[str]:
        return [d.doc_id for d in self.docs]

    @property
    def content_hash(self) -> str:
        if self._hash is None:
            h = hashlib.sha256()
            for d in self.docs:
                for part in (d.doc_id, d.title, d.text):
                    h.update(part.encode())
                    h.update(b"\x1f")
                h.update(b"\x1e")
            self._hash = h.hexdigest()
        return self._hash
