"""Whether a candidate final answer means the same as the gold one, exactly.

:func:`check` (pure, CPU-bound: run it through :mod:`rader_queue.answers.pool`, which bounds its
wall time) decides in this order, and says why in :attr:`Verdict.reason`:

1. the normalised strings (:mod:`~rader_queue.answers.normalize`) are equal;
2. both are plain decimal numbers: compared digit by digit, exact at any size
   (``10456`` ≠ ``10455``, ``920.26`` ≠ ``920.25``, ``5.0`` = ``5``);
3. structures: tuples and intervals (ordered, brackets must match), sets and bare lists
   (unordered), unions of intervals (unordered), matrices (by cell), equations (by sides),
   ``a \\pm b`` (the set of ``a + b`` and ``a - b``);
4. scalars are parsed by the restricted parser (:mod:`~rader_queue.answers.latex`, which never
   evaluates text) into exact SymPy values: rationals compare exactly (``\\frac{15310}{256}`` ≠
   ``\\frac{15309}{256}``, ``0.5`` = ``\\frac12``); expressions with variables are equal when
   their difference expands or simplifies to 0; constant expressions are equal when their
   difference simplifies to 0, or - the one stated tolerance - when *both* are irrational and
   agree to a relative 1e-30 when evaluated to 60 digits (never between two rationals, integers or finite decimals, and never
   between a rational and an irrational).

Anything that cannot be parsed is only equal to the same normalised string.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import sympy

from rader_queue.answers.latex import ParseError, parse_latex
from rader_queue.answers.normalize import LONG_ANSWER_CHARS, is_base_number, normalize

IRRATIONAL_REL_TOL = 1e-30
EVAL_DIGITS = 60
MAX_ELEMENTS = 50

_DECIMAL = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)$")
_MATRIX = re.compile(r"^\\begin\{([pbBvV]?matrix|array)\}(?:\{[lcr|]*\})?(.*)\\end\{\1\}$", re.S)
_SET = re.compile(r"^\\\{(.*)\\\}$", re.S)
_WORDED = re.compile(r"^[a-z][a-z '\-]*$")
_BASE = re.compile(r"^([-+]?[0-9A-Z.]+)_\{(\d+)\}$")
_BARE_VARIABLE = re.compile(r"^[a-zA-Z]$")
_OPENERS = {"(": 1, "[": 1, "{": 1}
_CLOSERS = {")": 1, "]": 1, "}": 1}


class Verdict(NamedTuple):
    equal: bool
    reason: str


def _canonical_decimal(s: str) -> str:
    sign = "-" if s.startswith("-") else ""
    s = s.lstrip("+-")
    whole, _, frac = s.partition(".")
    whole, frac = whole.lstrip("0") or "0", frac.rstrip("0")
    if whole == "0" and not frac:
        sign = ""
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


def split_top(s: str, sep: str) -> list[str]:
    """``s`` split at ``sep`` where it is outside every bracket (``\\{``/``\\}`` count too)."""
    parts, depth, start, i, n = [], 0, 0, 0, len(s)
    while i < n:
        if s.startswith("\\{", i) or s.startswith("\\}", i):
            depth += 1 if s[i + 1] == "{" else -1
            i += 2
            continue
        ch = s[i]
        if ch in _OPENERS:
            depth += 1
        elif ch in _CLOSERS:
            depth -= 1
        elif depth == 0 and s.startswith(sep, i):
            parts.append(s[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    parts.append(s[start:])
    return parts


def _wrapped(s: str) -> bool:
    """True when the bracket opening ``s`` closes only at its last character."""
    depth = 0
    for i, ch in enumerate(s):
        if ch in _OPENERS:
            depth += 1
        elif ch in _CLOSERS:
            depth -= 1
            if depth == 0 and i != len(s) - 1:
                return False
    return depth == 0


def structure(s: str) -> tuple:
    """``("matrix", rows)``, ``("union", parts)``, ``("set", elems)``, ``("seq", open, close,
    elems)``, ``("eq", lhs, rhs)`` or ``("scalar", s)``."""
    m = _MATRIX.match(s)
    if m:
        rows = [r for r in split_top(m.group(2), "\\\\") if r.strip()]
        return ("matrix", [tuple(split_top(r, "&")) for r in rows])
    parts = split_top(s, "\\cup")
    if len(parts) > 1:
        return ("union", parts)
    m = _SET.match(s)
    if m and _wrapped("(" + m.group(1) + ")"):
        return ("set", [p for p in split_top(m.group(1), ",")])
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and _wrapped(s):
        elems = split_top(s[1:-1], ",")
        if len(elems) > 1:
            return ("seq", s[0], s[-1], elems)
    elems = split_top(s, ",")
    if len(elems) > 1:
        return ("set", elems)
    sides = split_top(s, "=")
    if len(sides) == 2:
        return ("eq", sides[0], sides[1])
    for pm, signs in (("\\pm", ("+", "-")), ("\\mp", ("-", "+"))):
        halves = split_top(s, pm)
        if len(halves) == 2:                 # "a \pm b": the set {a + b, a - b}
            return ("set", [halves[0] + signs[0] + "(" + halves[1] + ")",
                            halves[0] + signs[1] + "(" + halves[1] + ")"])
    return ("scalar", s)


class _Comparer:
    """Compares the parts of one candidate with the parts of one gold answer (parses cached)."""

    def __init__(self) -> None:
        self.parsed: dict[str, sympy.Expr | ParseError] = {}

    def parse(self, s: str) -> sympy.Expr:
        if s not in self.parsed:
            try:
                self.parsed[s] = parse_latex(s)
            except ParseError as exc:
                self.parsed[s] = exc
            except (ValueError, TypeError, ArithmeticError, RecursionError) as exc:
                self.parsed[s] = ParseError(f"{type(exc).__name__}")
        value = self.parsed[s]
        if isinstance(value, ParseError):
            raise value
        return value

    def scalar(self, a: str, b: str) -> Verdict:
        if a == b:
            return Verdict(True, "same text")
        ma, mb = (m if m and is_base_number(m.group(1), int(m.group(2))) else None
                  for m in (_BASE.match(a), _BASE.match(b)))
        if ma or mb:                       # 1011_{2}: the same digits, in no base or the same one
            da, db = (ma.group(1) if ma else a), (mb.group(1) if mb else b)
            if ma and mb and ma.group(2) != mb.group(2):
                return Verdict(False, "numbers in different bases")
            same = da == db
            return Verdict(same, "same digits" if same else "different digits")
        if _DECIMAL.match(a) and _DECIMAL.match(b):
            same = _canonical_decimal(a) == _canonical_decimal(b)
            return Verdict(same, "same number" if same else "different numbers")
        if _WORDED.match(a) or _WORDED.match(b):
            return Verdict(False, "different text")
        try:
            x = self.parse(a)
        except ParseError as exc:
            return Verdict(False, f"answer not understood ({exc})")
        try:
            y = self.parse(b)
        except ParseError as exc:
            return Verdict(False, f"gold answer not understood ({exc})")
        return compare_expressions(x, y)

    def unordered(self, xs: list[str], ys: list[str]) -> Verdict:
        if len(xs) != len(ys):
            return Verdict(False, f"{len(xs)} elements, gold has {len(ys)}")
        if len(xs) > MAX_ELEMENTS:
            return Verdict(False, f"more than {MAX_ELEMENTS} elements")
        left = list(ys)
        for x in xs:
            for j, y in enumerate(left):
                if self.value(x, y).equal:
                    del left[j]
                    break
            else:
                return Verdict(False, f"element {x[:40]!r} is not in the gold answer")
        return Verdict(True, "same elements")

    def ordered(self, xs: list[str] | tuple, ys: list[str] | tuple) -> Verdict:
        if len(xs) != len(ys):
            return Verdict(False, f"{len(xs)} elements, gold has {len(ys)}")
        if len(xs) > MAX_ELEMENTS:
            return Verdict(False, f"more than {MAX_ELEMENTS} elements")
        for i, (x, y) in enumerate(zip(xs, ys)):
            verdict = self.value(x, y)
            if not verdict.equal:
                return Verdict(False, f"element {i + 1}: {verdict.reason}")
        return Verdict(True, "same elements in order")

    def value(self, a: str, b: str) -> Verdict:
        sa, sb = structure(a.strip()), structure(b.strip())
        if sa[0] == "scalar" and sb[0] == "scalar":
            return self.scalar(sa[1], sb[1])
        for eq, other in ((sa, sb), (sb, sa)):          # "2x + 3 = y" where the gold is "2x + 3"
            if eq[0] == "eq" and other[0] == "scalar":
                for side, rest in ((eq[1], eq[2]), (eq[2], eq[1])):
                    if _BARE_VARIABLE.match(side.strip()):
                        return self.value(rest, other[1])
        if sa[0] != sb[0]:
            return Verdict(False, f"a {sa[0]} where the gold answer is a {sb[0]}")
        kind = sa[0]
        if kind in ("set", "union"):
            return self.unordered(sa[1], sb[1])
        if kind == "seq":
            if sa[1:3] != sb[1:3]:
                return Verdict(False, f"brackets {sa[1]}{sa[2]} where the gold answer has {sb[1]}{sb[2]}")
            return self.ordered(sa[3], sb[3])
        if kind == "matrix":
            if [len(r) for r in sa[1]] != [len(r) for r in sb[1]]:
                return Verdict(False, "a matrix of another shape")
            return self.ordered([c for r in sa[1] for c in r], [c for r in sb[1] for c in r])
        straight = self.ordered(sa[1:], sb[1:])            # equations: the same sides, either order
        if straight.equal:
            return straight
        swapped = self.ordered(sa[1:][::-1], sb[1:])
        return swapped if swapped.equal else self.proportional(sa[1:], sb[1:], straight)

    def proportional(self, xs: tuple, ys: tuple, otherwise: Verdict) -> Verdict:
        """``x^2 + y^2 = 1`` and ``2x^2 + 2y^2 = 2``: (lhs - rhs) differ by a nonzero constant."""
        try:
            p = sympy.Add(self.parse(xs[0]), -self.parse(xs[1]))
            q = sympy.Add(self.parse(ys[0]), -self.parse(ys[1]))
        except ParseError:
            return otherwise
        if not (p.free_symbols and q.free_symbols) or q == 0:
            return otherwise
        ratio = sympy.simplify(p / q)
        if not ratio.free_symbols and ratio.is_number and ratio.is_finite and ratio != 0:
            return Verdict(True, "equations differ by a constant factor")
        return otherwise


def compare_expressions(x: sympy.Expr, y: sympy.Expr) -> Verdict:
    """Exact comparison of two parsed values (see the module docstring)."""
    if x == y:
        return Verdict(True, "same value")
    if x.is_Rational and y.is_Rational:
        return Verdict(False, "different numbers")
    diff = x - y
    if diff == 0 or sympy.expand(diff) == 0:
        return Verdict(True, "difference expands to 0")
    if diff.free_symbols:
        same = sympy.simplify(diff) == 0
        return Verdict(same, "difference simplifies to 0" if same else "different expressions")
    if sympy.simplify(diff) == 0:
        return Verdict(True, "difference simplifies to 0")
    sx, sy = (v if v.is_Rational else sympy.simplify(v) for v in (x, y))
    if sx.is_Rational or sy.is_Rational:
        if sx.is_Rational and sy.is_Rational:
            same = sx == sy
            return Verdict(same, "same number" if same else "different numbers")
        return Verdict(False, "a rational number and an irrational one")
    try:                                  # both at EVAL_DIGITS digits, then their difference
        ex, ey = x.evalf(EVAL_DIGITS), y.evalf(EVAL_DIGITS)
        gap = abs(complex((ex - ey).evalf(EVAL_DIGITS)))
        scale = max(abs(complex(ex)), abs(complex(ey)))
    except (TypeError, ValueError, ArithmeticError):
        return Verdict(False, "not a number that can be evaluated")
    if scale != scale or scale == float("inf") or gap != gap:
        return Verdict(False, "not a finite number")
    if gap <= IRRATIONAL_REL_TOL * scale:
        return Verdict(True, f"irrational values equal within a relative {IRRATIONAL_REL_TOL:g}")
    return Verdict(False, "different values")


def check(pred: str | None, gold: str | None) -> Verdict:
    """Whether the candidate ``pred`` means the same as ``gold`` (pure, CPU-bound, may be slow:
    call it through :class:`rader_queue.answers.pool.AnswerChecker`)."""
    if pred is None or not str(pred).strip():
        return Verdict(False, "no answer")
    if gold is None or not str(gold).strip():
        return Verdict(False, "no gold answer")
    a, b = normalize(pred), normalize(gold)
    if not a:
        return Verdict(False, "empty answer")
    if a == b:
        return Verdict(True, "same after normalisation")
    if _DECIMAL.match(a) and _DECIMAL.match(b):           # exact at any size, never parsed
        same = _canonical_decimal(a) == _canonical_decimal(b)
        return Verdict(same, "same number" if same else "different numbers")
    if len(a) > LONG_ANSWER_CHARS or len(b) > LONG_ANSWER_CHARS:
        return Verdict(False, f"answer of {len(a)} characters is compared as text only, and differs")
    comparer = _Comparer()
    verdict = comparer.value(a, b)
    if not verdict.equal and ("°" in a) != ("°" in b):    # \cos 13^\circ written as \cos 13
        plain = comparer.value(a.replace("°", ""), b.replace("°", ""))
        if plain.equal:
            return Verdict(True, "same with the degree marks dropped")
    return verdict
