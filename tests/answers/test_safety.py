"""Model text is never executed: exec payloads in boxed answers have no effect and get 0."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rader_queue.mcts.reward import gold_reward

PACKAGE = Path(__file__).resolve().parents[2] / "rader_queue"

PAYLOADS = [
    "open('{f}','w').write('x')",
    "__import__('os').system('touch {f}')",
    "__import__('os').system('touch {f}') + 1",
    "().__class__.__base__.__subclasses__()[0]",
    "(lambda: open('{f}','w').write('x'))()",
    "exec(\"open('{f}','w').write('x')\")",
    "eval(\"open('{f}','w')\")",
    "getattr(__builtins__, 'open')('{f}', 'w')",
    "x.__class__.__mro__",
    "Symbol('x').__class__",
    "open('{f}','w').write('x')" * 5000,              # very long input
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_exec_payload_has_no_effect(tmp_path, checker, payload):
    sentinel = tmp_path / "executed"
    text = payload.replace("{f}", str(sentinel))
    for gold in ("1", "x", "open('%s','w').write('x')" % sentinel):     # also as a *gold* answer
        reward = gold_reward("So the answer is \\boxed{" + text + "}", gold, checker=checker)
        assert not sentinel.exists()
        if gold != text:
            assert reward == 0.0 and reward.reason
    reward = gold_reward("\\boxed{" + text + "}", "1", checker=checker)
    assert reward == 0.0 and reward.reason and "exceeded" not in reward.reason


def test_answer_code_never_calls_an_evaluator():
    """No eval/exec/parse_expr/sympify/pickle anywhere in the answer-checking code."""
    pattern = re.compile(r"\b(eval|exec|parse_expr|sympify|parse_latex_lark)\s*\(|\bpickle\b|\bS\(")
    for path in [*sorted((PACKAGE / "answers").glob("*.py")), PACKAGE / "mcts" / "reward.py"]:
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if '"""' in code or code.strip().startswith(("``", "*")):
                continue
            assert not pattern.search(code), f"{path.name}:{lineno}: {line.strip()}"


def test_third_party_warnings_do_not_reach_the_terminal(tmp_path):
    """A reward computed in a fresh process prints nothing (math-verify is not used at all)."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from rader_queue.mcts.reward import gold_reward\n"
            "assert gold_reward('\\\\boxed{\\\\frac12}', '0.5') == 1.0\n"
            "assert gold_reward('\\\\boxed{x^2+2x+1}', '(x+1)^2') == 1.0\n"
            "assert 'math_verify' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={**__import__("os").environ,
                                             "PYTHONPATH": str(PACKAGE.parent)})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
