"""Run names: what a run may be called.

A run name is 1 to 200 characters from ``A-Z a-z 0-9 . _ - + = @ :``, starting with a letter or
a digit. Names are shown in terminals, file names and URLs of reports, and Prometheus labels, so
no spaces, slashes, brackets (Rich markup) or control characters. A name that does not fit is an
:class:`~rader_queue.errors.InputError` raised before anything is written."""

from __future__ import annotations

import re

from rader_queue.errors import InputError

RUN_NAME_MAX = 200
RUN_NAME_CHARS = "A-Z a-z 0-9 . _ - + = @ :"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=@:-]*")
_OTHER = re.compile(r"[^A-Za-z0-9._+=@:-]+")


def validate_run_name(name: object) -> str:
    """``name`` when it is a valid run name; InputError naming the problem otherwise."""
    if not isinstance(name, str) or not name:
        raise InputError("run name is empty; use 1 to 200 characters from " + RUN_NAME_CHARS)
    if len(name) > RUN_NAME_MAX:
        raise InputError(f"run name is {len(name)} characters long; at most {RUN_NAME_MAX}")
    if not _NAME.fullmatch(name):
        bad = sorted({c for c in name if not re.fullmatch(r"[A-Za-z0-9._+=@:-]", c)})
        what = (f"characters {', '.join(ascii(c) for c in bad[:8])} are" if bad
                else "its first character is")
        raise InputError(f"run name {ascii(name[:60])} is not valid: {what} not allowed (use "
                         f"{RUN_NAME_CHARS}, starting with a letter or digit)")
    return name


def default_run_name(source: str, split: str) -> str:
    """A valid run name made from a dataset name or file name and a split."""
    name = _OTHER.sub("_", f"{source}-{split}").strip("._+=@:-") or "run"
    return validate_run_name(name[:RUN_NAME_MAX])
