"""Saying how a child process ended, in words a user can act on (the embedded model servers)."""

from __future__ import annotations

import signal

# What a signal usually means for a model server built for this machine's CPU.
_HINTS = {
    signal.SIGILL: ("illegal instruction: the llama.cpp library was built for CPU features this "
                    "machine does not let a process use (e.g. AMX tiles in a VM); rebuild it "
                    "portably with scripts/setup.sh, which checks this and rebuilds"),
    signal.SIGKILL: "killed, most often by the kernel's out-of-memory killer",
    signal.SIGSEGV: "segmentation fault in the model server",
}


def describe_exit(returncode: int | None) -> str:
    """``exit code 3``, ``signal SIGILL (illegal instruction: …)``, or ``still running``.
    Accepts both Popen's negative signal numbers and a shell's 128+N."""
    if returncode is None:
        return "still running"
    number = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else 0
    if number <= 0:
        return f"exit code {returncode}"
    try:
        sig = signal.Signals(number)
    except ValueError:
        return f"exit code {returncode}"
    hint = _HINTS.get(sig)
    return f"signal {sig.name}" + (f" ({hint})" if hint else "")
