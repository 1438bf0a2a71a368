"""Gold-answer rewards (spec §S1.4): boxed-answer extraction, normalization, equivalence.

Pure functions, no model calls. Equivalence tries, in order: equality of the normalized
strings, numeric equality with a relative tolerance, then symbolic equality (math-verify,
then sympy), which is skipped for strings longer than ``SYMBOLIC_MAX_CHARS`` and never
raises.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

SYMBOLIC_MAX_CHARS = 200
FORMAT_REWARD = 0.2

_BOX_COMMANDS = ("\\boxed", "\\fbox")


def extract_boxed(text: str | None) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces matched; also
    ``\\boxed 5``. None when there is no complete box."""
    if not text:
        return None
    starts = sorted((m.start(), m.end()) for cmd in _BOX_COMMANDS
                    for m in re.finditer(re.escape(cmd) + r"(?![a-zA-Z])", text))
    for _start, end in reversed(starts):
        rest = text[end:]
        stripped = rest.lstrip()
        if stripped.startswith("{"):
            offset = len(rest) - len(stripped)
            depth = 0
            for i, ch in enumerate(stripped):
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                    if depth == 0:
                        return stripped[1:i].strip()
            continue                                   # unbalanced: try an earlier box
        if rest[:1] == " ":
            m = re.match(r"\s*([^\s$]+)", rest)
            if m:
                return m.group(1)
    return None


def gold_answer_from_solution(solution: str) -> str | None:
    """The gold answer of a MATH-style solution: its last boxed expression."""
    return extract_boxed(solution)


_TEXT_CMD = re.compile(r"\\(?:text|textbf|mathrm|mbox)\s*\{([^{}]*)\}")
_TRAILING_UNIT = re.compile(r"^(.+?)\s*\\(?:text|mbox)\s*\{\s*[^{}]*\}\s*$")


def _fix_fracs(s: str) -> str:
    """``\\frac12`` -> ``\\frac{1}{2}``, ``\\frac1{2}`` -> ``\\frac{1}{2}``."""
    def arg(rest: str) -> tuple[str, str] | None:
        if not rest:
            return None
        if rest[0] == "{":
            depth = 0
            for i, ch in enumerate(rest):
                depth += ch == "{"
                depth -= ch == "}"
                if depth == 0:
                    return rest[: i + 1], rest[i + 1:]
            return None
        return "{" + rest[0] + "}", rest[1:]

    parts = s.split("\\frac")
    out = parts[0]
    for part in parts[1:]:
        first = arg(part)
        second = arg(first[1]) if first else None
        out += "\\frac" + (first[0] + second[0] + second[1] if first and second else part)
    return out


def _fix_sqrt(s: str) -> str:
    return re.sub(r"\\sqrt\s*([^\s{\\])", r"\\sqrt{\1}", s)


def normalize_answer(answer: str | None) -> str:
    """A canonical string for comparing final answers (Hendrycks-style).

    Removes ``\\left``/``\\right``, ``\\!``, spaces, ``$``, ``%``, degree marks and trailing
    ``\\text{unit}``; maps dfrac/tfrac to frac; ``a/b`` to ``\\frac{a}{b}``; "x = 5" to "5";
    "0.5" to "\\frac{1}{2}"; "3.0"/"3.00" to "3" (only a run of zeros after a decimal point is
    removed: "100" and "10" stay as they are); true/false to yes/no.
    """
    if answer is None:
        return ""
    s = str(answer).strip().replace("\n", "")
    s = s.replace("\\!", "").replace("\\,", "").replace("\\;", "").replace("\\ ", "")
    s = s.replace("\\\\", "\\")
    s = s.replace("tfrac", "frac").replace("dfrac", "frac")
    s = s.replace("\\left", "").replace("\\right", "")
    s = s.replace("^{\\circ}", "").replace("^\\circ", "").replace("\\circ", "")
    s = s.replace("\\$", "").replace("$", "")
    m = _TRAILING_UNIT.match(s)
    if m and m.group(1).strip():
        s = m.group(1)
    s = _TEXT_CMD.sub(r"\1", s)
    s = s.replace("\\%", "").replace("%", "")
    s = s.strip().rstrip(".").strip()
    sides = s.split("=")
    if len(sides) == 2 and len(sides[0].strip()) <= 2:
        s = sides[1]
    s = _fix_sqrt(s)
    s = s.replace(" ", "")
    s = re.sub(r"(^|[^\d])\.(\d)", r"\g<1>0.\2", s)      # ".5" -> "0.5"
    s = _fix_fracs(s)
    s = re.sub(r"^(-?\d+)\.0+$", r"\1", s)               # "3.00" -> "3" (never touches "100")
    if s == "0.5":
        s = "\\frac{1}{2}"
    m = re.fullmatch(r"(-?\d+)/(\d+)", s)
    if m:
        s = f"\\frac{{{m.group(1)}}}{{{m.group(2)}}}"
    low = s.lower()
    s = {"true": "yes", "false": "no", "yes": "yes", "no": "no"}.get(low, s)
    return s


_THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")


def to_number(s: str) -> float | None:
    """A float for a plain numeric answer: 1000, 1,000, -2.5, 3/4, \\frac{3}{4}, -\\frac{1}{2}."""
    t = normalize_answer(s)
    if _THOUSANDS.match(t):
        t = t.replace(",", "")
    try:
        return float(t)
    except ValueError:
        pass
    m = re.fullmatch(r"(-?)\\frac\{(-?\d+(?:\.\d+)?)\}\{(-?\d+(?:\.\d+)?)\}", t)
    if m:
        num, den = float(m.group(2)), float(m.group(3))
        if den == 0:
            return None
        return (-1 if m.group(1) else 1) * num / den
    try:
        return float(Fraction(t)) if "/" in t else None
    except (ValueError, ZeroDivisionError):
        return None


def _symbolic_equal(pred: str, gold: str) -> bool:
    """math-verify, then sympy ``simplify(a - b) == 0``; every failure means "not equal"."""
    try:
        from math_verify import parse, verify

        gold_parsed = parse(f"${gold}$", parsing_timeout=None)  # type: ignore[arg-type]
        pred_parsed = parse(f"${pred}$", parsing_timeout=None)  # type: ignore[arg-type]
        if gold_parsed and pred_parsed and verify(gold_parsed, pred_parsed, timeout_seconds=None):
            return True
    except Exception:  # noqa: BLE001 - a parser failure only means "not shown equal"
        pass
    try:
        import sympy
        from sympy.parsing.sympy_parser import (convert_xor, implicit_multiplication_application,
                                                parse_expr, standard_transformations)

        transforms = standard_transformations + (implicit_multiplication_application, convert_xor)
        a = parse_expr(pred.replace("{", "(").replace("}", ")"), transformations=transforms, evaluate=True)
        b = parse_expr(gold.replace("{", "(").replace("}", ")"), transformations=transforms, evaluate=True)
        return bool(sympy.simplify(a - b) == 0)
    except Exception:  # noqa: BLE001
        return False


def answers_equivalent(pred: str | None, gold: str | None, rel_tol: float = 1e-4) -> bool:
    """Whether two final answers mean the same thing (see the module docstring)."""
    if pred is None or gold is None:
        return False
    a, b = normalize_answer(pred), normalize_answer(gold)
    if not a or not b:
        return False
    if a == b:
        return True
    x, y = to_number(pred), to_number(gold)
    if x is not None and y is not None:
        return math.isclose(x, y, rel_tol=rel_tol, abs_tol=1e-9)
    if len(pred) > SYMBOLIC_MAX_CHARS or len(gold) > SYMBOLIC_MAX_CHARS:
        return False
    return _symbolic_equal(a, b)


def gold_reward(completion: str | None, gold: str | None, *, format_reward: bool = False) -> float:
    """1.0 if the last boxed answer of ``completion`` matches ``gold``; 0.0 without a boxed
    answer; otherwise 0.2 when ``format_reward`` is on, else 0.0."""
    boxed = extract_boxed(completion)
    if boxed is None:
        return 0.0
    if answers_equivalent(boxed, gold):
        return 1.0
    return FORMAT_REWARD if format_reward else 0.0


def needs_llm_judge(completion: str | None, gold: str | None, *, llm_judge_fallback: bool) -> bool:
    """True when an LLM equivalence judge should have the last word: the fallback is on, the
    completion has a boxed answer, and the rule-based check did not find it equivalent."""
    if not llm_judge_fallback:
        return False
    boxed = extract_boxed(completion)
    return boxed is not None and not answers_equivalent(boxed, gold)
