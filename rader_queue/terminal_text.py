"""Printing data, not markup: every string that comes from SQL, a dataset, a model or a server
reaches the terminal through :func:`safe_text` / :func:`cell` (a Rich ``Text``, which is never
parsed for markup or emoji) after :func:`clean` removed what a terminal would act on:

* escape sequences: CSI (``ESC [ … final``, and the one-byte C1 form ``\\x9b``), OSC
  (``ESC ] … BEL|ST``, ``\\x9d``: hyperlinks, window titles, clipboard writes), DCS/SOS/PM/APC
  strings, and any other two-byte ``ESC x``;
* every other C0 and C1 control character, DEL, and a bare CR (which lets text overwrite what
  was printed before it); tab becomes a space, newline stays unless ``one_line``;
* bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069), which reorder what is
  shown relative to what is stored.

Markup the CLI writes itself stays markup; data is joined to it with :func:`Text.assemble`
or passed to the ``[…]`` templates through :func:`escaped`."""

from __future__ import annotations

import re

from rich.console import Console
from rich.markup import escape
from rich.text import Text

_SEQUENCES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"                 # CSI
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"   # OSC … BEL | ST
    r"|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c]*(?:\x1b\\|\x9c)?"   # DCS, SOS, PM, APC
    r"|\x1b[\x20-\x7e]?")                                 # any other escape
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(value: object, *, one_line: bool = False, limit: int | None = None) -> str:
    """``value`` as text a terminal shows literally (see the module doc)."""
    text = "" if value is None else str(value)
    text = _SEQUENCES.sub("", text).replace("\t", " ").replace("\r\n", "\n")
    text = _CONTROLS.sub("", text)
    if one_line:
        text = " ".join(text.split())
    if limit is not None and len(text) > limit:
        text = text[:max(0, limit - 1)] + "…"
    return text


def safe_text(value: object, style: str = "", *, one_line: bool = False,
              limit: int | None = None) -> Text:
    """Cleaned data as a Rich ``Text`` (never parsed as markup)."""
    return Text(clean(value, one_line=one_line, limit=limit), style=style)


def cell(value: object, style: str = "", *, limit: int | None = None) -> Text:
    """A table cell of data: one line, cleaned, as ``Text``."""
    return safe_text(value, style, one_line=True, limit=limit)


def escaped(value: object, **kw) -> str:
    """Cleaned data for a string that Rich parses as markup (``[`` escaped). Emoji codes such as
    ``:smile:`` are not escaped: print such strings with ``emoji=False``."""
    return escape(clean(value, **kw))


def data_console(**kw) -> Console:
    """A console for printing data as plain strings: markup, emoji and highlighting off."""
    return Console(markup=False, emoji=False, highlight=False, **kw)
