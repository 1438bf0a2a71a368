"""A restricted LaTeX-to-SymPy parser for final answers: it builds expressions, never evaluates text.

Only a small, explicit grammar is understood (numbers, single-letter and Greek variables with
subscripts, ``+ - * / ^``, ``\\cdot``/``\\times``/``\\div``, implicit products, ``\\frac``,
``\\sqrt[n]{}``, ``\\binom``, ``|x|``, ``!``, ``\\pi``, ``e``, ``i``, ``\\infty``, trig/log
functions, floor/ceiling, groups in ``()``/``[]``/``{}``). Every node is made by calling a SymPy
constructor on already-built objects: no string ever reaches ``eval``, ``sympify`` or
``parse_expr``. Anything else raises :class:`ParseError`.

Size guards keep construction cheap: at most :data:`MAX_TOKENS` tokens, :data:`MAX_DEPTH`
nesting, :data:`MAX_DIGITS` digits per number, powers whose exact value would exceed
:data:`MAX_POWER_BITS` bits (``9^{9^{9}}``, ``10^{10^{10}}``) and factorials/binomials above
:data:`MAX_FACTORIAL` are refused. Decimals become exact rationals (``0.1`` is 1/10).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import sympy

MAX_TOKENS = 400
MAX_DEPTH = 60
MAX_DIGITS = 4_000
MAX_POWER_BITS = 20_000
MAX_SYMBOLIC_EXPONENT = 200
MAX_FACTORIAL = 3_000            # MATH has \frac{1}{2004!}; 3000! is 9,131 digits


class ParseError(ValueError):
    """The text is not in the restricted grammar (or is too large to build)."""


_TOKEN = re.compile(r"\d+(?:\.\d+)?|\.\d+|\\[a-zA-Z]+|\\[{}|]|\S")

_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta",
          "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon",
          "phi", "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma",
          "Phi", "Psi", "Omega"}
_FUNCTIONS = {"sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "sec": sympy.sec, "csc": sympy.csc,
              "cot": sympy.cot, "arcsin": sympy.asin, "arccos": sympy.acos, "arctan": sympy.atan,
              "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh, "ln": sympy.log,
              "log": sympy.log, "exp": sympy.exp}
_MULTIPLY = {"*", "\\cdot", "\\times"}
_DIVIDE = {"/", "\\div"}
_WRAPPERS = {"mathbf", "mathit", "mathrm", "boldsymbol", "vec", "overline", "bar", "hat", "mathbb",
             "operatorname", "text"}
_OPEN_CLOSE = {"(": ")", "[": "]", "{": "}", "\\{": "\\}", "\\lfloor": "\\rfloor", "\\lceil": "\\rceil"}


def tokenize(text: str) -> list[str]:
    tokens = _TOKEN.findall(text)
    if len(tokens) > MAX_TOKENS:
        raise ParseError(f"more than {MAX_TOKENS} tokens")
    return tokens


def decimal_to_rational(text: str) -> sympy.Rational:
    """``"12.50"`` -> 25/2, exactly."""
    digits = len(text) - text.count(".")
    if digits > MAX_DIGITS:
        raise ParseError(f"a number with more than {MAX_DIGITS} digits")
    if text.startswith("."):
        text = "0" + text
    whole, _, frac = text.partition(".")
    value = Fraction(int(whole or "0")) + (Fraction(int(frac), 10 ** len(frac)) if frac else 0)
    return sympy.Rational(value.numerator, value.denominator)


def _is_number(tok: str) -> bool:
    return tok[0].isdigit() or (tok[0] == "." and len(tok) > 1)


def _is_zero_or_unit(x: sympy.Expr) -> bool:
    return x in (sympy.Integer(0), sympy.Integer(1), sympy.Integer(-1))


def safe_pow(base: sympy.Expr, exp: sympy.Expr) -> sympy.Expr:
    """``base ** exp`` unless its exact value would be huge (then :class:`ParseError`)."""
    if _is_zero_or_unit(base) or not exp.is_number or exp in (sympy.Integer(1), sympy.Integer(-1)):
        return sympy.Pow(base, exp)
    size = abs(complex(exp.evalf(15)))
    if not math.isfinite(size):
        raise ParseError("an infinite exponent")
    if base.free_symbols:
        if size > MAX_SYMBOLIC_EXPONENT:
            raise ParseError(f"an exponent above {MAX_SYMBOLIC_EXPONENT} on an expression")
        return sympy.Pow(base, exp)
    if base.is_Rational:
        bits = size * (int(base.p).bit_length() + int(base.q).bit_length())
    else:
        magnitude = abs(complex(base.evalf(15)))
        bits = size * max(1.0, abs(math.log2(magnitude))) if 0 < magnitude < math.inf else math.inf
    if bits > MAX_POWER_BITS:
        raise ParseError(f"a power larger than 2^{MAX_POWER_BITS}")
    return sympy.Pow(base, exp)


def _integer_arg(x: sympy.Expr, what: str) -> sympy.Expr:
    if x.is_Integer and abs(x) > MAX_FACTORIAL:
        raise ParseError(f"a {what} of a number above {MAX_FACTORIAL}")
    if x.is_number and not x.is_Integer:
        raise ParseError(f"a {what} of a non-integer")
    return x


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.depth = 0

    # ---------------------------------------------------------------- helpers
    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise ParseError("unexpected end")
        self.pos += 1
        return tok

    def expect(self, tok: str) -> None:
        got = self.take()
        if got != tok:
            raise ParseError(f"expected {tok!r}, found {got!r}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError(f"nesting deeper than {MAX_DEPTH}")

    # ---------------------------------------------------------------- grammar
    def parse(self) -> sympy.Expr:
        if not self.tokens:
            raise ParseError("empty")
        value = self.expr()
        if self.peek() is not None:
            raise ParseError(f"unexpected {self.peek()!r}")
        return value

    def expr(self) -> sympy.Expr:
        self.enter()
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            rhs = self.term()
            value = sympy.Add(value, rhs) if op == "+" else sympy.Add(value, sympy.Mul(-1, rhs))
        self.depth -= 1
        return value

    def term(self) -> sympy.Expr:
        value = self.unary()
        while True:
            tok = self.peek()
            if tok in _MULTIPLY:
                self.take()
                value = sympy.Mul(value, self.unary())
            elif tok in _DIVIDE:
                self.take()
                den = self.unary()
                if den == 0:
                    raise ParseError("division by zero")
                value = sympy.Mul(value, safe_pow(den, sympy.Integer(-1)))
            elif tok is not None and self.starts_atom(tok):
                if _is_number(tok) and self.pos and _is_number(self.tokens[self.pos - 1]):
                    raise ParseError("two numbers side by side")       # "1 2", "1.2.3"
                value = sympy.Mul(value, self.power())
            else:
                return value

    def starts_atom(self, tok: str) -> bool:
        if tok[0].isdigit() or (tok[0] == "." and len(tok) > 1) or tok.isalpha() or tok in ("(", "[", "\\{", "\\lfloor", "\\lceil"):
            return True
        return tok.startswith("\\") and tok[1:] in (_GREEK | set(_FUNCTIONS) | _WRAPPERS |
                                                     {"frac", "sqrt", "pi", "infty", "binom"})

    def unary(self) -> sympy.Expr:
        tok = self.peek()
        if tok in ("-", "+"):
            self.take()
            self.enter()
            value = self.unary()
            self.depth -= 1
            return sympy.Mul(-1, value) if tok == "-" else value
        return self.power()

    def power(self) -> sympy.Expr:
        base = self.postfix()
        if self.peek() == "^":
            self.take()
            self.enter()
            exponent = self.argument(signed=True)
            self.depth -= 1
            return safe_pow(base, exponent)
        return base

    def postfix(self) -> sympy.Expr:
        value = self.primary()
        while self.peek() in ("!", "°"):
            if self.take() == "°":                         # degrees inside sin/cos/tan
                value = sympy.Mul(value, sympy.pi, sympy.Rational(1, 180))
            elif self.peek() == "!":                       # 5!! is the double factorial
                self.take()
                value = sympy.factorial2(_integer_arg(value, "factorial"))
            else:
                value = sympy.factorial(_integer_arg(value, "factorial"))
        return value

    def argument(self, *, signed: bool = False) -> sympy.Expr:
        """A TeX argument: ``{...}``, or one character (``\\frac12``, ``x^23`` is ``x^2·3``)."""
        tok = self.peek()
        if tok is None:
            raise ParseError("missing argument")
        if tok == "{":
            self.take()
            value = self.expr()
            self.expect("}")
            return value
        if signed and tok == "-":
            self.take()
            return sympy.Mul(-1, self.argument())
        if tok[0].isdigit() and len(tok) > 1:
            self.tokens[self.pos] = tok[1:]
            return sympy.Integer(int(tok[0]))
        return self.primary()

    def symbol(self, name: str) -> sympy.Expr:
        if self.peek() == "_":
            self.take()
            sub = self.take()
            if sub == "{":
                parts = []
                while self.peek() not in ("}", None):
                    parts.append(self.take())
                self.expect("}")
                sub = "".join(parts)
            name = f"{name}_{sub}"
        return sympy.Symbol(name)

    def group(self, close: str) -> sympy.Expr:
        value = self.expr()
        self.expect(close)
        return value

    def primary(self) -> sympy.Expr:
        self.enter()
        try:
            return self._primary()
        finally:
            self.depth -= 1

    def _primary(self) -> sympy.Expr:
        tok = self.take()
        if tok[0].isdigit() or (tok[0] == "." and len(tok) > 1):
            return decimal_to_rational(tok)
        if tok in ("(", "[", "{", "\\{"):
            return self.group(_OPEN_CLOSE[tok])
        if tok == "|":
            value = self.expr()
            self.expect("|")
            return sympy.Abs(value)
        if tok in ("\\lfloor", "\\lceil"):
            value = self.group(_OPEN_CLOSE[tok])
            return sympy.floor(value) if tok == "\\lfloor" else sympy.ceiling(value)
        if tok.isalpha() and len(tok) == 1:
            if tok == "i":
                return sympy.I
            if tok == "e":
                return sympy.E
            return self.symbol(tok)
        if not tok.startswith("\\"):
            raise ParseError(f"unexpected {tok!r}")
        name = tok[1:]
        if name == "frac":
            num = self.argument()
            den = self.argument()
            if den == 0:
                raise ParseError("division by zero")
            return sympy.Mul(num, safe_pow(den, sympy.Integer(-1)))
        if name == "sqrt":
            index = sympy.Integer(2)
            if self.peek() == "[":
                self.take()
                index = self.group("]")
            if index == 0:
                raise ParseError("a 0th root")
            return safe_pow(self.argument(), safe_pow(index, sympy.Integer(-1)))
        if name == "binom":
            n, k = _integer_arg(self.argument(), "binomial"), _integer_arg(self.argument(), "binomial")
            return sympy.binomial(n, k)
        if name == "pi":
            return sympy.pi
        if name == "infty":
            return sympy.oo
        if name in _GREEK:
            return self.symbol(name)
        if name in _WRAPPERS:
            return self.argument()
        if name == "log" and self.peek() == "_":            # \log_b x
            self.take()
            base = self.argument()
            if base.is_number and (base.is_positive is False or base == 1):
                raise ParseError("a logarithm to a base that is not positive and not 1")
            value = sympy.log(self.power(), base)
            return value
        if name in _FUNCTIONS:
            power = None
            if self.peek() == "^":
                self.take()
                power = self.argument(signed=True)
            arg = self.power()
            value = _FUNCTIONS[name](arg)
            return safe_pow(value, power) if power is not None else value
        raise ParseError(f"unsupported command {tok}")


def parse_latex(text: str) -> sympy.Expr:
    """The SymPy expression of ``text`` (already normalised), or :class:`ParseError`."""
    return _Parser(text).parse()
