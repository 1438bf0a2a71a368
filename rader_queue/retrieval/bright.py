"""BRIGHT (``xlangai/BRIGHT``) as a corpus for the search, the negatives and evaluation.

``bright:<split>`` names one of BRIGHT's twelve splits (``theoremqa_theorems`` is RaDeR's
search corpus: ProofWiki theorems). Where the documents come from, first match wins:

1. a local folder in BRIGHT's layout — ``RADER_BRIGHT_DIR``, else ``<RADER_DATA_DIR>/BRIGHT``::

       <folder>/documents/<split>.jsonl   {"id": "...", "content": "..."}     one per line
       <folder>/examples/<split>.jsonl    {"id": "...", "query": "...", "gold_ids": [...],
                                           "excluded_ids": [...]}             one per line

   (what ``datasets.load_dataset("xlangai/BRIGHT", "documents", split=...)`` holds, saved as
   JSON Lines; ``examples`` is only needed for evaluation);
2. the Hugging Face hub (network needed), config ``documents`` / ``examples`` (or
   ``<model>_reason`` for reasoning queries) and the split name.

A folder path with ``#<split>`` (``path/to/bright#aops``) reads that folder directly; without
``#`` the folder's only documents file is used. Documents keep BRIGHT's ids; they have no
title, the text is ``content``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rader_queue.datasets.loaders import read_jsonl
from rader_queue.errors import InputError
from rader_queue.retrieval.documents import Doc, TheoremCorpus
from rader_queue.settings import get_settings

HUB_ID = "xlangai/BRIGHT"
SPLITS = ("biology", "earth_science", "economics", "psychology", "robotics", "stackoverflow",
          "sustainable_living", "leetcode", "pony", "aops", "theoremqa_questions",
          "theoremqa_theorems")
_STACKEXCHANGE = {"biology": "Biology", "earth_science": "Earth Science", "economics": "Economics",
                  "psychology": "Psychology", "robotics": "Robotics",
                  "stackoverflow": "Stack Overflow", "sustainable_living": "Sustainable Living"}
# BRIGHT's per-split instructions for instruction-tuned retrievers (spec S6/S7).
INSTRUCTIONS: dict[str, str] = {
    **{k: f"Given a {v} post, retrieve relevant passages that help answer the post"
       for k, v in _STACKEXCHANGE.items()},
    "leetcode": "Given a coding problem, retrieve relevant examples that help answer the problem",
    "pony": "Given a Pony question, retrieve relevant passages that help answer the question",
    "aops": "Given a Math problem, retrieve relevant examples that help answer the problem",
    "theoremqa_questions": "Given a Math problem, retrieve relevant examples that help answer the problem",
    "theoremqa_theorems": "Given a Math problem, retrieve relevant theorems that help answer the problem",
}


def instruction_prefix(split: str) -> str:
    """``"Instruct: …\\nQuery: "`` for ``split`` (InputError for an unknown split)."""
    if split not in INSTRUCTIONS:
        raise InputError(f"no BRIGHT instruction for split {split!r}; known: {', '.join(SPLITS)}")
    return f"Instruct: {INSTRUCTIONS[split]}\nQuery: "


def parse_spec(spec: str) -> tuple[Path | None, str]:
    """``bright:<split>`` → (local folder or None, split); ``<folder>[#<split>]`` → (folder, split)."""
    if spec.lower().startswith("bright:"):
        split = spec.split(":", 1)[1].strip()
        if split not in SPLITS:
            raise InputError(f"unknown BRIGHT split {split!r}; known: {', '.join(SPLITS)}", field="corpus")
        return local_folder(split), split
    folder_text, _, split = spec.partition("#")
    folder = Path(folder_text)
    if not (folder / "documents").is_dir():
        raise InputError("not a BRIGHT-layout folder (no documents/ inside)", source=str(folder))
    if not split:
        found = sorted(p.stem for p in (folder / "documents").glob("*.jsonl"))
        if len(found) != 1:
            raise InputError(f"name the split as {folder}#<split>; documents/ holds {found or 'nothing'}",
                             source=str(folder))
        split = found[0]
    return folder, split


def local_folder(split: str) -> Path | None:
    """The configured local BRIGHT folder that holds ``documents/<split>.jsonl``, if any."""
    settings = get_settings()
    for folder in (getattr(settings, "bright_dir", None), Path(settings.data_dir) / "BRIGHT"):
        if folder and (Path(folder) / "documents" / f"{split}.jsonl").is_file():
            return Path(folder)
    return None


def is_bright(spec: str) -> bool:
    """Whether ``spec`` names a BRIGHT corpus (``bright:<split>`` or a BRIGHT-layout folder)."""
    if spec.lower().startswith("bright:"):
        return True
    return (Path(spec.partition("#")[0]) / "documents").is_dir()


def _rows(path: Path) -> list[dict[str, Any]]:
    return [row for _, row in read_jsonl(path)]


def _hub(config: str, split: str) -> list[dict[str, Any]]:
    try:
        from datasets import load_dataset
    except ImportError:
        raise InputError("BRIGHT from the hub needs the `datasets` package") from None
    try:
        return [dict(r) for r in load_dataset(HUB_ID, config, split=split)]
    except Exception as exc:            # offline, unknown config: one clear line
        raise InputError(f"cannot load {HUB_ID} {config}/{split} from the hub ({type(exc).__name__}); "
                         "set RADER_BRIGHT_DIR to a local BRIGHT-layout folder") from None


def documents_of(rows: list[dict[str, Any]], name: str, source: str) -> TheoremCorpus:
    docs = []
    for i, row in enumerate(rows, 1):
        if row.get("id") is None:
            raise InputError("missing field", source=source, line=i, field="id")
        if not isinstance(row.get("content"), str):
            raise InputError("content must be a string", source=source, line=i, field="content")
        docs.append(Doc(str(row["id"]), "", row["content"]))
    try:
        return TheoremCorpus(name, docs)
    except InputError as exc:
        raise InputError(str(exc), source=source) from None


def load_bright_corpus(spec: str) -> TheoremCorpus:
    """The documents of a BRIGHT split as a :class:`TheoremCorpus` named ``bright:<split>``."""
    folder, split = parse_spec(spec)
    name = f"bright:{split}"
    if folder is not None:
        path = folder / "documents" / f"{split}.jsonl"
        if not path.is_file():
            raise InputError("BRIGHT documents file not found", source=str(path))
        return documents_of(_rows(path), name, str(path))
    return documents_of(_hub("documents", split), name, f"{HUB_ID}:documents/{split}")


def load_bright_examples(spec: str, reasoning: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """(split, example rows) of a BRIGHT split: local ``examples/<split>.jsonl`` or the hub."""
    folder, split = parse_spec(spec)
    if folder is not None and reasoning is None:
        path = folder / "examples" / f"{split}.jsonl"
        if not path.is_file():
            raise InputError("BRIGHT examples file not found", source=str(path))
        return split, _rows(path)
    return split, _hub(f"{reasoning}_reason" if reasoning else "examples", split)
