"""String normalisation of final answers (MATH conventions), before anything is parsed.

Everything here is plain string work with linear-time regular expressions: no evaluation.
:func:`normalize` removes presentation (``\\left``/``\\right``, ``\\dfrac``/``\\tfrac``, spacing
commands, ``$``/``\\$``, ``%``/``\\%``, degree marks, trailing units, ``\\text{...}`` wrappers, a
leading ``x =``, a trailing period, thousands separators) and keeps meaning. Whether two
normalised strings denote the same value is decided by :mod:`rader_queue.answers.equivalence`.

Conventions (MATH's; each is a test in ``tests/answers/test_adversarial.py``):

* percent signs are dropped: ``5\\%`` = ``5``, and ``5\\%`` ≠ ``0.05``;
* ``1,000`` and ``1{,}000``, ``5,\\!525``, ``10 000`` and ``10\\,000`` are thousands separators; ``(1,000)``
  and ``\\{1,000\\}`` are a tuple and a set; ``1 2`` (digits apart, not in groups of three) is no number;
* ``0.1\\overline{6}`` is exactly 1/6; ``2\\frac14`` is the mixed number 9/4 (not 2·1/4);
* ``1011_2``, ``1011_{2}`` and ``1011_{(2)}`` are one spelling, and the bare digits ``1011`` count as
  the same answer (the question names the base); another base never does;
* degree marks are dropped (``30^\\circ`` = ``30``) except inside ``\\sin``/``\\cos``/... where they
  convert (``\\sin 30^\\circ`` = 1/2; the same trig with the marks left out also counts);
* ``9 a.m.``, ``9\\text{ am}``, ``9:00 AM`` are one time of day, never equal to the same hour p.m.;
* Unicode minus signs, full-width digits, superscript digits, ``π``, ``√``, ``∞``, ``½`` are read as TeX;
* ``x = 1 \\text{ or } x = 2`` and ``1 and 2`` are the list ``1, 2``; ``\\mathbb{R}`` and "all real
  numbers" are ``(-\\infty, \\infty)``; ``1e3`` is ``10^3``; ``\\boxed`` inside the box is unwrapped.
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
# "12 cm", "12\\text{ cm}^2", "5 square units": a number followed by unit words only. Units are
# stripped one at a time from the end (at most _MAX_UNITS): no regular expression with nested
# quantifiers (the former one-pattern version took exponential time on "1 cm cm cm ... x").
_UNIT_AT_END = re.compile(r"(?<![a-zA-Z])(?:" + _UNIT_WORD + r")(?:\s*\^\s*\{?\d\}?)?\s*$")
_NUMBER_BEFORE_UNITS = re.compile(r"[-+]?[\d.,/{}\\a-z]*\d\}?")
_MAX_UNITS = 4
_TEXT_UNIT_TAIL = re.compile(r"\\(?:text|mbox|mathrm)\s*\{(?P<unit>[a-zA-Z /]*)\}(?:\s*\^\s*\{?\d\}?)?\s*$")
_TIME = re.compile(r"(?<![\d.])(\d{1,2})(?::(\d{2}))?\s*(?:\\text\s*\{\s*)?([aApP])\.?\s*[mM]\.?\s*\}?\s*$")
_LHS_VARIABLE = re.compile(r"^\s*(?:[a-zA-Z](?:_\{?\w+\}?)?(?:\([a-zA-Z]\))?|\\(?:alpha|beta|gamma|delta|"
                           r"theta|phi|varphi|omega|lambda|mu|sigma|rho|tau|psi)(?![a-zA-Z]))\s*"
                           r"(?:=|\\in(?![a-zA-Z]))(?P<rhs>.*)$", re.S)
_MIXED_NUMBER = re.compile(r"^(-?)(\d+)\\frac(?:\{(\d+)\}|(\d))(?:\{(\d+)\}|(\d))$")
_EMPTY_SET = re.compile(r"\\(?:varnothing|emptyset)(?![a-zA-Z])|\\\{\s*\\\}")
_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_CHOICE = re.compile(r"^\(?([A-Ea-e])\)?$")
_COMMAND_SPACE = re.compile(r"(\\[a-zA-Z]+ )|(?<=\d)(\s+)(?=\.?\d)|\s+")
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
    """Remove whitespace, except one space after a command followed by a letter (``\\pi x``) and
    one between two digits (``1 2`` is not the number 12; ``10 000`` was joined before)."""
    s = _COMMAND_SPACE.sub(lambda m: m.group(1) or (" " if m.group(2) else ""), s)
    return _COMMAND_SPACE_END.sub(r"\1", s)


_UNICODE = {"\u2212": "-", "\u2013": "-", "\u2012": "-", "\ufe63": "-", "\u00a0": " ", "\u2009": " ",
            "\u202f": " ", "\u3000": " ", "\u03c0": "\\pi ", "\u221e": "\\infty ", "\u00d7": "\\times ",
            "\u00b7": "\\cdot ", "\u22c5": "\\cdot ", "\u00f7": "\\div ", "\u2264": "\\le ", "\u2265": "\\ge ",
            "\u2260": "\\ne ", "\u00bd": "\\frac{1}{2}", "\u00bc": "\\frac{1}{4}", "\u00be": "\\frac{3}{4}"}
_SUPERSCRIPTS = {"\u2070": "0", "\u00b9": "1", "\u00b2": "2", "\u00b3": "3", "\u2074": "4", "\u2075": "5",
                 "\u2076": "6", "\u2077": "7", "\u2078": "8", "\u2079": "9", "\u207b": "-"}
_SUPERSCRIPT_RUN = re.compile("[" + "".join(_SUPERSCRIPTS) + "]+")
_SQRT_SIGN = re.compile("\u221a\\s*(\\{|\\d+|[a-zA-Z])")
_NESTED_BOX = re.compile(r"^\\(?:boxed|fbox)\s*\{(.*)\}$", re.S)
_CHOOSE = re.compile(r"\{([^{}\\]*)\\choose([^{}]*)\}")
_EXPLICIT_THOUSANDS = re.compile(r"(?<=\d)(?:,\s*\\!|\{\s*,\s*\})\s*(?=\d{3}(?!\d))")
_BRACED_COMMA = re.compile(r"\{\s*,\s*\}")
_SPACED_THOUSANDS = re.compile(r"(?<![\d.])\d{1,3}(?: \d{3})+(?![\d.])")
_REPEATING = re.compile(r"(?<![\d.])(\d*)\.(\d*)\\(?:overline|bar|dot)\s*\{?(?:(?<=\{)(\d{1,50})\}|(\d))")
_SCIENTIFIC = re.compile(r"^([-+]?)(\d+(?:\.\d+)?)[eE]([-+]?\d{1,6})$")
_BASE = re.compile(r"^([-+]?[0-9A-Z]+(?:\.[0-9A-Z]+)?)_\{?\(?(\d{1,2})\)?\}?$")
_TRIG_DEGREES = re.compile(r"\\(?:sin|cos|tan|sec|csc|cot)(?![a-zA-Z])")
_WORD_SEPARATOR = re.compile(r"\s+(?:and|or)\s+|\\text\s*\{\s*(?:and|or)\s*\}")
_SAME_VARIABLE = re.compile(r"^\s*([a-zA-Z])\s*=(.*)$", re.S)
_INFINITY_WORDS = {"infinity": "\\infty", "+infinity": "\\infty", "-infinity": "-\\infty",
                   "all real numbers": "(-\\infty,\\infty)", "\\mathbb{r}": "(-\\infty,\\infty)"}


def is_base_number(digits: str, base: int) -> bool:
    """Whether ``digits`` (with a sign or a point) is a numeral in ``base`` (2..36)."""
    if not 2 <= base <= 36:
        return False
    body = digits.lstrip("+-").replace(".", "", 1)
    return bool(body) and any(c.isdigit() for c in body) and all(int(c, 36) < base for c in body)


def _unicode(s: str) -> str:
    """Full-width ASCII, Unicode minus signs and spaces, and a few math symbols as TeX."""
    if s.isascii():
        return s
    s = "".join(chr(ord(c) - 0xFEE0) if "\uff01" <= c <= "\uff5e" else _UNICODE.get(c, c) for c in s)
    s = _SUPERSCRIPT_RUN.sub(lambda m: "^{" + "".join(_SUPERSCRIPTS[c] for c in m.group(0)) + "}", s)
    return _SQRT_SIGN.sub(lambda m: "\\sqrt" + (m.group(1) if m.group(1) == "{" else "{" + m.group(1) + "}"), s)


def _repeating(m: re.Match) -> str:
    """``0.1\\overline{6}`` -> ``\\frac{1}{6}`` (exact)."""
    whole, fixed, rep = m.group(1) or "0", m.group(2), m.group(3) or m.group(4)
    num = int(whole + fixed + rep) - int(whole + fixed)
    den = (10 ** len(rep) - 1) * 10 ** len(fixed)
    return f"\\frac{{{num}}}{{{den}}}"


def _strip_units(s: str) -> str:
    """``12 cm^2`` -> ``12``; unchanged unless what is left is a number."""
    rest = s
    for _ in range(_MAX_UNITS):
        m = _UNIT_AT_END.search(rest)
        if not m:
            break
        rest = rest[:m.start()].rstrip()
    return rest if rest != s and _NUMBER_BEFORE_UNITS.fullmatch(rest) else s


def _same_variable_list(s: str) -> str:
    """``x = 1, x = 2`` -> ``1, 2`` (one variable named on every element of a list)."""
    parts = s.split(",")
    ms = [_SAME_VARIABLE.match(p) for p in parts]
    if len(parts) > 1 and all(ms) and len({m.group(1) for m in ms}) == 1:    # type: ignore[union-attr]
        return ",".join(m.group(2) for m in ms)                             # type: ignore[union-attr]
    return s


def normalize(answer: str | None) -> str:
    """A canonical string for a final answer ("" for None or an empty answer)."""
    if answer is None:
        return ""
    s = str(answer)[:MAX_NORMALIZE_CHARS].strip()
    if len(s) > LONG_ANSWER_CHARS:
        return _squash_spaces(s)
    s = _unicode(s)
    for _ in range(5):                           # \boxed{\boxed{3}}
        m = _NESTED_BOX.match(s)
        if not m:
            break
        s = m.group(1).strip()
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\cfrac", "\\frac")
    s = s.replace("\\dbinom", "\\binom").replace("\\tbinom", "\\binom")
    s = _CHOOSE.sub(lambda m: f"\\binom{{{m.group(1).strip()}}}{{{m.group(2).strip()}}}", s)
    s = _EXPLICIT_THOUSANDS.sub("", s)
    s = _BRACED_COMMA.sub(",", s)
    s = _SPACING.sub(lambda m: m.group(0) if m.group(0) == "\\\\" else " ", s)
    s = _LEFT_RIGHT.sub("", s)
    if _TRIG_DEGREES.search(s):                  # sin 30° is sin(pi/6): the parser reads '°'
        s = _DEGREES.sub("°", s)
    else:                                        # an angle in degrees: MATH drops the mark
        s = _DEGREES.sub("", s)
    s = s.replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "")
    s = s.strip().rstrip(".").strip()
    m = _TEXT_UNIT_TAIL.search(s)
    if m and m.group("unit").strip().lower() not in ("am", "pm"):
        body = s[:m.start()].rstrip()
        if body and re.search(r"[\d}]", body):
            s = body
    s = _unwrap_text(s).strip()
    m = _TIME.search(s)
    if m and m.start() == 0:                     # 9 a.m., 9:30 PM, 9\text{ am}
        return f"{int(m.group(1))}:{m.group(2) or '00'}{m.group(3).lower()}m"
    s = _strip_units(s)
    s = s.strip().rstrip(".").strip()
    m = _LHS_VARIABLE.match(s)
    if m and m.group("rhs").strip() and "=" not in m.group("rhs"):
        s = m.group("rhs").strip()
    m = _CHOICE.match(s.replace(" ", ""))
    if m and len(s.replace(" ", "")) in (1, 3):
        return m.group(1).upper()
    if _WORDS.match(s):                         # a worded answer: case and spacing do not matter
        low = " ".join(s.lower().split())
        return _INFINITY_WORDS.get(low) or _BOOLEAN.get(low, low)
    if re.search(r"[\d\\]", s):                  # "1 and 2", "x = 1 or x = 2": a list
        s = _same_variable_list(_WORD_SEPARATOR.sub(",", s))
    s = _SPACED_THOUSANDS.sub(lambda m: m.group(0).replace(" ", ""), s)
    s = _squash_spaces(s)
    s = _INFINITY_WORDS.get(s.lower(), s)
    s = _EMPTY_SET.sub("\\\\emptyset", s)
    s = _REPEATING.sub(_repeating, s)
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    m = _SCIENTIFIC.match(s)
    if m:                                        # 1.5e3 is 1.5 \times 10^{3}
        s = f"{m.group(1)}{m.group(2)}\\times10^{{{int(m.group(3))}}}"
    m = _BASE.match(s)
    if m and is_base_number(m.group(1), int(m.group(2))):   # 1011_2, 1011_{2}, 1011_{(2)}: one spelling
        return f"{m.group(1)}_{{{int(m.group(2))}}}"
    m = _MIXED_NUMBER.match(s)
    if m:
        whole, num, den = int(m.group(2)), int(m.group(3) or m.group(4)), int(m.group(5) or m.group(6))
        if den > num > 0:                        # "2\frac{1}{4}" is 9/4 (a mixed number)
            s = f"{m.group(1)}\\frac{{{whole * den + num}}}{{{den}}}"
    return s
