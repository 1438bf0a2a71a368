"""Does the embedded model answer on this machine? ``python -m rader_queue.llm.embedded_smoke``
loads the embedded GGUF with llama.cpp in a child process and asks for a few tokens. Exit 0
when it answers; otherwise 1 with how the child ended (a build for the wrong CPU dies with
SIGILL on its first completion, not when it loads). ``scripts/setup.sh`` runs it after
installing, and rebuilds llama-cpp-python when it fails."""

from __future__ import annotations

import subprocess
import sys

from rader_queue.llm.exit_status import describe_exit

_CHILD = """
import sys
from llama_cpp import Llama
model = Llama(model_path=sys.argv[1], n_ctx=256, n_threads=2, verbose=False)
reply = model.create_chat_completion(
    messages=[{"role": "user", "content": "What is 2 + 3? Answer with a number."}], max_tokens=4)
print(repr(reply["choices"][0]["message"]["content"]))
"""


def check(timeout_s: float = 300.0) -> tuple[bool, str]:
    """(answered, what happened) for the embedded GGUF (``RADER_EMBEDDED_LLM_GGUF`` or the
    packaged SmolLM2)."""
    from rader_queue.llm.embedded_server import default_gguf

    gguf = default_gguf()
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(gguf)], capture_output=True,
                              text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return False, f"no answer from {gguf.name} within {timeout_s:.0f} s"
    if proc.returncode == 0:
        return True, f"{gguf.name} answered {proc.stdout.strip()}"
    return False, (f"llama.cpp on {gguf.name} ended with {describe_exit(proc.returncode)}; "
                   f"its output ends with:\n{proc.stderr[-1500:]}")


def main() -> int:
    ok, message = check()
    print(("ok: " if ok else "error: ") + message, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
