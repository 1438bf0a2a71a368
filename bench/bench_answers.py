"""Answer checking measured against labels and against math-verify.

    python bench/bench_answers.py [--data-dir DIR] [--pairs N] [--no-math-verify]

Builds labelled (gold, candidate) pairs from the gold answers of MATH test, MATH500 and GSM8K
test under ``--data-dir`` (default ``RADER_DATA_DIR``): equivalent rewrites of each gold answer
(MATH conventions: ``\\dfrac``/``\\tfrac``, ``a/b``, decimals, ``\\left``/``\\right``, units,
degrees, ``\\$``, percent, ``x =``, thousands separators, reordered sets, commuted sums, ...)
labelled *equal*; near misses (±1, last digit, numerator, denominator, sign, swapped tuple,
bracket) and other problems' answers labelled *different*. Every pair is checked by the
project's checker (:mod:`rader_queue.answers`, through the same bounded process pool the MCTS
reward uses) and by math-verify (LaTeX extraction only, run in the same bounded pool), and the
table gives, per category, how often each agrees with the label. Every pair where the project
disagrees with its label is listed; pairs where only math-verify is wrong are summarised.
Executions are counted with a sentinel file that an exec payload in the candidates would create.
"""

from __future__ import annotations

import argparse
import collections
import random
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rader_queue.answers.equivalence import split_top  # noqa: E402
from rader_queue.answers.pool import AnswerChecker  # noqa: E402
from rader_queue.datasets import load_problems  # noqa: E402
from rader_queue.settings import get_settings  # noqa: E402

INT = re.compile(r"^-?\d+$")
DEC = re.compile(r"^-?\d+\.\d+$")
FRAC = re.compile(r"^(-?)\\[dt]?frac\{(-?\d+)\}\{(\d+)\}$")
TUPLE = re.compile(r"^\((-?\d+),\s*(-?\d+)\)$")
THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+$")


def math_verify_check(pred: str, gold: str) -> tuple[bool, str]:
    """math-verify's verdict (LaTeX extraction only: its expression path runs sympy's
    ``parse_expr``). Runs inside the bounded pool's worker processes."""
    from math_verify import LatexExtractionConfig, parse, verify

    config = [LatexExtractionConfig()]
    g = parse("$\\boxed{" + gold + "}$", extraction_config=config, parsing_timeout=None)
    p = parse("$\\boxed{" + pred + "}$", extraction_config=config, parsing_timeout=None)
    if not g or not p:
        return False, "not parsed"
    return bool(verify(g, p, timeout_seconds=None)), "verify"


def _fmt_dec(value: Fraction) -> str | None:
    """A finite decimal string of ``value``, if it has one."""
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    if den != 1:
        return None
    sign = "-" if value < 0 else ""
    value = abs(value)
    digits = 0
    while (value * 10 ** digits).denominator != 1:
        digits += 1
    scaled = int(value * 10 ** digits)
    text = str(scaled).rjust(digits + 1, "0")
    return sign + (text[:-digits] + "." + text[-digits:] if digits else text)


def _fmt_repeating(value: Fraction) -> str | None:
    """``0.1\\overline{6}`` for 1/6; None for a finite decimal or a period over 40 digits."""
    if _fmt_dec(value) is not None or value < 0:
        return None
    whole, rem, den = value.numerator // value.denominator, value.numerator % value.denominator, value.denominator
    digits, seen = [], {}
    while rem and rem not in seen and len(digits) < 60:
        seen[rem] = len(digits)
        rem *= 10
        digits.append(str(rem // den))
        rem %= den
    if not rem or rem not in seen or len(digits) - seen[rem] > 40:
        return None
    start = seen[rem]
    return f"{whole}.{''.join(digits[:start])}\\overline{{{''.join(digits[start:])}}}"


FULL_WIDTH = str.maketrans("0123456789", "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19")
BASE = re.compile(r"^(-?[0-9A-Z]+)_\{?(\d+)\}?$")
WORD = re.compile(r"^\\text\{([A-Za-z][A-Za-z ]*)\}$")


def _review_rewrites(g: str) -> list[tuple[str, str]]:
    """Spellings added in the issue-13 review: Unicode, repeating decimals, mixed numbers,
    scientific notation, spaced thousands, base subscripts, case of worded answers."""
    out = []
    if INT.match(g):
        n = int(g)
        out.append(("int:fullwidth", g.translate(FULL_WIDTH)))
        if n < 0:
            out.append(("int:unicode-minus", "\u2212" + g[1:]))
        if abs(n) >= 10000:
            out.append(("int:spaced-thousands", f"{n:,}".replace(",", " ")))
            out.append(("int:thin-space-thousands", f"{n:,}".replace(",", "\\,")))
        if n and n % 100 == 0:
            mantissa, exp = str(abs(n)).rstrip("0"), len(str(abs(n))) - len(str(abs(n)).rstrip("0"))
            out.append(("int:scientific", f"{'-' if n < 0 else ''}{mantissa}e{exp}"))
    m = FRAC.match(g)
    if m:
        sign, a, b = m.group(1), int(m.group(2)), int(m.group(3))
        if b:
            value = Fraction((-1 if sign else 1) * a, b)
            rep = _fmt_repeating(value)
            if rep:
                out.append(("frac:repeating-decimal", rep))
            if value > 1 and value.denominator > 1:
                whole, rest = divmod(value.numerator, value.denominator)
                out.append(("frac:mixed-number", f"{whole}\\frac{{{rest}}}{{{value.denominator}}}"))
            if sign:
                out.append(("frac:unicode-minus", "\u2212" + g[1:]))
    m = BASE.match(g)
    if m:
        out.append(("base:braces", f"{m.group(1)}_{{{m.group(2)}}}" if "{" not in g else f"{m.group(1)}_{m.group(2)}"))
    m = WORD.match(g)
    if m:
        out.append(("text:case", m.group(1).lower()))
    return out


def _review_near_misses(g: str) -> list[tuple[str, str]]:
    out = []
    m = FRAC.match(g)
    if m and int(m.group(3)):
        value = Fraction((-1 if m.group(1) else 1) * int(m.group(2)), int(m.group(3)))
        rep = _fmt_repeating(value)
        if rep:
            out.append(("frac:repeating-truncated", rep.replace("\\overline{", "").rstrip("}")))
            out.append(("frac:repeating-dropped-bar", rep.split("\\overline")[0] + "0"))
    m = BASE.match(g)
    if m:
        out.append(("base:other-base", f"{m.group(1)}_{{{int(m.group(2)) + 1}}}"))
    if INT.match(g) and len(g.lstrip("-")) >= 2 and len(g.lstrip("-")) % 3 != 1:
        out.append(("int:digits-spaced", g[:-1] + " " + g[-1]))       # "12 3" is not 123
    return out


def rewrites(gold: str, rng: random.Random) -> list[tuple[str, str]]:
    """(category, candidate) pairs that mean the same as ``gold``."""
    g = gold.strip()
    spaced = g if re.search(r"\d,(?:\\!)?\d{3}", g) else g.replace(",", ", ")   # not "1,\!000"
    out = [("identity", g), ("spacing", " " + spaced + " ")]
    if INT.match(g):
        n = int(g)
        out += [("int:x=", f"x = {n}"), ("int:.0", f"{n}.0"), ("int:units", f"{n}\\text{{ units}}"),
                ("int:dollar", f"\\${n}")]
        if abs(n) >= 1000:
            out.append(("int:thousands", f"{n:,}"))
    m = FRAC.match(g)
    if m:
        sign, a, b = m.group(1), int(m.group(2)), int(m.group(3))
        value = Fraction((-1 if sign else 1) * a, b)
        out += [("frac:dfrac", g.replace("\\frac", "\\dfrac")), ("frac:tfrac", g.replace("\\frac", "\\tfrac")),
                ("frac:slash", f"{sign}{a}/{b}"), ("frac:scaled", f"{sign}\\frac{{{2 * a}}}{{{2 * b}}}"),
                ("frac:sign-inside" if value < 0 else "frac:reduced",
                 f"\\frac{{{value.numerator}}}{{{value.denominator}}}")]
        dec = _fmt_dec(value) if b else None
        if dec:
            out.append(("frac:decimal", dec))
    if DEC.match(g):
        out += [("dec:trailing-zero", g + "0"), ("dec:fraction", _frac_of(Fraction(g)))]
    if "\\%" in g:
        out.append(("percent:dropped", g.replace("\\%", "")))
    elif INT.match(g) or DEC.match(g):
        out.append(("percent:added", g + "\\%"))
    if "^\\circ" in g:
        out.append(("degrees:dropped", g.replace("^\\circ", "")))
    elif INT.match(g):
        out.append(("degrees:added", g + "^\\circ"))
    if g.startswith(("(", "[")) and g.endswith((")", "]")) and "," in g:
        out.append(("tuple:left-right", "\\left" + g[0] + g[1:-1] + "\\right" + g[-1]))
    if "\\frac" in g and "\\dfrac" not in g:
        out.append(("latex:dfrac", g.replace("\\frac", "\\dfrac")))
    if "\\sqrt{" in g:
        short = re.sub(r"\\sqrt\{(\d)\}", r"\\sqrt\1", g)
        if short != g:
            out.append(("sqrt:no-braces", short))
    if "\\pi" in g:
        m2 = re.fullmatch(r"(\d+)\\pi", g)
        if m2:
            out.append(("pi:commuted", f"\\pi \\cdot {m2.group(1)}"))
        m3 = re.fullmatch(r"\\frac\{(\d*)\\pi\}\{(\d+)\}", g)
        if m3:
            out.append(("pi:coefficient", f"\\frac{{{m3.group(1) or 1}}}{{{m3.group(2)}}}\\pi"))
    terms = split_top(g.rstrip(". "), "+")
    if len(terms) == 2 and all(t.strip() for t in terms) and "," not in g and "=" not in g \
            and "\\pm" not in g and not split_top(terms[1], "-")[1:] and not terms[1].strip().startswith("-"):
        out.append(("sum:commuted", f"{terms[1].strip()} + {terms[0].strip()}"))
    parts = [p.strip() for p in g.split(",")]
    if len(parts) > 1 and not g.startswith(("(", "[", "\\{", "\\left")) and "\\" not in g \
            and len(set(parts)) == len(parts) and all(INT.match(p) for p in parts) \
            and not THOUSANDS.match(g.replace(" ", "")):
        shuffled = parts[:]
        while shuffled == parts:
            rng.shuffle(shuffled)
        out.append(("list:reordered", ", ".join(shuffled)))
    m = re.fullmatch(r"\\\{(.*)\\\}", g)
    if m and "," in m.group(1) and all(INT.match(p.strip()) for p in m.group(1).split(",")):
        items = [p.strip() for p in m.group(1).split(",")]
        if len(set(items)) == len(items):
            out.append(("set:reordered", "\\{" + ", ".join(reversed(items)) + "\\}"))
    if "\\begin{pmatrix}" in g:
        out.append(("matrix:spacing", g.replace("&", " & ").replace("\\\\", " \\\\ ")))
        out.append(("matrix:bmatrix", g.replace("pmatrix", "bmatrix")))
    return out + _review_rewrites(g)


def _frac_of(value: Fraction) -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def _last_digit(g: str) -> str:
    i = max(i for i, ch in enumerate(g) if ch.isdigit())
    return g[:i] + str((int(g[i]) + 1) % 10) + g[i + 1:]


def near_misses(gold: str) -> list[tuple[str, str]]:
    """(category, candidate) pairs that must *not* count as ``gold``."""
    g = gold.strip()
    out: list[tuple[str, str]] = []
    if INT.match(g):
        n = int(g)
        out += [("int:+1", str(n + 1)), ("int:-1", str(n - 1)), ("int:appended-digit", g + "0"
                                                                   if n else "10")]
        if n:
            out.append(("int:sign", str(-n)))
    if DEC.match(g):
        out += [("dec:last-digit", _last_digit(g)), ("dec:sign", g[1:] if g.startswith("-") else "-" + g)]
    m = FRAC.match(g)
    if m:
        sign, a, b = m.group(1), int(m.group(2)), int(m.group(3))
        out += [("frac:numerator+1", f"{sign}\\frac{{{a + 1}}}{{{b}}}"),
                ("frac:denominator+1", f"{sign}\\frac{{{a}}}{{{b + 1}}}"),
                ("frac:sign", f"\\frac{{{a}}}{{{b}}}" if sign else f"-\\frac{{{a}}}{{{b}}}")]
    m = TUPLE.match(g)
    if m and m.group(1) != m.group(2):
        out += [("tuple:swapped", f"({m.group(2)}, {m.group(1)})"),
                ("tuple:element+1", f"({m.group(1)}, {int(m.group(2)) + 1})")]
    if re.fullmatch(r"[(\[].*,.*[)\]]", g):
        flipped = ("[" if g[0] == "(" else "(") + g[1:]
        out.append(("interval:bracket", flipped))
    m = re.fullmatch(r"(\d+)\\pi", g)
    if m:
        out.append(("pi:coefficient+1", f"{int(m.group(1)) + 1}\\pi"))
    m = re.fullmatch(r"(\\begin\{pmatrix\})(.*?)(\\\\|&)(.*?)((?:\\\\|&).*)", g)
    if m and m.group(2).strip() != m.group(4).strip():
        out.append(("matrix:swapped-cells", m.group(1) + m.group(4) + m.group(3) + m.group(2) + m.group(5)))
    m = re.fullmatch(r"(\D*)(\d+)(.*)", g)
    if not out and m and "\\" in g:                   # any other answer: its first number + 1
        out.append(("latex:number+1", f"{m.group(1)}{int(m.group(2)) + 1}{m.group(3)}"))
    return out + _review_near_misses(g)


PAYLOADS = ["open('{f}','w').write('x')", "__import__('os').system('touch {f}')",
            "().__class__.__base__.__subclasses__()", "(lambda: open('{f}','w'))()",
            "exec(\"open('{f}','w')\")", "eval('1')", "x" * 100_000, "9^{9^{9}}", "10^{10^{10}}",
            "{" * 500 + "1" + "}" * 500]


def _same_value(a: str, b: str) -> bool:
    """Whether two *gold* answers are plainly the same (used only to skip cross-problem pairs)."""
    na, nb = a.replace(" ", ""), b.replace(" ", "")
    if na == nb:
        return True
    try:
        return Fraction(na) == Fraction(nb)
    except (ValueError, ZeroDivisionError):
        return False


def build_pairs(golds: list[tuple[str, str]], target: int, seed: int, sentinel: Path,
                per_category: int) -> list[tuple]:
    """(source, category, gold, candidate, label) tuples, at least ``target`` of them; at most
    ``per_category`` of any one category (a random sample), then other problems' answers."""
    rng = random.Random(seed)
    by_category: dict[str, list[tuple]] = collections.defaultdict(list)
    for source, gold in golds:
        for c, cand in rewrites(gold, rng):
            by_category["equal/" + c].append((source, "equal/" + c, gold, cand, True))
        for c, cand in near_misses(gold):
            by_category["different/" + c].append((source, "different/" + c, gold, cand, False))
    pairs = []
    for cat in sorted(by_category):
        items = by_category[cat]
        pairs += rng.sample(items, per_category) if len(items) > per_category else items
    answers = [g for _, g in golds]
    while len(pairs) < target:
        source, gold = rng.choice(golds)
        other = rng.choice(answers)
        if not _same_value(gold, other):
            pairs.append((source, "different/other-problem", gold, other, False))
    for payload in PAYLOADS:
        pairs.append(("payload", "different/exec-or-huge", "1", payload.replace("{f}", str(sentinel)), False))
    return pairs


def run_checker(checker: AnswerChecker, pairs: list[tuple], threads: int) -> tuple[list, float]:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        verdicts = list(pool.map(lambda p: checker.check_sync(p[3], p[2]), pairs, chunksize=64))
    return verdicts, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=None, help="dataset root (default RADER_DATA_DIR)")
    ap.add_argument("--pairs", type=int, default=20_000, help="at least this many pairs")
    ap.add_argument("--limit", type=int, default=None, help="problems per dataset (default all)")
    ap.add_argument("--workers", type=int, default=2, help="checking processes per checker")
    ap.add_argument("--timeout", type=float, default=None, help="bound per check (default setting)")
    ap.add_argument("--per-category", type=int, default=1500, help="at most this many pairs of a category")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-math-verify", action="store_true")
    args = ap.parse_args(argv)
    settings = get_settings()
    data_dir = args.data_dir or Path(settings.data_dir)
    timeout = args.timeout or settings.answer_check_timeout_s
    golds = []
    for name, split in (("MATH", "test"), ("MATH500", "test"), ("GSM8K", "test")):
        result = load_problems(name, split=split, data_dir=data_dir, limit=args.limit, skip_invalid=True)
        golds += [(name, p.gold_answer) for p in result.problems]
    sentinel = Path(tempfile.mkdtemp(prefix="rader-bench-answers-")) / "executed"
    pairs = build_pairs(golds, args.pairs, args.seed, sentinel, args.per_category)
    print(f"{len(golds)} gold answers from {data_dir}; {len(pairs)} labelled pairs; bound {timeout:g} s "
          f"per check, {args.workers} processes per checker", flush=True)

    with AnswerChecker(timeout_s=timeout, workers=args.workers) as ours:
        mine, t_mine = run_checker(ours, pairs, args.workers * 2)
        over_mine = ours.timeouts
    theirs, t_theirs, over_theirs = [None] * len(pairs), 0.0, 0
    if not args.no_math_verify:
        with AnswerChecker(timeout_s=timeout, workers=args.workers,
                           target="bench.bench_answers:math_verify_check") as mv:
            theirs, t_theirs = run_checker(mv, pairs, args.workers * 2)
            over_theirs = mv.timeouts
    executions = int(sentinel.exists())

    rows: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0, 0])
    wrong, mv_only_wrong = [], collections.defaultdict(list)
    for pair, v, w in zip(pairs, mine, theirs):
        cat = pair[1]
        row = rows[cat]
        row[0] += 1
        row[1] += v.equal == pair[4]
        if w is not None:
            row[2] += w.equal == pair[4]
            row[3] += w.equal == v.equal
        if v.equal != pair[4]:
            wrong.append((pair, v, w))
        elif w is not None and w.equal != pair[4]:
            mv_only_wrong[cat].append((pair, w))

    width = max(len(c) for c in rows) + 2
    print(f"\n{'category':<{width}}{'pairs':>7}{'ours':>9}{'math-verify':>13}{'agree':>8}")
    total = [0, 0, 0, 0]
    for cat in sorted(rows):
        n, ok, mv_ok, agree = rows[cat]
        total = [a + b for a, b in zip(total, rows[cat])]
        mv = f"{100 * mv_ok / n:12.2f}%" if not args.no_math_verify else f"{'-':>13}"
        ag = f"{100 * agree / n:7.1f}%" if not args.no_math_verify else f"{'-':>8}"
        print(f"{cat:<{width}}{n:>7}{100 * ok / n:8.2f}%{mv}{ag}")
    n, ok, mv_ok, agree = total
    mv = f"{100 * mv_ok / n:12.2f}%" if not args.no_math_verify else f"{'-':>13}"
    ag = f"{100 * agree / n:7.1f}%" if not args.no_math_verify else f"{'-':>8}"
    print(f"{'TOTAL':<{width}}{n:>7}{100 * ok / n:8.2f}%{mv}{ag}")
    print(f"\nours: {t_mine:.0f} s, {over_mine} checks over the bound; math-verify: {t_theirs:.0f} s, "
          f"{over_theirs} checks over the bound; executions: {executions}")
    print(f"\npairs where the project disagrees with its label ({len(wrong)}):")
    for (source, cat, gold, cand, label), v, w in wrong:
        mvs = "-" if w is None else str(w.equal)
        print(f"  [{cat}] gold={gold[:60]!r} candidate={cand[:60]!r} label={label} ours={v.equal} "
              f"({v.reason[:60]}) math-verify={mvs}")
    if mv_only_wrong:
        print("\npairs where only math-verify disagrees with the label, by category (first 3 each):")
        for cat, items in sorted(mv_only_wrong.items(), key=lambda kv: -len(kv[1])):
            print(f"  {cat}: {len(items)}")
            for (source, _, gold, cand, label), w in items[:3]:
                print(f"      gold={gold[:60]!r} candidate={cand[:60]!r} label={label} "
                      f"math-verify={w.equal} ({w.reason})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
