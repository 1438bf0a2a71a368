"""How a model server's exit is described to the user: the signal by name, with what to do."""

from __future__ import annotations

import signal

from rader_queue.llm.exit_status import describe_exit


def test_exit_descriptions_name_the_signal_and_the_fix():
    assert describe_exit(0) == "exit code 0"
    assert describe_exit(3) == "exit code 3"
    for code in (-signal.SIGILL, 128 + signal.SIGILL):      # Popen's and a shell's spelling
        text = describe_exit(code)
        assert text.startswith("signal SIGILL") and "scripts/setup.sh" in text
    assert "out-of-memory" in describe_exit(-signal.SIGKILL)
    assert describe_exit(None) == "still running"
