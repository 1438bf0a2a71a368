"""Theorem corpora behind one interface, and the registry that names them.

    corpus = load_corpus("theoremqa")      # or "champ", or a path to a .jsonl file
    corpus.docs[0]                         # Doc(doc_id, title, text)
    corpus.get("kraft-inequality")         # by stable id
    corpus.content_hash                    # sha256 of every (id, title, text): cache key

* ``theoremqa``: ``<RADER_DATA_DIR>/TheoremQA/all_theorems.json`` (``{name: description}``).
  Ids are slugs of the names (lowercase, non-alphanumerics → ``-``; a repeated slug gets
  ``-2``, ``-3`` … in file order), the title is the name and the text the description.
* ``champ``: the 89 concepts of the CHAMP dataset (``champ_dataset.load("v0")``). Ids are CHAMP's
  own concept identifiers (``C_…``), the same strings that problems list in ``ch_list``; the
  title is the concept's name (or its parent's name, then its category).
* ``bright:<split>`` (e.g. ``bright:theoremqa_theorems``) or a BRIGHT-layout folder: BRIGHT's
  documents (:mod:`rader_queue.retrieval.bright`; local folder first, else the hub).
* a path: JSON Lines with one document per line; ``id_field``/``text_field``/``title_field``
  map other field names. A bad line raises InputError naming the file and the line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from rader_queue.datasets.loaders import read_jsonl
from rader_queue.errors import InputError
from rader_queue.retrieval import bright
from rader_queue.retrieval.bright import SPLITS as BRIGHT_SPLITS
from rader_queue.retrieval.documents import Doc, TheoremCorpus
from rader_queue.settings import Settings, get_settings


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "doc"


def load_theoremqa(data_dir: Path | None = None) -> TheoremCorpus:
    path = Path(data_dir or get_settings().data_dir) / "TheoremQA" / "all_theorems.json"
    if not path.is_file():
        raise InputError("TheoremQA corpus not found (set RADER_DATA_DIR to the folder that "
                         "holds TheoremQA/all_theorems.json)", source=str(path))
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", source=str(path), line=exc.lineno) from None
    if not isinstance(raw, dict):
        raise InputError("expected a {theorem name: description} object", source=str(path))
    docs, seen = [], {}
    for name, text in raw.items():
        slug = slugify(name)
        seen[slug] = seen.get(slug, 0) + 1
        doc_id = slug if seen[slug] == 1 else f"{slug}-{seen[slug]}"
        docs.append(Doc(doc_id, name, str(text)))
    return TheoremCorpus("theoremqa", docs)


def _champ_title(concept) -> str:
    node = concept
    while node is not None:
        if node.name:
            return node.name
        node = node.parent
    return concept.category or ""


def load_champ() -> TheoremCorpus:
    try:
        import champ_dataset
    except ImportError:
        raise InputError("the CHAMP corpus needs the champ-dataset package") from None
    data = champ_dataset.load("v0")
    docs = [Doc(cid, _champ_title(c), c.text or "") for cid, c in sorted(data.concepts.items())]
    return TheoremCorpus("champ", docs)


def load_jsonl(path: str | Path, *, id_field: str = "id", text_field: str = "text",
               title_field: str | None = "title", name: str | None = None) -> TheoremCorpus:
    """One document per line. ``title_field`` may be missing on a line (empty title)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("corpus file not found", source=str(path))
    docs = []
    for lineno, row in read_jsonl(path):
        for fld in (id_field, text_field):
            if fld not in row or row[fld] is None:
                raise InputError("missing field", source=str(path), line=lineno, field=fld)
        if not isinstance(row[text_field], str):
            raise InputError("text must be a string", source=str(path), line=lineno,
                             field=text_field)
        title = row.get(title_field) if title_field else None
        docs.append(Doc(str(row[id_field]), str(title) if title else "", row[text_field]))
    try:
        return TheoremCorpus(name or path.stem, docs)
    except InputError as exc:
        raise InputError(str(exc), source=str(path)) from None


KNOWN_CORPORA = ("theoremqa", "champ", *(f"bright:{split}" for split in BRIGHT_SPLITS))


def load_corpus(name_or_path: str | Path, *, settings: Settings | None = None,
                **mapping) -> TheoremCorpus:
    """A corpus by registered name (``theoremqa``, ``champ``) or a JSONL path; ``mapping``
    (``id_field``, ``text_field``, ``title_field``) applies to JSONL files."""
    key = str(name_or_path)
    if key.lower() == "theoremqa":
        return load_theoremqa((settings or get_settings()).data_dir)
    if key.lower() == "champ":
        return load_champ()
    if bright.is_bright(key):
        return bright.load_bright_corpus(key)
    path = Path(key)
    if path.suffix in (".jsonl", ".json") or path.exists():
        return load_jsonl(path, **mapping)
    raise InputError(f"unknown corpus {key!r}: use theoremqa, champ, bright:<split>, a BRIGHT-layout "
                     "folder or a path to a .jsonl file with id/text(/title) fields")
