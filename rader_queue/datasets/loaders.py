"""Dataset loaders. Every loader yields :class:`Problem` (id, problem text, gold answer, metadata)
and validates as it reads: bad input raises :class:`InputError` naming file, line and field, so
a caller can read everything first and write nothing when anything is wrong.

Known names (case-insensitive): ``MATH``, ``MATH500``, ``GSM8K``, ``CHAMP``; or a path to a
``.jsonl``/``.json`` file (with a field mapping) or to a MATH-style folder of one JSON per problem.
Local files are read from ``RADER_DATA_DIR`` when they are there; otherwise MATH, MATH500 and
GSM8K load from the Hugging Face hub. Offline without the local files, loading fails at once,
naming the setting and the expected files (no retries against an unreachable hub). CHAMP ships
in the ``champ-dataset`` package, problems and concepts both: it needs neither.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import champ_dataset

from rader_queue.datasets.answers import extract_last_boxed, gsm8k_answer
from rader_queue.errors import InputError, InvalidRecord, UnknownDatasetError
from rader_queue.settings import get_settings

MAX_PROBLEM_CHARS = 50_000   # ~12k tokens: the text goes into every prompt of the search
MAX_ID_CHARS = 300           # problems.source_id is VARCHAR(300)
KNOWN_DATASETS = ("MATH", "MATH500", "GSM8K", "CHAMP")
MATH_HUB_NAME = "EleutherAI/hendrycks_math"
MATH500_HUB_NAME = "HuggingFaceH4/MATH-500"
GSM8K_HUB_NAME = "openai/gsm8k"
MATH_SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra",
                 "number_theory", "prealgebra", "precalculus")


@dataclass(frozen=True)
class Problem:
    source_id: str
    text: str
    gold_answer: str
    meta: dict[str, Any] = field(default_factory=dict)


def _check(problem: Problem, source: str, line: int | None) -> Problem:
    """Validate one record; raises :class:`InvalidRecord` (an :class:`InputError`)."""
    if not problem.source_id:
        raise InvalidRecord("problem has no id", source=source, line=line, field="id")
    if len(problem.source_id) > MAX_ID_CHARS:
        raise InvalidRecord(f"problem id is {len(problem.source_id):,} characters; the limit is "
                            f"{MAX_ID_CHARS}", source=source, line=line, field="id")
    for name, value in (("id", problem.source_id), ("problem", problem.text),
                        ("answer", problem.gold_answer)):
        if "\x00" in value:
            raise InvalidRecord("contains a NUL character (\\u0000), which the SQL store cannot "
                                "keep", source=source, line=line, field=name)
    if not problem.text.strip():
        raise InvalidRecord("problem text is empty", source=source, line=line, field="problem")
    if len(problem.text) > MAX_PROBLEM_CHARS:
        raise InvalidRecord(f"problem text is {len(problem.text):,} characters; the limit is "
                         f"{MAX_PROBLEM_CHARS:,}", source=source, line=line, field="problem")
    if not problem.gold_answer or not problem.gold_answer.strip():
        raise InvalidRecord("no gold answer (rewards need one)", source=source, line=line,
                         field="answer")
    return problem


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; errors name the file and line."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", source=str(path)) from exc
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"not valid UTF-8 (byte {exc.start})", source=str(path), line=lineno) from exc
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON: {exc.msg} (column {exc.colno})", source=str(path),
                             line=lineno) from exc
        if not isinstance(obj, dict):
            raise InputError("expected a JSON object", source=str(path), line=lineno)
        yield lineno, obj


def _require(obj: Mapping[str, Any], key: str, source: str, line: int | None) -> Any:
    if key not in obj or obj[key] is None:
        raise InputError("missing field", source=source, line=line, field=key)
    return obj[key]


def _math_problem(obj: Mapping[str, Any], source: str, line: int | None, fallback_id: str) -> Problem:
    solution = _require(obj, "solution", source, line)
    answer = obj.get("answer") or extract_last_boxed(str(solution))
    if answer is None:
        raise InvalidRecord("solution has no \\boxed{...} answer", source=source, line=line,
                         field="solution")
    return _check(Problem(str(obj.get("id") or fallback_id), str(_require(obj, "problem", source, line)),
                          str(answer), {"level": obj.get("level"), "type": obj.get("type"),
                                        "solution": solution}), source, line)


def load_math(split: str, data_dir: Path) -> Iterator[Problem | InvalidRecord]:
    jsonl = data_dir / "MATH" / f"{split}.jsonl"
    folder = data_dir / "MATH" / split
    if jsonl.exists():
        for lineno, obj in read_jsonl(jsonl):
            yield _attempt(_math_problem, obj, str(jsonl), lineno, f"{split}/{lineno}")
    elif folder.is_dir():
        yield from load_math_folder(folder)
    else:
        yield from _load_math_hub(split)


def load_math_folder(folder: Path) -> Iterator[Problem | InvalidRecord]:
    """The original layout: ``<split>/<subject>/<n>.json``, one problem per file."""
    files = sorted(folder.rglob("*.json"), key=lambda p: (p.parent.name, int(p.stem) if p.stem.isdigit() else 0, p.stem))
    if not files:
        raise InputError("no *.json problem files found", source=str(folder))
    for path in files:
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"unreadable problem file: {exc}", source=str(path)) from exc
        rel = f"{folder.name}/{path.relative_to(folder).as_posix()}"
        yield _attempt(_math_problem, obj, str(path), None, rel)


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers a TCP connect (HF_HUB_OFFLINE=1 says no at once)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        with socket.create_connection((url.hostname or "huggingface.co",
                                       url.port or (443 if url.scheme == "https" else 80)),
                                      timeout=timeout_s):
            return True
    except OSError:
        return False


def _hub_rows(dataset: str, expected: str, hub_name: str, split: str, config: str | None = None):
    """The hub's rows, or an InputError naming RADER_DATA_DIR and the files it should hold."""
    where = f"RADER_DATA_DIR={get_settings().data_dir}"
    if not hub_reachable():
        raise InputError(f"{dataset} is not under {where} (expected {expected}) and the Hugging "
                         f"Face hub is unreachable (offline): set RADER_DATA_DIR to a folder "
                         f"with {expected}, or go online; CHAMP needs neither", source=dataset)
    try:  # pragma: no cover - needs the hub
        from datasets import load_dataset

        return load_dataset(hub_name, config, split=split)
    except Exception as exc:  # pragma: no cover - needs the hub
        raise InputError(f"{dataset} is not under {where} (expected {expected}) and the hub "
                         f"dataset {hub_name!r} could not be loaded: {exc}", source=dataset) from exc


def _load_math_hub(split: str) -> Iterator[Problem | InvalidRecord]:
    expected = f"MATH/{split}.jsonl or MATH/{split}/<subject>/<n>.json"
    for subject in MATH_SUBJECTS:   # the hub dataset has one config per subject
        rows = _hub_rows("MATH", expected, MATH_HUB_NAME, split, config=subject)
        for i, obj in enumerate(rows):  # pragma: no cover - needs the hub
            yield _attempt(_math_problem, obj, MATH_HUB_NAME, i + 1, f"{split}/{subject}/{i}")


def load_math500(data_dir: Path) -> Iterator[Problem | InvalidRecord]:
    path = data_dir / "MATH500" / "test_all.json"
    if not path.exists():
        rows = _hub_rows("MATH500", "MATH500/test_all.json", MATH500_HUB_NAME, "test")
        for i, obj in enumerate(rows):  # pragma: no cover - needs the hub
            yield _attempt(_check, Problem(str(obj.get("unique_id", i)), str(obj.get("problem", "")),
                                           str(obj.get("answer") or ""),
                                           {"level": obj.get("level"), "subject": obj.get("subject")}),
                           MATH500_HUB_NAME, i + 1)
        return
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"unreadable: {exc}", source=str(path)) from exc
    for i, obj in enumerate(items):
        answer = (obj.get("extra_info") or {}).get("answer") or extract_last_boxed(obj.get("solution", ""))
        yield _attempt(_check, Problem(str(obj.get("id", i)), str(obj.get("problem", "")), str(answer or ""),
                                       {"level": obj.get("level"), "subject": obj.get("subject")}),
                       str(path), None)


def load_gsm8k(split: str, data_dir: Path) -> Iterator[Problem | InvalidRecord]:
    path = data_dir / "GSM8K" / f"{split}.jsonl"
    if not path.exists():
        rows = _hub_rows("GSM8K", f"GSM8K/{split}.jsonl", GSM8K_HUB_NAME, split, config="main")
        source = ((i + 1, dict(obj)) for i, obj in enumerate(rows))  # pragma: no cover - hub
    else:
        source = read_jsonl(path)
    for lineno, obj in source:
        answer = gsm8k_answer(str(_require(obj, "answer", str(path), lineno)))
        if answer is None:
            yield InvalidRecord("answer has no '####' gold answer", source=str(path), line=lineno,
                                field="answer")
            continue
        yield _attempt(_check, Problem(f"{split}/{lineno}", str(_require(obj, "question", str(path), lineno)),
                                       answer, {}), str(path), lineno)


def load_champ() -> Iterator[Problem | InvalidRecord]:
    dataset = champ_dataset.load("v0")
    for pid, problem in dataset.problems.items():
        yield _attempt(_check, Problem(str(pid), problem.text, str(problem.answer),
                             {"category": problem.category, "concepts": list(problem.ch_list)}),
                     "champ_dataset", None)


def load_jsonl(path: Path, mapping: Mapping[str, str]) -> Iterator[Problem | InvalidRecord]:
    """Any JSONL. ``mapping`` maps ``id``, ``problem``, ``answer`` (or ``solution``, whose last
    boxed is the answer) to the file's field names."""
    id_f, text_f = mapping.get("id", "id"), mapping.get("problem", "problem")
    answer_f, solution_f = mapping.get("answer", "answer"), mapping.get("solution", "solution")
    for lineno, obj in read_jsonl(path):
        text = _require(obj, text_f, str(path), lineno)
        if not isinstance(text, str):
            raise InputError(f"expected a string, got {type(text).__name__}", source=str(path),
                             line=lineno, field=text_f)
        answer = obj.get(answer_f)
        if answer is None and obj.get(solution_f) is not None:
            answer = extract_last_boxed(str(obj[solution_f]))
        yield _attempt(_check, Problem(str(obj.get(id_f, lineno)), str(text),
                                       str(answer) if answer is not None else "",
                                       {k: v for k, v in obj.items() if k not in (id_f, text_f, answer_f)}),
                       str(path), lineno)


@dataclass
class LoadResult:
    problems: list[Problem]
    skipped: list[InvalidRecord]


def load_problems(name: str, *, split: str = "test", limit: int | None = None,
                  data_dir: Path | None = None, mapping: Mapping[str, str] | None = None,
                  skip_invalid: bool = False) -> LoadResult:
    """Read and validate problems. Everything is read before anything is returned, so bad input
    anywhere in the first ``limit`` problems fails the whole call. With ``skip_invalid``, records
    that are unusable on their own (:class:`InvalidRecord`) are skipped and reported instead;
    malformed files still fail."""
    data_dir = Path(data_dir or get_settings().data_dir)
    key = name.upper()
    if key == "MATH":
        source = load_math(split, data_dir)
    elif key == "MATH500":
        source = load_math500(data_dir)
    elif key == "GSM8K":
        source = load_gsm8k(split, data_dir)
    elif key == "CHAMP":
        source = load_champ()
    else:
        path = Path(name)
        if path.suffix in (".jsonl", ".json") and path.is_file():
            source = load_jsonl(path, mapping or {})
        elif path.is_dir():
            source = load_math_folder(path)
        elif path.suffix or "/" in name:
            raise InputError("no such file or directory", source=name)
        else:
            raise UnknownDatasetError(f"unknown dataset {name!r}; known: {', '.join(KNOWN_DATASETS)}, "
                                      "or a path to a .jsonl file or a MATH-style folder")
    problems: list[Problem] = []
    skipped: list[InvalidRecord] = []
    seen: set[str] = set()
    for problem in _tolerant(source, skipped if skip_invalid else None):
        if limit is not None and len(problems) >= limit:
            break
        if problem.source_id in seen:
            raise InputError(f"duplicate problem id {problem.source_id!r}", source=name, field="id")
        seen.add(problem.source_id)
        problems.append(problem)
    if not problems:
        raise InputError("dataset is empty" + (f" ({len(skipped)} invalid record(s) skipped)"
                                               if skipped else ""), source=name)
    return LoadResult(problems, skipped)


def _attempt(build, *args) -> Problem | InvalidRecord:
    """Build one record; an unusable record comes back as its error so the loader can go on."""
    try:
        return build(*args)
    except InvalidRecord as exc:
        return exc


def _tolerant(source: Iterator[Problem | InvalidRecord],
              skipped: list[InvalidRecord] | None) -> Iterator[Problem | InvalidRecord]:
    """Raise record errors, or collect them in ``skipped`` and go on with the next record."""
    for item in source:
        if isinstance(item, InvalidRecord):
            if skipped is None:
                raise item
            skipped.append(item)
            continue
        yield item
