"""String normalisation of final answers (MATH conventions), before anything is parsed.

Everything here is plain string work with linear-time regular expressions: no evaluation.
:func:`normalize` removes presentation (``\\left``/``\\right``, ``\\dfrac``/``\\tfrac``, spacing
commands, ``$``/``\\$``, ``%``/``\\%``, degree marks, trailing units, ``\\text{...}`` wrappers, a
leading ``x =``, a trailing period, thousands separators) and keeps meaning. Whether two
normalised strings denote the same value is decided by :mod:`rader_queue.answers.equivalence`.
"""

from __future__ import annotations

import re

_SPACING = re.compile(r"\\\\|\\[,;:! ]|\\q?quad(?![a-zA-Z])|~|\\displaystyle(?![a-zA-Z])")
_LEFT_RIGHT = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![a-zA-Z])\.?")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ(?![a-zA-Z])|°|\\degree(?![a-zA-Z])")
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|textit|textnormal|mathrm|mathbf|mbox|rm|bf)\s*\{([^{}]*)\}")
_UNITS = ("cm", "km", "mm", "in", "inch", "inches", "ft", "feet", "foot", "yd", "yard", "yards",
          "mile", "miles", "meter", "meters", "metre", "metres", "centimeter", "centimeters", "units",
          "unit", "square", "sq", "cubic", "degree", "degrees", "dollar", "dollars", "cent", "cents",
          "hour", "hours", "hr", "hrs", "minute", "minutes", "min", "mins", "second", "seconds", "sec",
          "day", "days", "week", "weeks", "month", "months", "year", "years", "mph", "kg", "gram",
          "grams", "pound", "pounds", "lb", "lbs", "ounce", "ounces", "oz", "gallon", "gallons", "liter",
          "liters", "people", "students", "items", "percent", "points", "times", "ways", "tiles",
          "marbles", "books", "cookies", "apples", "eggs", "pages")
_UNIT_WORD = "|".join(sorted(_UNITS, key=len, reverse=True))
# "12 cm", "12\text{ cm}^2", "5 square units": a number followed by unit words only.
_TRAILING_UNITS = re.compile(r"^(?P<num>[-+]?[\d.,/{}\\a-z]*?\d\}?)\s*(?:(?:" + _UNIT_WORD
                             + r")(?![a-zA-Z])\s*(?:\^\s*\{?\d\}?)?\s*)+$")
_TEXT_UNIT_TAIL = re.compile(r"^(?P<body>.*?\S)\s*\\(?:text|mbox|mathrm)\s*\{\s*[a-zA-Z ]*\}\s*(?:\^\s*\{?\d\}?)?$")
_LHS_VARIABLE = re.compile(r"^\s*(?:[a-zA-Z](?:_\{?\w+\}?)?(?:\([a-zA-Z]\))?|\\(?:alpha|beta|gamma|delta|"
                           r"theta|phi|varphi|omega|lambda|mu|sigma|rho|tau|psi)(?![a-zA-Z]))\s*"
                           r"(?:=|\\in(?![a-zA-Z]))(?P<rhs>.*)$", re.S)
_MIXED_NUMBER = re.compile(r"^(-?)(\d+)\\frac\{(\d+)\}\{(\d+)\}$")
_EMPTY_SET = re.compile(r"\\(?:varnothing|emptyset)(?![a-zA-Z])|\\\{\s*\\\}")
_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_CHOICE = re.compile(r"^\(?([A-Ea-e])\)?$")
_COMMAND_SPACE = re.compile(r"(\\[a-zA-Z]+ )|\s+")
_COMMAND_SPACE_END = re.compile(r"(\\[a-zA-Z]+) (?![a-zA-Z])")
_WORDS = re.compile(r"^[a-zA-Z][a-zA-Z '\-]*$")
_BOOLEAN = {"true": "yes", "false": "no", "yes": "yes", "no": "no"}

MAX_NORMALIZE_CHARS = 200_000
#: Longer answers get only the linear steps (no unit or ``x =`` stripping): they are compared
#: as strings, never parsed.
LONG_ANSWER_CHARS = 2_000


def _unwrap_text(s: str) -> str:
    for _ in range(20):                        # nested wrappers, bounded
        new = _TEXT_WRAPPER.sub(r"\1", s)
        if new == s:
            return s
        s = new
    return s


def _squash_spaces(s: str) -> str:
    """Remove whitespace, except one space after a command followed by a letter (``\\pi x``)."""
    s = _COMMAND_SPACE.sub(lambda m: m.group(1) or "", s)
    return _COMMAND_SPACE_END.sub(r"\1", s)


def normalize(answer: str | None) -> str:
    """A canonical string for a final answer ("" for None or an empty answer)."""
    if answer is None:
        return ""
    s = str(answer)[:MAX_NORMALIZE_CHARS].strip()
    if len(s) > LONG_ANSWER_CHARS:
        return _squash_spaces(s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = s.replace("{,}", ",")
    s = _SPACING.sub(lambda m: m.group(0) if m.group(0) == "\\\\" else " ", s)
    s = _LEFT_RIGHT.sub("", s)
    s = _DEGREES.sub("", s)
    s = s.replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "")
    s = s.strip().rstrip(".").strip()
    m = _TEXT_UNIT_TAIL.match(s)
    if m and re.search(r"[\d}]", m.group("body")):
        s = m.group("body")
    s = _unwrap_text(s).strip()
    m = _TRAILING_UNITS.match(s)
    if m:
        s = m.group("num")
    s = s.strip().rstrip(".").strip()
    m = _LHS_VARIABLE.match(s)
    if m and m.group("rhs").strip() and "=" not in m.group("rhs"):
        s = m.group("rhs").strip()
    m = _CHOICE.match(s.replace(" ", ""))
    if m and len(s.replace(" ", "")) in (1, 3):
        return m.group(1).upper()
    if _WORDS.match(s):                         # a worded answer: case and spacing do not matter
        low = " ".join(s.lower().split())
        return _BOOLEAN.get(low, low)
    s = _squash_spaces(s)
    s = _EMPTY_SET.sub("\\\\emptyset", s)
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    m = _MIXED_NUMBER.match(s)
    if m and int(m.group(4)) > int(m.group(3)) > 0:      # "2\frac{1}{4}" is 9/4 (a mixed number)
        whole, num, den = int(m.group(2)), int(m.group(3)), int(m.group(4))
        s = f"{m.group(1)}\\frac{{{whole * den + num}}}{{{den}}}"
    return s
