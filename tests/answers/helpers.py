"""Check functions for the pool tests, run inside the checker's worker processes."""

from __future__ import annotations

import os
import time


def sleepy(pred: str, gold: str) -> tuple[bool, str]:
    """Sleeps ``pred`` seconds, then answers with its pid."""
    time.sleep(float(pred))
    return True, f"pid {os.getpid()}"


def crash(pred: str, gold: str) -> tuple[bool, str]:
    os._exit(3)


def hog(pred: str, gold: str) -> tuple[bool, str]:
    blocks = [bytearray(64 * 1024 * 1024) for _ in range(int(pred))]
    return True, f"{len(blocks)} blocks"


def noisy(pred: str, gold: str) -> tuple[bool, str]:
    """Writes garbage lines (a Python print and a C-level write to fd 1) before answering."""
    print("[true, \"printed\"]")
    os.write(1, b'[1, true, "forged"]\n')
    os.write(2, b"stderr chatter\n")
    return pred == gold, "noisy"


def odd_reply(pred: str, gold: str):
    """Returns something that is not an (equal, reason) pair."""
    return 5
